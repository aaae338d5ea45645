#include "crypto/x509.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <climits>
#include <ctime>

#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "crypto/x509_path.hpp"

namespace vp::crypto {
namespace {

bio_ptr memory_bio(std::string_view text) {
  if (text.size() > static_cast<std::size_t>(INT_MAX)) return nullptr;
  return bio_ptr{BIO_new_mem_buf(text.data(), static_cast<int>(text.size()))};
}

template <class T, class I2D>
bytes to_der(const T* obj, I2D i2d) {
  if (obj == nullptr) return {};
  const int len = i2d(obj, nullptr);
  if (len <= 0) return {};
  bytes out(static_cast<std::size_t>(len));
  unsigned char* p = out.data();
  if (i2d(obj, &p) != len) return {};
  return out;
}

std::string_view trim_ascii(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

x509_crl_ptr parse_crl_der(byte_view der) {
  if (der.size() > static_cast<std::size_t>(LONG_MAX)) return nullptr;
  const unsigned char* p = der.data();
  x509_crl_ptr crl{d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()))};
  if (!crl || p != der.data() + der.size()) return nullptr;  // trailing bytes are not a CRL
  return crl;
}

}  // namespace

std::string take_openssl_error() {
  unsigned long code = 0;
  unsigned long last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  if (last == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(last, buf, sizeof buf);
  return buf;
}

namespace {

enum class pem_step { more, done, reject };

/// Reads PEM blocks with `step` until the input ends. Stops at the first NUL byte
/// (quotes carry a NUL-terminated chain). The loop must end with PEM_R_NO_START_LINE, a
/// clean end of input; anything else is a corrupt block, and so is a step's rejection.
template <class T, class Step>
std::optional<std::vector<T>> read_pem_blocks(std::string_view pem, Step step) {
  if (const auto nul = pem.find('\0'); nul != std::string_view::npos) pem = pem.substr(0, nul);
  bio_ptr bio = memory_bio(pem);
  if (!bio) return std::nullopt;
  std::vector<T> out;
  ERR_clear_error();
  pem_step result = pem_step::more;
  while ((result = step(bio.get(), out)) == pem_step::more) {
  }
  const unsigned long err = ERR_peek_last_error();
  const bool clean_end = err == 0 || (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE);
  ERR_clear_error();
  if (result == pem_step::reject || !clean_end || out.empty()) return std::nullopt;
  return out;
}

}  // namespace

std::optional<std::vector<x509_ptr>> parse_pem_certificates(std::string_view pem) {
  return read_pem_blocks<x509_ptr>(pem, [](BIO* bio, std::vector<x509_ptr>& out) {
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    if (cert == nullptr) return pem_step::done;
    out.emplace_back(cert);
    return pem_step::more;
  });
}

std::optional<std::vector<bytes>> pem_certificate_ders(std::string_view pem) {
  return read_pem_blocks<bytes>(pem, [](BIO* bio, std::vector<bytes>& out) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio, &name, &header, &data, &len) != 1) return pem_step::done;
    // RFC 7468 §2: a CERTIFICATE block carries no RFC 1421 headers (parse_pem_certificates
    // refuses them too, PEM_get_EVP_CIPHER_INFO), so the DER alone is what the block says.
    const bool certificate = std::string_view(name) == PEM_STRING_X509 && header != nullptr && *header == '\0';
    if (certificate && len > 0) out.emplace_back(data, data + len);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    return certificate ? pem_step::more : pem_step::reject;
  });
}

x509_ptr parse_der_certificate(byte_view der) {
  if (der.size() > static_cast<std::size_t>(LONG_MAX)) return nullptr;
  const unsigned char* p = der.data();
  x509_ptr cert{d2i_X509(nullptr, &p, static_cast<long>(der.size()))};
  if (!cert || p != der.data() + der.size()) return nullptr;
  return cert;
}

x509_crl_ptr parse_crl(byte_view data) {
  if (data.empty()) return nullptr;
  if (data[0] == 0x30) return parse_crl_der(data);  // DER SEQUENCE
  const std::string_view text = trim_ascii(as_chars(data));
  if (text.starts_with("-----BEGIN")) {
    bio_ptr bio = memory_bio(text);
    if (!bio) return nullptr;
    x509_crl_ptr crl{PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)};
    ERR_clear_error();
    return crl;
  }
  const auto der = from_hex(text);
  if (!der) return nullptr;
  return parse_crl_der(*der);
}

bytes certificate_der(const X509* cert) { return to_der(cert, i2d_X509); }
bytes crl_der(const X509_CRL* crl) { return to_der(crl, i2d_X509_CRL); }

bytes spki_der(const X509* cert) {
  if (cert == nullptr) return {};
  return to_der(X509_get_X509_PUBKEY(cert), i2d_X509_PUBKEY);
}

sha256_digest spki_sha256(const X509* cert) { return sha256(spki_der(cert)); }

std::optional<unix_time> asn1_time_to_unix(const ASN1_TIME* t) {
  if (t == nullptr) return std::nullopt;
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  const time_t secs = timegm(&tm);
  if (secs == static_cast<time_t>(-1)) return std::nullopt;
  return from_unix_seconds(static_cast<std::int64_t>(secs));
}

std::optional<validity_window> certificate_validity(const X509* cert) {
  if (cert == nullptr) return std::nullopt;
  const auto from = asn1_time_to_unix(X509_get0_notBefore(cert));
  const auto until = asn1_time_to_unix(X509_get0_notAfter(cert));
  if (!from || !until) return std::nullopt;
  return validity_window{*from, *until};
}

std::optional<validity_window> crl_validity(const X509_CRL* crl) {
  if (crl == nullptr) return std::nullopt;
  const auto from = asn1_time_to_unix(X509_CRL_get0_lastUpdate(crl));
  const auto until = asn1_time_to_unix(X509_CRL_get0_nextUpdate(crl));
  if (!from || !until) return std::nullopt;
  return validity_window{*from, *until};
}

std::string common_name(const X509_NAME* name) {
  if (name == nullptr) return {};
  const int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  if (data == nullptr) return {};
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return {};
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::string name_to_string(const X509_NAME* name) {
  bio_ptr bio{BIO_new(BIO_s_mem())};
  if (!bio || name == nullptr) return {};
  if (X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string{};
}

bool crl_has_required_extensions(const X509_CRL* crl) {
  return X509_CRL_get_ext_by_NID(crl, NID_crl_number, -1) >= 0 &&
         X509_CRL_get_ext_by_NID(crl, NID_authority_key_identifier, -1) >= 0;
}

namespace {

/// The signature pass of X509_verify_cert (the "verify" step, X509_STORE_CTX_set_verify(3))
/// with signatures from the caller's signature_check (the X509_STORE_CTX's app data).
/// OpenSSL's own pass (internal_verify, x509_vfy.c), under run_verification's flags (no
/// DANE, no X509_V_FLAG_CHECK_SS_SIGNATURE, no time checks), does exactly this: from the
/// top of the built chain down, each certificate's issuer must be allowed to sign it and
/// have a decodable key, and the signature must verify; the top one is the trusted anchor.
int delegated_signature_pass(X509_STORE_CTX* ctx) {
  const auto* signed_by = static_cast<const signature_check*>(X509_STORE_CTX_get_app_data(ctx));
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx);
  const int n = chain == nullptr ? 0 : sk_X509_num(chain);
  const auto fail = [&](int depth, X509* cert, int error) {
    X509_STORE_CTX_set_error_depth(ctx, depth);
    X509_STORE_CTX_set_current_cert(ctx, cert);
    X509_STORE_CTX_set_error(ctx, error);
    return 0;
  };
  if (signed_by == nullptr || n < 2) {
    return fail(0, n > 0 ? sk_X509_value(chain, 0) : nullptr, X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE);
  }
  for (int depth = n - 2; depth >= 0; --depth) {
    X509* subject = sk_X509_value(chain, depth);
    X509* issuer = sk_X509_value(chain, depth + 1);
    if (const int err = X509_check_issued(issuer, subject); err != X509_V_OK) return fail(depth + 1, issuer, err);
    if (X509_get0_pubkey(issuer) == nullptr) {
      return fail(depth + 1, issuer, X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY);
    }
    if (!(*signed_by)(subject, issuer)) return fail(depth, subject, X509_V_ERR_CERT_SIGNATURE_FAILURE);
  }
  return 1;
}

chain_verdict run_verification(X509* leaf, std::span<X509* const> intermediates, X509* anchor,
                               std::span<X509_CRL* const> crls, unsigned long crl_flags, unsigned long extra_flags,
                               const signature_check* signed_by = nullptr) {
  x509_store_ptr store{X509_STORE_new()};
  x509_store_ctx_ptr ctx{X509_STORE_CTX_new()};
  // The stacks only borrow their elements (sk_*_free, not sk_*_pop_free).
  const auto free_certs = [](STACK_OF(X509)* s) { sk_X509_free(s); };
  const auto free_crls = [](STACK_OF(X509_CRL)* s) { sk_X509_CRL_free(s); };
  std::unique_ptr<STACK_OF(X509), decltype(free_certs)> untrusted{sk_X509_new_null(), free_certs};
  std::unique_ptr<STACK_OF(X509_CRL), decltype(free_crls)> crl_stack{sk_X509_CRL_new_null(), free_crls};
  if (!store || !ctx || !untrusted || !crl_stack || X509_STORE_add_cert(store.get(), anchor) != 1) {
    return {X509_V_ERR_OUT_OF_MEM, 0, "out of memory"};
  }
  for (X509* c : intermediates) {
    if (sk_X509_push(untrusted.get(), c) <= 0) return {X509_V_ERR_OUT_OF_MEM, 0, "out of memory"};
  }
  for (X509_CRL* c : crls) {
    if (sk_X509_CRL_push(crl_stack.get(), c) <= 0) return {X509_V_ERR_OUT_OF_MEM, 0, "out of memory"};
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1) {
    return {X509_V_ERR_UNSPECIFIED, 0, take_openssl_error()};
  }
  if (signed_by != nullptr) {
    // After init, which installs OpenSSL's own pass.
    if (X509_STORE_CTX_set_app_data(ctx.get(), const_cast<signature_check*>(signed_by)) != 1) {
      return {X509_V_ERR_OUT_OF_MEM, 0, "out of memory"};
    }
    X509_STORE_CTX_set_verify(ctx.get(), delegated_signature_pass);
  }
  // The anchor is trusted by identity (callers pin it byte for byte), so its self-signature
  // is not re-verified (no X509_V_FLAG_CHECK_SS_SIGNATURE).
  unsigned long flags = X509_V_FLAG_X509_STRICT | X509_V_FLAG_NO_CHECK_TIME | extra_flags;
  if (!crls.empty()) {
    flags |= crl_flags;
    X509_STORE_CTX_set0_crls(ctx.get(), crl_stack.get());
  }
  X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx.get()), flags);
  const int rc = X509_verify_cert(ctx.get());
  chain_verdict verdict;
  if (rc != 1) {
    verdict.error = X509_STORE_CTX_get_error(ctx.get());
    if (verdict.error == X509_V_OK) verdict.error = X509_V_ERR_UNSPECIFIED;
    verdict.depth = X509_STORE_CTX_get_error_depth(ctx.get());
    verdict.message = X509_verify_cert_error_string(verdict.error);
  }
  ERR_clear_error();
  return verdict;
}

}  // namespace

chain_verdict verify_chain(X509* leaf, std::span<X509* const> intermediates, X509* anchor,
                           std::span<X509_CRL* const> crls) {
  return run_verification(leaf, intermediates, anchor, crls, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL, 0);
}

chain_verdict verify_chain(X509* leaf, std::span<X509* const> intermediates, X509* anchor,
                           const signature_check& signed_by) {
  return run_verification(leaf, intermediates, anchor, {}, 0, 0, &signed_by);
}

chain_verdict verify_leaf(X509* leaf, X509* issuer, X509_CRL* crl) {
  X509_CRL* const crls[] = {crl};
  return run_verification(leaf, {}, issuer, crls, X509_V_FLAG_CRL_CHECK, X509_V_FLAG_PARTIAL_CHAIN);
}

}  // namespace vp::crypto
