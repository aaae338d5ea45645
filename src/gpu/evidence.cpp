#include "gpu/evidence.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <utility>

#include "core/hex.hpp"
#include "core/base64.hpp"
#include "core/byte_reader.hpp"
#include "crypto/digest.hpp"
#include "crypto/ecdsa.hpp"
#include "crypto/x509.hpp"
#include "crypto/x509_path.hpp"
#include "gpu/chain_cache.hpp"

namespace vp::gpu {

namespace json = boost::json;

std::string_view to_string(check c) noexcept {
  switch (c) {
    case check::payload: return "payload";
    case check::payload_nonce: return "payload_nonce";
    case check::arch: return "arch";
    case check::chain: return "chain";
    case check::evidence_format: return "evidence_format";
    case check::spdm_nonce: return "spdm_nonce";
    case check::signature: return "signature";
    case check::fwid: return "fwid";
    case check::versions: return "versions";
    case check::count: return "count";
  }
  return "unknown";
}

std::string failure::describe() const {
  return (gpu ? "GPU " + std::to_string(*gpu) + ": " : std::string()) + std::string(to_string(check)) + ": " +
         message;
}

void throw_exception_from_error(const failure& f, const boost::source_location&) {
  throw std::runtime_error(f.describe());
}

namespace {

/// The only architecture NEAR runs (and the only one whose SPDM and certificate layout
/// §1.2/§1.3 describe); BLACKWELL changes the FWID extension and the RIM ids.
constexpr std::string_view hopper = "HOPPER";

failure payload_error(std::string message) { return failure{std::nullopt, check::payload, std::move(message)}; }
failure gpu_error(std::size_t gpu, check c, std::string message) { return failure{gpu, c, std::move(message)}; }

/// A string member of `o` of at most `limit` bytes.
const json::string* string_field(const json::object& o, std::string_view key, std::size_t limit, std::string& why) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    why = "\"" + std::string(key) + "\" is missing or not a string";
    return nullptr;
  }
  if (v->as_string().size() > limit) {
    why = "\"" + std::string(key) + "\" is over " + std::to_string(limit) + " bytes";
    return nullptr;
  }
  return &v->as_string();
}

std::optional<sha256_digest> nonce_of(std::string_view hex) {
  // Lower or upper case hex of exactly 32 bytes (NEAR sends lowercase).
  const auto raw = from_hex(hex);
  if (!raw || raw->size() != 32) return std::nullopt;
  sha256_digest out{};
  std::copy(raw->begin(), raw->end(), out.begin());
  return out;
}


std::string at(std::size_t offset) { return " at offset " + std::to_string(offset); }

bool printable(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

/// The TCG DICE TcbInfo extension of a Hopper leaf (2.23.133.5.4.1): its DER value ends
/// with the 48-byte FWID (NVIDIA's extract_fwid reads the last 48 bytes).
std::optional<bytes> leaf_fwid(X509* leaf) {
  crypto::asn1_object_ptr oid{OBJ_txt2obj("2.23.133.5.4.1", 1)};
  if (!oid) return std::nullopt;
  const int where = X509_get_ext_by_OBJ(leaf, oid.get(), -1);
  if (where < 0 || X509_get_ext_by_OBJ(leaf, oid.get(), where) >= 0) return std::nullopt;  // absent or twice
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(X509_get_ext(leaf, where));
  if (value == nullptr || ASN1_STRING_length(value) < 48) return std::nullopt;
  const unsigned char* data = ASN1_STRING_get0_data(value);
  const auto length = static_cast<std::size_t>(ASN1_STRING_length(value));
  return bytes(data + length - 48, data + length);
}

std::string serial_decimal(X509* cert) {
  crypto::bignum_ptr bn{ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)};
  if (!bn) return {};
  char* text = BN_bn2dec(bn.get());
  if (text == nullptr) return {};
  std::string out(text);
  OPENSSL_free(text);
  return out;
}

bool is_p384(EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return false;
  char group[64] = {};
  std::size_t length = 0;
  return EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &length) == 1 &&
         std::string_view(group, length) == "secp384r1";
}

/// What L4-L6 prove about one chain, kept so that verify() and the chain cache need
/// nothing else from the certificates: every check of verify_certificate_chain except the
/// validity windows (which depend on `now`) holds for the DER this was made from.
struct verified_chain {
  std::array<crypto::validity_window, 5> windows{};
  std::array<std::string, 5> names;  ///< CNs, for the validity message
  crypto::evp_pkey_ptr leaf_key;     ///< P-384, shared read-only (EVP_PKEY is reference counted)
  std::optional<bytes> fwid;         ///< leaf_fwid() of the leaf
  std::string ueid;                  ///< serial_decimal() of the leaf
  std::string hwmodel;               ///< CN of certificate 1
  std::vector<bytes> chain_der;      ///< certificate_der() of the 5, leaf first
};
using chain_ptr = std::shared_ptr<const verified_chain>;

/// A host presents the same 8 chains on every attestation (§1.3): chains that passed
/// L4-L6 are remembered, process-wide, so that a repeat costs a base64 decode and a
/// SHA-256 instead of 5 certificate decodes, 4 signature checks and a path validation.
/// The key covers everything the checks read: each certificate's DER (length-prefixed,
/// so that a different split into blocks is a different key) and the anchor's DER. Only
/// chains that passed are inserted; validity is re-checked on every use. Bounded,
/// least recently used first out; a mutex guards it (the entries are immutable).
class chain_store {
 public:
  chain_ptr find(const sha256_digest& key) {
    std::lock_guard lock(mutex_);
    const auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  void insert(const sha256_digest& key, chain_ptr chain) {
    std::lock_guard lock(mutex_);
    if (capacity_ == 0 || index_.contains(key)) return;
    lru_.emplace_front(key, std::move(chain));
    index_.emplace(key, lru_.begin());
    trim();
  }
  std::size_t size() {
    std::lock_guard lock(mutex_);
    return index_.size();
  }
  std::size_t capacity() {
    std::lock_guard lock(mutex_);
    return capacity_;
  }
  void set_capacity(std::size_t entries) {
    std::lock_guard lock(mutex_);
    capacity_ = entries;
    trim();
  }
  void clear() {
    std::lock_guard lock(mutex_);
    index_.clear();
    lru_.clear();
  }

 private:
  void trim() {
    while (index_.size() > capacity_) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }
  std::mutex mutex_;
  std::size_t capacity_ = chain_cache::default_capacity;
  std::list<std::pair<sha256_digest, chain_ptr>> lru_;
  std::map<sha256_digest, std::list<std::pair<sha256_digest, chain_ptr>>::iterator> index_;
};

chain_store& chains() {
  // Never destroyed: verify() may run on other threads during exit, and the EVP_PKEYs
  // must not outlive OpenSSL's own cleanup.
  static chain_store* const store = new chain_store;
  return *store;
}

/// What the GPUs of one verify() call share: each distinct certificate DER is decoded
/// once (the CA certificates 2..4 are the same on every GPU, §1.3), and each distinct
/// (subject, issuer) signature is checked once, whether by the explicit order check or
/// by path validation (crypto::verify_chain with a signature_check). Results are only
/// ever reused for the same two certificate objects, so a reuse is the same computation.
class call_memo {
 public:
  explicit call_memo(const trust_anchor& anchor) {
    if (anchor.root && X509_up_ref(anchor.root.get()) == 1) certificates_.emplace(anchor.root_der, anchor.root.get());
  }
  /// The certificate `der` holds (all of it), decoded on first use; null if it does not decode.
  X509* certificate(const bytes& der) {
    auto it = certificates_.find(der);
    if (it == certificates_.end()) it = certificates_.emplace(der, crypto::parse_der_certificate(der)).first;
    return it->second.get();
  }
  bool signed_by(X509* subject, X509* issuer) {
    if (verified_.contains({subject, issuer})) return true;
    EVP_PKEY* key = X509_get0_pubkey(issuer);
    if (key == nullptr || X509_verify(subject, key) != 1) {
      ERR_clear_error();
      return false;
    }
    verified_.emplace(subject, issuer);
    return true;
  }

 private:
  std::map<bytes, crypto::x509_ptr> certificates_;
  std::set<std::pair<X509*, X509*>> verified_;  ///< only links that verified
};

/// The DER blocks of a certificate field: the C++ SDK producer pads the chain with NULs
/// from a fixed buffer (§1.1); nothing else may follow the last block.
boost::system::result<std::vector<bytes>, std::string> chain_blocks(std::string_view pem) {
  std::size_t end = pem.size();
  while (end > 0 && (pem[end - 1] == '\0' || pem[end - 1] == '\n' || pem[end - 1] == '\r' || pem[end - 1] == ' ')) {
    --end;
  }
  pem = pem.substr(0, end);
  if (pem.find('\0') != std::string_view::npos) return std::string("NUL bytes inside the certificate chain");
  auto ders = crypto::pem_certificate_ders(pem);
  if (!ders) return std::string("the certificate field is not a PEM certificate chain");
  return std::move(*ders);
}

sha256_digest chain_key(const std::vector<bytes>& ders, const trust_anchor& anchor) {
  bytes text;
  for (const bytes& der : ders) {
    for (int shift = 56; shift >= 0; shift -= 8) text.push_back(static_cast<std::uint8_t>(der.size() >> shift));
    text.insert(text.end(), der.begin(), der.end());
  }
  return crypto::sha256({byte_view(text), byte_view(anchor.root_der)});
}

/// L4-L6 on the decoded certificates (`ders` from chain_blocks): exactly 5, leaf first,
/// each issued and signed by the next, the last byte-identical to the pinned root, valid
/// at `now`, a P-384 leaf key. `memo` is the call's.
result<chain_ptr> check_certificate_chain(std::size_t gpu, const std::vector<bytes>& ders, const trust_anchor& anchor,
                                          unix_time now, call_memo& memo) {
  std::vector<X509*> chain;
  for (const bytes& der : ders) {
    X509* cert = memo.certificate(der);
    if (cert == nullptr) return gpu_error(gpu, check::chain, "the certificate field is not a PEM certificate chain");
    chain.push_back(cert);
  }
  // nvtrust's MAX_CERT_CHAIN_LENGTH for Hopper: leaf, BROM, Provisioner ICA, GH100
  // Identity, Device Identity CA.
  if (chain.size() != 5) {
    return gpu_error(gpu, check::chain, std::to_string(chain.size()) + " certificates, expected 5");
  }
  if (!equal_bytes(crypto::certificate_der(chain[4]), anchor.root_der)) {
    return gpu_error(gpu, check::chain,
                     "the chain ends at \"" + crypto::common_name(X509_get_subject_name(chain[4])) +
                         "\", not at the pinned NVIDIA Device Identity CA");
  }
  auto out = std::make_shared<verified_chain>();
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const auto window = crypto::certificate_validity(chain[i]);
    out->names[i] = crypto::common_name(X509_get_subject_name(chain[i]));
    if (!window || !window->contains(now)) {
      return gpu_error(gpu, check::chain, "certificate " + std::to_string(i) + " (\"" + out->names[i] +
                                              "\") is not valid at the appraisal time");
    }
    out->windows[i] = *window;
  }
  // The order is part of the evidence: each certificate is signed by the next one.
  for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
    if (X509_check_issued(chain[i + 1], chain[i]) != X509_V_OK || !memo.signed_by(chain[i], chain[i + 1])) {
      ERR_clear_error();
      return gpu_error(gpu, check::chain, "certificate " + std::to_string(i) + " is not issued and signed by certificate " +
                                              std::to_string(i + 1));
    }
  }
  // Path validation to the pinned root: CA and key-usage constraints of 1..4. Its
  // signature pass asks the memo, which holds each link the loop above just verified
  // (the path OpenSSL builds is normally this very order; any other link is verified).
  X509* intermediates[] = {chain[1], chain[2], chain[3]};
  const auto signed_by = [&memo](X509* subject, X509* issuer) { return memo.signed_by(subject, issuer); };
  const auto verdict = crypto::verify_chain(chain[0], intermediates, anchor.root.get(), signed_by);
  if (!verdict.ok()) {
    return gpu_error(gpu, check::chain,
                     "path validation failed at depth " + std::to_string(verdict.depth) + ": " + verdict.message);
  }
  EVP_PKEY* leaf_key = X509_get0_pubkey(chain[0]);
  if (!is_p384(leaf_key)) return gpu_error(gpu, check::chain, "the leaf key is not ECDSA P-384");
  if (EVP_PKEY_up_ref(leaf_key) != 1) return gpu_error(gpu, check::chain, "out of memory");
  out->leaf_key.reset(leaf_key);
  out->fwid = leaf_fwid(chain[0]);
  out->ueid = serial_decimal(chain[0]);
  out->hwmodel = out->names[1];
  for (X509* c : chain) out->chain_der.push_back(crypto::certificate_der(c));
  return chain_ptr(std::move(out));
}

/// L4-L6 for one GPU's certificate field, from the chain cache when this chain (with
/// this anchor) passed before: then only the validity windows are checked, against the
/// same certificates and with the same message as check_certificate_chain.
result<chain_ptr> verify_certificate_chain(std::size_t gpu, std::string_view pem, const trust_anchor& anchor,
                                           unix_time now, call_memo& memo) {
  auto ders = chain_blocks(pem);
  if (!ders) return gpu_error(gpu, check::chain, ders.error());
  const sha256_digest key = chain_key(*ders, anchor);
  if (ders->size() == 5) {
    if (chain_ptr cached = chains().find(key)) {
      for (std::size_t i = 0; i < cached->windows.size(); ++i) {
        if (!cached->windows[i].contains(now)) {
          return gpu_error(gpu, check::chain, "certificate " + std::to_string(i) + " (\"" + cached->names[i] +
                                                  "\") is not valid at the appraisal time");
        }
      }
      return cached;
    }
  }
  auto chain = check_certificate_chain(gpu, *ders, anchor, now, memo);
  if (chain) chains().insert(key, *chain);
  return chain;
}

}  // namespace

result<nvidia_payload> parse_payload(std::string_view json_text) {
  if (json_text.size() > max_payload_size) {
    return payload_error("over " + std::to_string(max_payload_size) + " bytes");
  }
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 8;
  const json::value root = json::parse(json_text, ec, {}, options);
  if (ec || !root.is_object()) return payload_error("not a JSON object");
  const auto& o = root.as_object();
  std::string why;
  nvidia_payload out;
  const auto* arch = string_field(o, "arch", 64, why);
  const auto* nonce = string_field(o, "nonce", 64, why);
  if (arch == nullptr || nonce == nullptr) return payload_error(why);
  out.arch = std::string(*arch);
  const auto n = nonce_of(*nonce);
  if (!n) return payload_error("\"nonce\" is not 64 hex digits");
  out.nonce = *n;
  if (out.arch != hopper) {
    return failure{std::nullopt, check::arch, "architecture \"" + out.arch + "\", only HOPPER is supported"};
  }
  const json::value* list = o.if_contains("evidence_list");
  if (list == nullptr || !list->is_array()) return payload_error("\"evidence_list\" is missing or not an array");
  if (list->as_array().size() > max_gpus) {
    return payload_error(std::to_string(list->as_array().size()) + " GPUs, more than " + std::to_string(max_gpus));
  }
  for (std::size_t i = 0; i < list->as_array().size(); ++i) {
    const json::value& item = list->as_array()[i];
    if (!item.is_object()) return gpu_error(i, check::payload, "the entry is not an object");
    const auto& entry = item.as_object();
    const auto* entry_arch = string_field(entry, "arch", 64, why);
    const auto* certificate = string_field(entry, "certificate", max_entry_field_size, why);
    const auto* evidence = string_field(entry, "evidence", max_entry_field_size, why);
    if (entry_arch == nullptr || certificate == nullptr || evidence == nullptr) return gpu_error(i, check::payload, why);
    payload_entry e;
    e.arch = std::string(*entry_arch);
    if (e.arch != out.arch) {
      return gpu_error(i, check::arch, "architecture \"" + e.arch + "\" differs from the payload's \"" + out.arch + "\"");
    }
    auto pem = base64_decode(*certificate);
    auto blob = base64_decode(*evidence);
    if (!pem) return gpu_error(i, check::payload, "\"certificate\" is not base64");
    if (!blob) return gpu_error(i, check::payload, "\"evidence\" is not base64");
    e.certificate_pem.assign(pem->begin(), pem->end());
    e.evidence = std::move(*blob);
    if (const json::value* entry_nonce = entry.if_contains("nonce")) {
      // The C++ SDK producer repeats the nonce per entry; it must be the payload's.
      if (!entry_nonce->is_string()) return gpu_error(i, check::payload, "\"nonce\" is not a string");
      e.nonce = nonce_of(entry_nonce->as_string());
      if (!e.nonce) return gpu_error(i, check::payload, "\"nonce\" is not 64 hex digits");
      if (*e.nonce != out.nonce) return gpu_error(i, check::payload_nonce, "the entry's nonce differs from the payload's");
    }
    out.entries.push_back(std::move(e));
  }
  return out;
}

boost::system::result<spdm_evidence, std::string> parse_spdm(byte_view evidence) {
  spdm_evidence out;
  if (evidence.size() <= spdm_request_size + spdm_signature_size) {
    return std::string("evidence of " + std::to_string(evidence.size()) + " bytes is too short");
  }
  // GET_MEASUREMENTS request (DSP0274 1.1 §10.11.1): version, code, param1 (bit 0:
  // signature requested), param2 (0xFF: all blocks), 32-byte nonce, slot.
  const byte_view request = evidence.first(spdm_request_size);
  if (request[0] != 0x11) return "request SPDM version " + to_hex(request.subspan(0, 1)) + ", expected 11";
  if (request[1] != 0xE0) return "request code " + to_hex(request.subspan(1, 1)) + ", expected e0 (GET_MEASUREMENTS)";
  if ((request[2] & 0x01) == 0) return std::string("the request did not ask for a signature");
  if (request[3] != 0xFF) return "request param2 " + to_hex(request.subspan(3, 1)) + ", expected ff (all blocks)";
  out.request_param2 = request[3];
  std::copy(request.begin() + 4, request.begin() + 36, out.request_nonce.begin());

  // MEASUREMENTS response (§10.11.2).
  byte_reader r(evidence.subspan(spdm_request_size, evidence.size() - spdm_request_size - spdm_signature_size));
  const auto where = [&] { return at(spdm_request_size + r.offset()); };
  std::uint8_t version = 0, code = 0, param1 = 0, param2 = 0, blocks = 0;
  std::uint32_t record_length = 0;
  if (!r.u8(version) || !r.u8(code) || !r.u8(param1) || !r.u8(param2) || !r.u8(blocks) || !r.u24(record_length)) {
    return std::string("truncated response header");
  }
  if (version != 0x11) return "response SPDM version " + to_hex(byte_view(&version, 1)) + ", expected 11";
  if (code != 0x60) return "response code " + to_hex(byte_view(&code, 1)) + ", expected 60 (MEASUREMENTS)";
  if (blocks == 0) return std::string("the response has no measurement block");
  byte_view record;
  if (!r.take(record_length, record)) return "measurement record length " + std::to_string(record_length) + where();
  out.measurement_record.assign(record.begin(), record.end());
  byte_reader blocks_reader(record);
  for (unsigned i = 0; i < blocks; ++i) {
    const std::size_t block_at = spdm_request_size + 8 + blocks_reader.offset();
    std::uint8_t index = 0, spec = 0, value_type = 0;
    std::uint16_t size = 0, value_size = 0;
    byte_view value;
    if (!blocks_reader.u8(index) || !blocks_reader.u8(spec) || !blocks_reader.u16(size)) {
      return "truncated measurement block " + std::to_string(i) + at(block_at);
    }
    // MeasurementSpecification bit 0: DMTF-defined measurement {type, size, value}.
    if (spec != 0x01) return "measurement block " + std::to_string(index) + " is not a DMTF measurement" + at(block_at);
    if (!blocks_reader.u8(value_type) || !blocks_reader.u16(value_size) || !blocks_reader.take(value_size, value) ||
        size != 3u + value_size) {
      return "measurement block " + std::to_string(index) + " sizes disagree" + at(block_at);
    }
    out.blocks.push_back(measurement_block{index, value_type, bytes(value.begin(), value.end())});
  }
  if (blocks_reader.remaining() != 0) {
    return std::to_string(blocks_reader.remaining()) + " bytes after the last measurement block";
  }

  byte_view responder_nonce, opaque;
  std::uint16_t opaque_length = 0;
  if (!r.take(32, responder_nonce) || !r.u16(opaque_length)) return "truncated response" + where();
  if (!r.take(opaque_length, opaque)) return "opaque data length " + std::to_string(opaque_length) + where();
  if (r.remaining() != 0) return std::to_string(r.remaining()) + " bytes between the opaque data and the signature";

  // OpaqueData: {type u16, size u16, data} TLVs; unknown types are skipped (new firmware
  // adds them), the ones read here must appear at most once.
  byte_reader tlvs(opaque);
  while (tlvs.remaining() > 0) {
    std::uint16_t type = 0, size = 0;
    byte_view data;
    if (!tlvs.u16(type) || !tlvs.u16(size) || !tlvs.take(size, data)) return std::string("truncated opaque data TLV");
    const auto once = [&](auto& slot, auto value) -> bool {
      if (slot) return false;
      slot = std::move(value);
      return true;
    };
    bool fresh = true;
    switch (static_cast<opaque_type>(type)) {
      case opaque_type::driver_version: {
        std::string text(as_chars(data));
        while (!text.empty() && text.back() == '\0') text.pop_back();
        fresh = once(out.driver_version, std::move(text));
        break;
      }
      case opaque_type::vbios_version: fresh = once(out.vbios_version, bytes(data.begin(), data.end())); break;
      case opaque_type::fwid: fresh = once(out.fwid, bytes(data.begin(), data.end())); break;
      case opaque_type::nvdec0_status:
        if (data.size() != 1) return std::string("NVDEC0_STATUS is not one byte");
        fresh = once(out.nvdec0_status, data[0]);
        break;
      default: break;
    }
    if (!fresh) return "opaque data type " + std::to_string(type) + " appears twice";
  }
  out.signed_bytes = evidence.first(evidence.size() - spdm_signature_size);
  out.signature = evidence.last(spdm_signature_size);
  return out;
}

std::optional<std::string> format_vbios_version(byte_view raw) {
  if (raw.size() != 8) return std::nullopt;
  // nvtrust format_vbios_version: hex of the reversed bytes, then its second half followed
  // by the last byte of its first half, in dotted pairs (00cf009602000000 → 96.00.CF.00.02).
  bytes reversed(raw.rbegin(), raw.rend());
  const std::string v = to_hex_upper(reversed);
  const std::string t = v.substr(8) + v.substr(6, 2);
  std::string out;
  for (std::size_t i = 0; i < t.size(); i += 2) {
    if (!out.empty()) out += '.';
    out += t.substr(i, 2);
  }
  return out;
}

result<std::vector<verified_gpu>> verify(const nvidia_payload& payload, const sha256_digest& nonce,
                                         const trust_anchor& anchor, unix_time now,
                                         std::optional<std::size_t> expected_gpus) {
  if (payload.nonce != nonce) {
    return failure{std::nullopt, check::payload_nonce,
                   "the payload's nonce " + to_hex(payload.nonce) + " is not the nonce sent (" + to_hex(nonce) + ")"};
  }
  if (expected_gpus && *expected_gpus != payload.entries.size()) {
    return failure{std::nullopt, check::count,
                   std::to_string(payload.entries.size()) + " GPUs in the evidence, the CVM is configured with " +
                       std::to_string(*expected_gpus) + " (info.vm_config.num_gpus)"};
  }
  std::vector<verified_gpu> out;
  out.reserve(payload.entries.size());
  call_memo memo(anchor);
  for (std::size_t i = 0; i < payload.entries.size(); ++i) {
    const auto& entry = payload.entries[i];
    auto chain = verify_certificate_chain(i, entry.certificate_pem, anchor, now, memo);
    if (!chain) return chain.error();
    const verified_chain& certs = **chain;
    auto spdm = parse_spdm(entry.evidence);
    if (!spdm) return gpu_error(i, check::evidence_format, spdm.error());
    if (spdm->request_nonce != nonce) {
      return gpu_error(i, check::spdm_nonce, "the SPDM request carried nonce " + to_hex(spdm->request_nonce) +
                                                 ", not the nonce sent");
    }
    if (!crypto::verify_p384_sha384_raw(certs.leaf_key.get(), spdm->signed_bytes, spdm->signature)) {
      return gpu_error(i, check::signature, "the SPDM response signature does not verify with the GPU's leaf key");
    }
    if (!certs.fwid) return gpu_error(i, check::fwid, "the leaf certificate carries no FWID (2.23.133.5.4.1)");
    if (!spdm->fwid) return gpu_error(i, check::fwid, "the evidence carries no FWID");
    if (*spdm->fwid != *certs.fwid) {
      return gpu_error(i, check::fwid, "the evidence's FWID " + to_hex(*spdm->fwid) +
                                           " is not the certificate's " + to_hex(*certs.fwid));
    }
    const auto vbios = spdm->vbios_version ? format_vbios_version(*spdm->vbios_version) : std::nullopt;
    if (!spdm->driver_version || !printable(*spdm->driver_version)) {
      return gpu_error(i, check::versions, "no printable driver version in the evidence");
    }
    if (!vbios) return gpu_error(i, check::versions, "no 8-byte VBIOS version in the evidence");

    verified_gpu g;
    g.index = i;
    g.arch = entry.arch;
    g.driver_version = *spdm->driver_version;
    g.vbios_version = *vbios;
    g.hwmodel = certs.hwmodel;
    g.ueid = certs.ueid;
    g.fwid = *spdm->fwid;
    g.measurement_record_sha256 = crypto::sha256(spdm->measurement_record);
    g.measurements = std::move(spdm->blocks);
    g.nvdec0_status = spdm->nvdec0_status;
    g.chain_der = certs.chain_der;
    out.push_back(std::move(g));
  }
  return out;
}

namespace chain_cache {

std::size_t size() { return chains().size(); }
std::size_t capacity() { return chains().capacity(); }
void set_capacity(std::size_t entries) { chains().set_capacity(entries); }
void clear() { chains().clear(); }

bool contains(std::string_view certificate_pem, const trust_anchor& anchor) {
  const auto ders = chain_blocks(certificate_pem);
  return ders && chains().find(chain_key(*ders, anchor)) != nullptr;
}

}  // namespace chain_cache

std::optional<std::size_t> configured_gpu_count(std::string_view vm_config_json) {
  boost::system::error_code ec;
  const json::value v = json::parse(vm_config_json, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const json::value* n = v.as_object().if_contains("num_gpus");
  if (n == nullptr) return std::nullopt;
  if (n->is_uint64()) return static_cast<std::size_t>(n->as_uint64());
  if (n->is_int64() && n->as_int64() >= 0) return static_cast<std::size_t>(n->as_int64());
  return std::nullopt;
}

}  // namespace vp::gpu
