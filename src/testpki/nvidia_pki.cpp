#include "testpki/nvidia_pki.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <boost/json.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "core/hex.hpp"
#include "core/time.hpp"
#include "crypto/digest.hpp"
#include "crypto/x509.hpp"
#include "testpki/der_build.hpp"
#include "testpki/web_pki.hpp"

namespace vp::test {
namespace {

using namespace detail;  // NOLINT(google-build-using-namespace): the shared DER helpers
namespace json = boost::json;

[[noreturn]] void fail_input(std::string_view what) { throw std::runtime_error("nvidia_pki: " + std::string(what)); }

/// NVIDIA's device certificates all end at 9999-12-31T23:59:59Z (§1.3).
constexpr unix_time never_expires = utc_date(9999, 12, 31) + std::chrono::seconds{86399};

// ---------------------------------------------------------------------------------------
// Deterministic per-index values and encodings

bytes u64_be(std::uint64_t v) {
  bytes b(8);
  for (int i = 7; i >= 0; --i, v >>= 8) b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v & 0xFFu);
  return b;
}

sha256_digest derive(std::string_view tag, std::uint64_t n) { return crypto::sha256({as_bytes(tag), u64_be(n)}); }

/// A positive DER INTEGER of `size` bytes with a non-zero first byte (fixed length, like
/// NVIDIA's serials).
bytes serial_bytes(byte_view seed, std::size_t size) {
  bytes s(seed.begin(), seed.begin() + static_cast<std::ptrdiff_t>(size));
  s[0] = static_cast<std::uint8_t>((s[0] & 0x7Fu) | 0x40u);
  return s;
}

std::string base64(byte_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                                checked_int(data.size(), "base64 input"));
  check(n >= 0, "EVP_EncodeBlock");
  out.resize(static_cast<std::size_t>(n));
  return out;
}

/// RFC 7515 base64url without padding (JWS).
std::string base64url(byte_view data) {
  std::string s = base64(data);
  std::replace(s.begin(), s.end(), '+', '-');
  std::replace(s.begin(), s.end(), '/', '_');
  s.erase(std::find(s.begin(), s.end(), '='), s.end());
  return s;
}

bytes base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) fail_input("base64 length is not a multiple of 4");
  bytes out(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                checked_int(text.size(), "base64 input"));
  if (n < 0) fail_input("invalid base64");
  std::size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);  // EVP_DecodeBlock counts padding as zero bytes
  return out;
}

std::string uuid4() {
  std::array<std::uint8_t, 16> b{};
  check(RAND_bytes(b.data(), static_cast<int>(b.size())) == 1, "RAND_bytes");
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0Fu) | 0x40u);
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3Fu) | 0x80u);
  const std::string h = to_hex(b);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

void put_u24(bytes& b, std::size_t v) {
  if (v > 0xFFFFFFu) fail_input("length does not fit u24");
  for (int i = 0; i < 3; ++i) b.push_back(static_cast<std::uint8_t>((v >> (8 * i)) & 0xFFu));
}

std::uint16_t checked_u16(std::size_t n, std::string_view what) {
  if (n > 0xFFFFu) fail_input(std::string(what) + " does not fit u16");
  return static_cast<std::uint16_t>(n);
}

// ---------------------------------------------------------------------------------------
// Certificates (§1.3, §2.2)

struct name_entry {
  const char* field;
  std::string value;
};

/// Entries in the given order; OpenSSL's string table picks PrintableString for C and
/// serialNumber and UTF8String for O and CN, as in NVIDIA's certificates.
x509_name_ptr make_name(const std::vector<name_entry>& entries) {
  x509_name_ptr name{check_ptr(X509_NAME_new(), "X509_NAME_new")};
  for (const auto& e : entries) {
    check(X509_NAME_add_entry_by_txt(name.get(), e.field, MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(e.value.data()),
                                     checked_int(e.value.size(), "name size"), -1, 0) == 1,
          "X509_NAME_add_entry_by_txt");
  }
  return name;
}

/// Which extension set (and order) a certificate gets: NVIDIA's, per role (§1.3).
enum class cert_role {
  device_root,        // BC, KU(certSign, cRLSign), SKI, AKI
  device_ca,          // BC, KU(certSign, cRLSign), CRL DP, AIA OCSP, SKI, AKI
  brom,               // BC, KU(certSign), SKI, AKI
  leaf,               // KU(digitalSignature), SKI, AKI, SAN otherName, TcbInfo
  nras_ca,            // as device_root
  nras_intermediate,  // as device_ca
  nras_signer         // KU(digitalSignature, keyEncipherment, keyAgreement), EKU, SKI, AKI
};

struct cert_request {
  std::vector<name_entry> subject;
  bytes serial;  ///< big-endian, positive
  unix_time not_before{};
  unix_time not_after = never_expires;
  cert_role role = cert_role::device_ca;
  std::string crl_url;    ///< device_ca / nras_intermediate
  std::string device_id;  ///< leaf: the SAN otherName "NVIDIA:GH100:<16 hex>"
  bytes tcb_info;         ///< leaf: DER value of 2.23.133.5.4.1
};

constexpr std::string_view ocsp_url = "http://ocsp.ndis.nvidia.test";
/// The SAN otherName type NVIDIA's leaves carry (§1.3).
constexpr const char* device_id_oid = "1.3.6.1.4.1.412.274.1";
/// TCG DICE TcbInfo (§1.3): the Hopper FWID is the last 48 bytes of its DER value.
constexpr const char* tcb_info_oid = "2.23.133.5.4.1";
constexpr const char* sha384_oid = "2.16.840.1.101.3.4.2.2";

void add_conf_extension(X509* x, X509V3_CTX* ctx, int nid, const std::string& value) {
  const x509_extension_ptr ext{check_ptr(X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()), "X509V3_EXT_conf_nid")};
  check(X509_add_ext(x, ext.get(), -1) == 1, "X509_add_ext");
}

void add_device_id(X509* x, const std::string& device_id) {
  GENERAL_NAMES* names = check_ptr(GENERAL_NAMES_new(), "GENERAL_NAMES_new");
  const std::unique_ptr<GENERAL_NAMES, void (*)(GENERAL_NAMES*)> owned{names, GENERAL_NAMES_free};
  asn1_string_ptr utf8{check_ptr(ASN1_STRING_type_new(V_ASN1_UTF8STRING), "ASN1_STRING_type_new")};
  check(ASN1_STRING_set(utf8.get(), device_id.data(), checked_int(device_id.size(), "device id")) == 1,
        "ASN1_STRING_set");
  asn1_type_ptr value = new_type();
  ASN1_TYPE_set(value.get(), V_ASN1_UTF8STRING, utf8.release());
  GENERAL_NAME* gen = check_ptr(GENERAL_NAME_new(), "GENERAL_NAME_new");
  ASN1_OBJECT* oid = OBJ_txt2obj(device_id_oid, 1);
  if (oid == nullptr || GENERAL_NAME_set0_othername(gen, oid, value.get()) != 1) {
    ASN1_OBJECT_free(oid);
    GENERAL_NAME_free(gen);
    fail("GENERAL_NAME_set0_othername");
  }
  value.release();  // owned by gen
  if (sk_GENERAL_NAME_push(names, gen) <= 0) {
    GENERAL_NAME_free(gen);
    fail("sk_GENERAL_NAME_push");
  }
  check(X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1, "subject alt name");
}

void add_raw_extension(X509* x, const char* dotted_oid, byte_view der_value) {
  const crypto::asn1_object_ptr oid{check_ptr(OBJ_txt2obj(dotted_oid, 1), "OBJ_txt2obj")};
  const asn1_octet_string_ptr value = make_octets(der_value);
  const x509_extension_ptr ext{
      check_ptr(X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), 0, value.get()), "X509_EXTENSION_create_by_OBJ")};
  check(X509_add_ext(x, ext.get(), -1) == 1, "X509_add_ext raw");
}

/// The SKI per RFC 5280 §4.2.1.2 method 1 (SHA-1 of the subjectPublicKey bits), which
/// NVIDIA's certificates use.
bytes ski_of(EVP_PKEY* key) {
  const crypto::x509_ptr tmp{check_ptr(X509_new(), "X509_new")};
  check(X509_set_pubkey(tmp.get(), key) == 1, "X509_set_pubkey");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  check(X509_pubkey_digest(tmp.get(), EVP_sha1(), md, &md_len) == 1, "X509_pubkey_digest");
  return bytes(md, md + md_len);
}

/// Issues one certificate; `issuer` null means self-signed. RSA issuers sign
/// sha256WithRSA (the NRAS intermediate), EC issuers ecdsa-with-SHA384.
crypto::x509_ptr issue(const cert_request& r, EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key) {
  crypto::x509_ptr x{check_ptr(X509_new(), "X509_new")};
  check(X509_set_version(x.get(), X509_VERSION_3) == 1, "X509_set_version");
  check(X509_set_pubkey(x.get(), subject_key) == 1, "X509_set_pubkey");

  const bytes ski_value = ski_of(subject_key);
  const asn1_octet_string_ptr ski = make_octets(ski_value);
  const crypto::bignum_ptr bn{
      check_ptr(BN_bin2bn(r.serial.data(), checked_int(r.serial.size(), "serial"), nullptr), "BN_bin2bn")};
  check(BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x.get())) != nullptr, "BN_to_ASN1_INTEGER");

  const x509_name_ptr name = make_name(r.subject);
  check(X509_set_subject_name(x.get(), name.get()) == 1, "X509_set_subject_name");
  check(X509_set_issuer_name(x.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name.get()) == 1,
        "X509_set_issuer_name");
  check(X509_set1_notBefore(x.get(), make_time(r.not_before).get()) == 1, "notBefore");
  check(X509_set1_notAfter(x.get(), make_time(r.not_after).get()) == 1, "notAfter");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : x.get(), x.get(), nullptr, nullptr, 0);
  const ASN1_OCTET_STRING* issuer_ski = issuer != nullptr ? X509_get0_subject_key_id(issuer) : ski.get();
  const authority_keyid_ptr akid = make_akid(check_ptr(issuer_ski, "issuer has no SKI"));
  const auto add_ski = [&] {
    check(X509_add1_ext_i2d(x.get(), NID_subject_key_identifier, ski.get(), 0, X509V3_ADD_DEFAULT) == 1, "SKI");
  };
  const auto add_aki = [&] {
    check(X509_add1_ext_i2d(x.get(), NID_authority_key_identifier, akid.get(), 0, X509V3_ADD_DEFAULT) == 1, "AKI");
  };

  switch (r.role) {
    case cert_role::device_root:
    case cert_role::nras_ca:
    case cert_role::brom:
      add_basic_constraints(x.get(), true, std::nullopt);
      if (r.role == cert_role::brom) {
        add_key_usage(x.get(), {5});  // keyCertSign
      } else {
        add_key_usage(x.get(), {5, 6});  // keyCertSign, cRLSign
      }
      add_ski();
      add_aki();
      break;
    case cert_role::device_ca:
    case cert_role::nras_intermediate:
      add_basic_constraints(x.get(), true, std::nullopt);
      add_key_usage(x.get(), {5, 6});
      add_conf_extension(x.get(), &ctx, NID_crl_distribution_points, "URI:" + r.crl_url);
      add_conf_extension(x.get(), &ctx, NID_info_access, "OCSP;URI:" + std::string(ocsp_url));
      add_ski();
      add_aki();
      break;
    case cert_role::leaf:
      add_key_usage(x.get(), {0});  // digitalSignature
      add_ski();
      add_aki();
      add_device_id(x.get(), r.device_id);
      add_raw_extension(x.get(), tcb_info_oid, r.tcb_info);
      break;
    case cert_role::nras_signer:
      add_key_usage(x.get(), {0, 2, 4});  // digitalSignature, keyEncipherment, keyAgreement
      add_conf_extension(x.get(), &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
      add_ski();
      add_aki();
      break;
  }

  const EVP_MD* digest = EVP_PKEY_is_a(issuer_key, "RSA") ? EVP_sha256() : EVP_sha384();
  check(X509_sign(x.get(), issuer_key, digest) > 0, "X509_sign");
  return x;
}

crypto::evp_pkey_ptr generate_p384_key() { return crypto::evp_pkey_ptr{check_ptr(EVP_EC_gen("P-384"), "EVP_EC_gen")}; }

bytes spki(EVP_PKEY* key) { return to_der(key, i2d_PUBKEY, "i2d_PUBKEY"); }

/// The leaf's 2.23.133.5.4.1 value as NVIDIA writes it (observed on every NEAR leaf):
/// SEQUENCE { INTEGER 1, SubjectPublicKeyInfo of the issuing BROM key,
/// SEQUENCE { OID sha384, OCTET STRING fwid } } — so the FWID is the last 48 bytes.
bytes tcb_info_der(EVP_PKEY* brom_key, byte_view fwid) {
  const bytes digest = der_sequence{}.add(type_object(sha384_oid)).add(type_octets(fwid)).der();
  return der_sequence{}.add(type_integer(1)).add(type_sequence(spki(brom_key))).add(type_sequence(digest)).der();
}

// ---------------------------------------------------------------------------------------
// SPDM evidence (§1.2)

constexpr std::size_t request_size = 37;
constexpr std::size_t signature_size = 96;

// Opaque data types (§1.2).
constexpr std::uint16_t opaque_driver_version = 3;
constexpr std::uint16_t opaque_vbios_version = 6;

struct measurement_value {
  int block;
  const char* sha384_hex;
};

// The non-zero blocks of every NEAR H100 (§1.7, Appendix A); the other blocks are zero.
constexpr measurement_value near_measurements[] = {
    {2, "5393cd17c234358cc2488f1900f41c2e0bf52726533ee79279b7a2e505d89bedb9ac9fd7e027b1ba92a7d74f3e8bffc6"},
    {3, "c60367dc2303c25c8b988b28271c01c915628ab335700dc835a3ffea18c20c2f17e3c17c8e10e4467da929b2a6ca3dd4"},
    {4, "73bbf35822549e28ba8fb2671fb7b58f46424a0069205b3ecf1d0fa762adef90b538cc9d692eb5c050147f2f1e8214ab"},
    {5, "2612eedc5b309d437e92a83e79a1752e8d97581696ed5029748df09b15998850eba7f0cdd0efb98c4d22888b0892ae21"},
    {6, "c9e4fe668e9dc269a4657146b5e28a22347cde18a4b0e79d8146532f27ebc386f304400ea5d4bf4159b5a6916dd4564e"},
    {7, "6850b0a82e7e77c0f51e0e6732163866003390c4eb286d8dfb26a72f711a9c8bcdf402a1fd4e5d70b97708107a785efc"},
    {8, "a396b0188ae4ec41b12eb508636c67942249b68ff1006c3d825b0c06f7677ac20e53c59351db5615b232bd61b3b73848"},
    {10, "e5dfe310f1e80403d1ec6f3c2d661b7864caabc36be168a7aef3c9e60de109786271c14c80410e87ca4370fc085eaaa1"},
    {12, "8756c8e0d3f69e8bc73432ca2026a0284715261827065b1681b0b2c84d7a994706292da38b891e746bf6f626455bd0e6"},
    {13, "e9bec0ccddde61f522f51f046d85302f4df5ec488e1df29099192b1d73612f6f0f6a6e07b8993688fc131826d3a6d3d7"},
    {22, "5ce8d1408aedc53632d4f38cafed5a10a3224450c16447ef305216315e2fadec18dcf22b89ebbd8de7836667625e6773"},
    {23, "3d1986718d044b7d88892ec81d59c4aa68aa8a09ec50888d5a3adf396cc7dba643ec6d7d4588669faf5d4af75e9fff35"},
    {26, "7978c2742591e2430e15e7bbd557e6f2e3ba43f4feabbe75c7f271547d174daade8e87062cb8e751b78046b8331c9835"},
    {27, "e34e158addcad3086f8af44097a65e32f2b7aafded181c3ee9e9360bc57addd63618bb60940f712cc4d8b5f4a1a2c6f7"},
    {28, "a8d8e52125f7748b594dc1d9985411fdd9bdc4ad69a68bf1385435844089cd8f345b281866e001072bdaece92072be24"},
    {30, "480314d58900126e1e8ef34facaac0a063341b9203fb9b742427511ef9d79767c4a9395ce4d1d1dc5948e4dfbfefec07"},
    {31, "4cdeb293c79d089d7ba8ccf305baa670e885cc4cdf7c2be0c66ef44f5a4575c70c87377d9f7da6ac063f6f1f5a55a029"},
    {32, "073efc06df6c697cc28f437a742ee97a16cc25237b8ef95eb89902fc644277fd9af264091a54cd7fb1e7473582417f48"},
    {33, "ec056c2b9e3a568261d0092b8aa1dadb19377382174ba5503a3059cabd2dd1ea82bef1b905ab8a3769832092ddefd30d"},
    {34, "e28a36cdc648795fec9640d10173c9d43a0ee845546b92c20664f068427313593465c04bf282f4e5ace96cc53c6e2cb6"},
    {35, "07bbc504d3327cb76d4c4f3b3f1daf8779e40cc31d60826cb11dcc5d09dc59a83bf693f0fb9b1f0b5e58ed4cdc3a580f"},
    {36, "261148337ccf08ed5351584a95557b245326cbc5ef511ca5b22bc162b9932529fc118f0fe6939dd214545c9388158781"},
    {37, "c3cbc9cb8c6164d9f37e2116555618e3d5dd1c89dc732c550e3516a72160623fd62fdd3b1f240032388e3f1b3024aaf1"},
    {38, "fccd6efa76267f5b43fc4a7647ce843a3912f0944a9bcc907456408c368ad5e85bec4512d9d9aedebab31c3b80950627"},
    {39, "c7ea135dca389918789454861bb593095dc44f8ad39035665daa81fa02cf6fbd3a18227b6224dced70288b9fd3161cc0"},
    {40, "62b76e9988f50fcb666e5f0a1bfbd01407d4704d234c620946bdd24e1327e0991721002f8b41b947c229a6e33b9c7750"},
    {41, "823818a95f189bbcda792f5498480619931a7231c3d80aa10d79563f4a0f17e4a3ebdb14440932bf82c95550640be409"},
    {42, "4644f609f43e0a25aa91d7a3cfb13229575321549fb2a0913b1e168df0a978752d29782b04cfb7c1db194da96aafbc11"},
};

// MSRSCNT (type 12) of the real evidence: 64 u32 per-block counters.
constexpr std::uint32_t near_msrscnt[64] = {0, 1, 5, 1, 1, 1, 1, 1, 0, 1, 0, 131, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                                            2, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1,   2, 1, 1, 1, 1, 1, 1, 1, 0, 0,
                                            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   0, 0, 0, 0, 0, 0, 0, 0};

void put_tlv(bytes& b, std::uint16_t type, byte_view value) {
  put_u16(b, type);
  put_u16(b, checked_u16(value.size(), "opaque TLV"));
  put(b, value);
}

/// The 15 TLVs of NEAR's Hopper evidence in their order and sizes (§1.2: 571 bytes with
/// the default driver string).
bytes opaque_data(const gpu_spec& g, byte_view fwid) {
  bytes o;
  put_tlv(o, opaque_vbios_version, g.vbios);
  put_tlv(o, 14, bytes{0x3c, 0x05, 0x00, 0x00});           // BOARD_ID
  put_tlv(o, 15, bytes{'8', '9', '5', 0, 0, 0, 0, 0, 0});  // CHIP_SKU
  put_tlv(o, 16, bytes{0x30, 0, 0, 0, 0});                 // CHIP_SKU_MOD
  put_tlv(o, 17, bytes{'G', '5', '2', '0', 0});            // PROJECT
  put_tlv(o, 18, bytes{'0', '2', '8', '0', 0});            // PROJECT_SKU
  put_tlv(o, 19, bytes{0, 0});                             // PROJECT_SKU_MOD
  bytes driver(g.driver_version.begin(), g.driver_version.end());
  driver.push_back(0);
  put_tlv(o, opaque_driver_version, driver);
  put_tlv(o, 4, bytes{0x80, 0x01, 0, 0, 0, 0, 0, 0});  // GPU_INFO
  bytes counters;
  for (std::uint32_t c : near_msrscnt) put_u32(counters, c);
  put_tlv(o, 12, counters);                       // MSRSCNT
  put_tlv(o, 13, bytes{0x00, 0x80, 0x03, 0x00});  // CPRINFO
  put_tlv(o, 11, bytes{0x55});                    // NVDEC0_STATUS: disabled
  bytes opaque_fwid(fwid.begin(), fwid.end());
  if (g.fwid_mismatch) {
    if (opaque_fwid.empty()) fail_input("fwid_mismatch with an empty FWID");
    opaque_fwid[0] ^= 0x01;
  }
  put_tlv(o, 20, opaque_fwid);  // FWID
  put_tlv(o, 21, bytes{0xaa});  // PROTECTED_PCIE_STATUS
  bytes pdi;                    // SWITCH_PDI: 18 NVSwitch PDIs, the same on every GPU of a host
  for (std::uint64_t k = 0; k < 18; ++k) {
    const sha256_digest d = derive("vp-test NVSwitch PDI", k % 4);
    pdi.insert(pdi.end(), d.begin(), d.begin() + 8);
  }
  put_tlv(o, 22, pdi);
  return o;
}

/// Driver and VBIOS from the opaque data of an evidence (the fake NRAS reads them back).
struct evidence_facts {
  std::string driver_version;
  std::string vbios_version;
};

evidence_facts read_evidence(byte_view e) {
  const auto need = [&](std::size_t end) {
    if (end > e.size()) fail_input("evidence too short");
  };
  const auto le = [&](std::size_t off, int n) {
    need(off + static_cast<std::size_t>(n));
    std::size_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | e[off + static_cast<std::size_t>(i)];
    return v;
  };
  const std::size_t r = request_size;
  const std::size_t record_size = le(r + 5, 3);
  const std::size_t opaque_size_at = r + 8 + record_size + 32;
  const std::size_t opaque_size = le(opaque_size_at, 2);
  std::size_t off = opaque_size_at + 2;
  const std::size_t end = off + opaque_size;
  need(end);
  evidence_facts f;
  while (off + 4 <= end) {
    const std::size_t type = le(off, 2);
    const std::size_t size = le(off + 2, 2);
    off += 4;
    if (off + size > end) fail_input("opaque TLV overruns the opaque data");
    const byte_view value = e.subspan(off, size);
    if (type == opaque_driver_version) {
      std::string s(as_chars(value));
      s.erase(std::find(s.begin(), s.end(), '\0'), s.end());
      f.driver_version = s;
    } else if (type == opaque_vbios_version && size == 8) {
      std::array<std::uint8_t, 8> v{};
      std::copy(value.begin(), value.end(), v.begin());
      f.vbios_version = format_vbios_version(v);
    }
    off += size;
  }
  return f;
}

// ---------------------------------------------------------------------------------------
// Device CA sets

struct ca_set {
  crypto::evp_pkey_ptr root_key = generate_p384_key();
  crypto::evp_pkey_ptr identity_key = generate_p384_key();
  crypto::evp_pkey_ptr provisioner_key = generate_p384_key();
  crypto::x509_ptr root;
  crypto::x509_ptr identity;
  crypto::x509_ptr provisioner;

  /// Names, validity and extensions of NVIDIA's (§1.3); `tag` varies the serials.
  explicit ca_set(std::string_view tag) {
    cert_request r;
    r.subject = {{"CN", "NVIDIA Device Identity CA"}, {"O", "NVIDIA"}};
    r.serial = serial_bytes(derive(tag, 0), 16);
    r.not_before = utc_date(2021, 11, 5);
    r.role = cert_role::device_root;
    root = issue(r, root_key.get(), nullptr, root_key.get());

    r.subject = {{"CN", "NVIDIA GH100 Identity"}, {"O", "NVIDIA Corporation"}};
    r.serial = serial_bytes(derive(tag, 1), 16);
    r.not_before = utc_date(2022, 1, 12);
    r.role = cert_role::device_ca;
    r.crl_url = "http://crl.ndis.nvidia.test/crl/l1-root.crl";
    identity = issue(r, identity_key.get(), root.get(), root_key.get());

    r.subject = {{"CN", "NVIDIA GH100 Provisioner ICA 1"}, {"O", "NVIDIA Corporation"}, {"C", "US"}};
    r.serial = serial_bytes(derive(tag, 2), 16);
    r.not_before = utc_date(2022, 3, 1);
    r.crl_url = "http://crl.ndis.nvidia.test/crl/l2-gh100.crl";
    provisioner = issue(r, provisioner_key.get(), identity.get(), identity_key.get());
  }
};

/// One GPU: its BROM key and certificate (per CA set) and its alias (leaf) key.
struct device {
  crypto::evp_pkey_ptr brom_key = generate_p384_key();
  crypto::evp_pkey_ptr leaf_key = generate_p384_key();
  crypto::x509_ptr brom;          ///< issued by the real Provisioner ICA
  crypto::x509_ptr foreign_brom;  ///< the same, issued by the foreign one
  std::string device_id;          ///< "NVIDIA:GH100:<16 hex>"
  /// fwid → leaf certificate (the leaf carries the FWID, so each FWID has its own).
  std::map<bytes, crypto::x509_ptr> leaves;
  crypto::evp_pkey_ptr p256_key;  ///< gpu_spec::p256_leaf, made on first use
  crypto::x509_ptr p256_leaf;

  device(std::size_t index, const ca_set& ca, const ca_set& foreign) {
    const sha256_digest id = derive("vp-test GH100 device", index);
    device_id = "NVIDIA:GH100:" + to_hex_upper(byte_view{id.data(), 8});
    const bytes serial = serial_bytes(derive("vp-test GH100 BROM", index), 9);
    cert_request r;
    r.subject = {
        {"serialNumber", to_hex_upper(serial)}, {"C", "US"}, {"O", "NVIDIA Corporation"}, {"CN", "GH100 A01 GSP BROM"}};
    r.serial = serial;
    r.not_before = utc_date(2020, 10, 17);
    r.role = cert_role::brom;
    brom = issue(r, brom_key.get(), ca.provisioner.get(), ca.provisioner_key.get());
    foreign_brom = issue(r, brom_key.get(), foreign.provisioner.get(), foreign.provisioner_key.get());
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------
// Free helpers

const std::vector<std::array<std::uint8_t, 48>>& default_measurements() {
  static const std::vector<std::array<std::uint8_t, 48>> blocks = [] {
    std::vector<std::array<std::uint8_t, 48>> b(64);
    for (const auto& m : near_measurements) {
      const auto v = from_hex(m.sha384_hex);
      if (!v || v->size() != 48) throw std::logic_error("nvidia_pki: bad built-in measurement");
      std::copy(v->begin(), v->end(), b[static_cast<std::size_t>(m.block - 1)].begin());
    }
    return b;
  }();
  return blocks;
}

std::string format_vbios_version(const std::array<std::uint8_t, 8>& vbios) {
  // §1.2 (nvtrust format_vbios_version): v = hex(reversed bytes), then the upper half
  // followed by the last byte of the lower half, in dotted pairs.
  std::array<std::uint8_t, 8> reversed{};
  std::reverse_copy(vbios.begin(), vbios.end(), reversed.begin());
  const std::string v = to_hex_upper(reversed);
  const std::string t = v.substr(8) + v.substr(6, 2);
  std::string out;
  for (std::size_t i = 0; i < t.size(); i += 2) out += (i == 0 ? "" : ".") + t.substr(i, 2);
  return out;
}

// ---------------------------------------------------------------------------------------
// nvidia_test_pki

struct nvidia_test_pki::state {
  ca_set ca{"vp-test NVIDIA device CA"};
  ca_set foreign{"vp-test NVIDIA device CA"};  // same names and serials, other keys
  std::string root_pem = certificate_pem(ca.root.get());
  std::mutex mu;
  std::map<std::size_t, std::unique_ptr<device>> devices;  // never erased: pointers stay valid

  device& device_for(std::size_t index) {
    const std::lock_guard lock{mu};
    auto& d = devices[index];
    if (!d) d = std::make_unique<device>(index, ca, foreign);
    return *d;
  }

  /// A leaf for a P-256 key, otherwise like the device's own (gpu_spec::p256_leaf).
  X509* p256_leaf_for(device& d, const bytes& fwid) {
    const std::lock_guard lock{mu};
    if (!d.p256_leaf) {
      d.p256_key = crypto::evp_pkey_ptr{check_ptr(EVP_EC_gen("P-256"), "EVP_EC_gen")};
      d.p256_leaf = issue_leaf(d, d.p256_key.get(), fwid);
    }
    return d.p256_leaf.get();
  }

  X509* leaf_for(device& d, const bytes& fwid) {
    const std::lock_guard lock{mu};
    auto& leaf = d.leaves[fwid];
    if (!leaf) leaf = issue_leaf(d, d.leaf_key.get(), fwid);
    return leaf.get();
  }

  /// The device's leaf certificate for `key`, carrying `fwid`.
  static crypto::x509_ptr issue_leaf(const device& d, EVP_PKEY* key, const bytes& fwid) {
    // NVIDIA's leaf serial is its SKI with the first byte made positive (observed
    // 9FD988… → 5FD988…), repeated in the subject's serialNumber attribute.
    cert_request r;
    r.serial = serial_bytes(ski_of(key), 20);
    r.subject = {{"serialNumber", to_hex_upper(r.serial)},
                 {"C", "US"},
                 {"O", "NVIDIA Corporation"},
                 {"CN", "GH100 A01 GSP FMC LF"}};
    r.not_before = utc_date(2020, 10, 17);
    r.role = cert_role::leaf;
    r.device_id = d.device_id;
    r.tcb_info = tcb_info_der(d.brom_key.get(), fwid);
    return issue(r, key, d.brom.get(), d.brom_key.get());
  }
};

nvidia_test_pki::nvidia_test_pki() : s_{std::make_unique<state>()} {}
nvidia_test_pki::~nvidia_test_pki() = default;
nvidia_test_pki::nvidia_test_pki(nvidia_test_pki&&) noexcept = default;
nvidia_test_pki& nvidia_test_pki::operator=(nvidia_test_pki&&) noexcept = default;

const std::string& nvidia_test_pki::root_pem() const { return s_->root_pem; }
bytes nvidia_test_pki::root_der() const { return crypto::certificate_der(s_->ca.root.get()); }
bytes nvidia_test_pki::foreign_root_der() const { return crypto::certificate_der(s_->foreign.root.get()); }

bytes nvidia_test_pki::default_fwid(std::size_t gpu_index) {
  const sha384_digest d = crypto::sha384({as_bytes("vp-test GH100 FWID"), u64_be(gpu_index)});
  return bytes(d.begin(), d.end());
}

bytes nvidia_test_pki::evidence(const gpu_spec& g, const gpu_nonce& nonce, std::size_t gpu_index) const {
  device& d = s_->device_for(gpu_index);
  const bytes fwid = g.fwid.empty() ? default_fwid(gpu_index) : g.fwid;
  bytes e;
  // GET_MEASUREMENTS request, 37 bytes: version 1.1, code, Param1 bit0 = signature
  // requested, Param2 0xFF = all blocks, nonce, slot 0.
  put(e, bytes{0x11, 0xE0, 0x01, 0xFF});
  put(e, g.spdm_nonce.value_or(nonce));
  e.push_back(0x00);

  // MEASUREMENTS response.
  const auto& blocks = g.measurements.empty() ? default_measurements() : g.measurements;
  if (blocks.size() > 255) fail_input("more than 255 measurement blocks");
  put(e, bytes{0x11, 0x60, 0x00, 0x00, static_cast<std::uint8_t>(blocks.size())});
  bytes record;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    record.push_back(static_cast<std::uint8_t>(i + 1));  // Index
    record.push_back(0x01);                              // MeasurementSpecification: DMTF
    put_u16(record, 3 + 48);                             // MeasurementSize
    record.push_back(0x01);                              // DMTFSpecMeasurementValueType
    put_u16(record, 48);                                 // DMTFSpecMeasurementValueSize
    put(record, blocks[i]);
  }
  put_u24(e, record.size());
  put(e, record);
  bytes responder_nonce(32);
  check(RAND_bytes(responder_nonce.data(), 32) == 1, "RAND_bytes");
  put(e, responder_nonce);
  const bytes opaque = opaque_data(g, fwid);
  put_u16(e, checked_u16(opaque.size(), "opaque data"));
  put(e, opaque);

  // ECDSA P-384 / SHA-384 over everything before it, raw r‖s.
  bytes sig = sign_ecdsa_raw(d.leaf_key.get(), "SHA384", 48, e);
  if (g.corrupt_signature) flip_last_bit(sig);
  put(e, sig);
  return e;
}

std::string nvidia_test_pki::certificate_chain_pem(const gpu_spec& g, std::size_t gpu_index) const {
  device& d = s_->device_for(gpu_index);
  const bytes fwid = g.fwid.empty() ? default_fwid(gpu_index) : g.fwid;
  const ca_set& ca = g.foreign_root ? s_->foreign : s_->ca;
  X509* leaf = g.p256_leaf ? s_->p256_leaf_for(d, fwid) : s_->leaf_for(d, fwid);
  return certificate_pem(leaf) +
         certificate_pem(g.foreign_root ? d.foreign_brom.get() : d.brom.get()) + certificate_pem(ca.provisioner.get()) +
         certificate_pem(ca.identity.get()) + certificate_pem(ca.root.get());
}

bytes nvidia_test_pki::crl(crl_issuer issuer, const std::vector<bytes>& revoked, unix_time this_update,
                           unix_time next_update, bool foreign_key) const {
  const ca_set& ca = foreign_key ? s_->foreign : s_->ca;
  X509* issuer_cert = issuer == crl_issuer::root       ? ca.root.get()
                      : issuer == crl_issuer::identity ? ca.identity.get()
                                                       : ca.provisioner.get();
  EVP_PKEY* issuer_key = issuer == crl_issuer::root       ? ca.root_key.get()
                         : issuer == crl_issuer::identity ? ca.identity_key.get()
                                                          : ca.provisioner_key.get();
  crypto::x509_crl_ptr out{check_ptr(X509_CRL_new(), "X509_CRL_new")};
  check(X509_CRL_set_version(out.get(), X509_CRL_VERSION_2) == 1, "X509_CRL_set_version");
  check(X509_CRL_set_issuer_name(out.get(), X509_get_subject_name(issuer_cert)) == 1, "CRL issuer");
  const asn1_time_ptr from = make_time(this_update);
  check(X509_CRL_set1_lastUpdate(out.get(), from.get()) == 1, "CRL thisUpdate");
  check(X509_CRL_set1_nextUpdate(out.get(), make_time(next_update).get()) == 1, "CRL nextUpdate");
  for (const auto& der : revoked) {
    const crypto::x509_ptr cert = crypto::parse_der_certificate(der);
    check(cert != nullptr, "revoked certificate DER");
    x509_revoked_ptr entry{check_ptr(X509_REVOKED_new(), "X509_REVOKED_new")};
    check(X509_REVOKED_set_serialNumber(entry.get(), X509_get_serialNumber(cert.get())) == 1, "revoked serial");
    check(X509_REVOKED_set_revocationDate(entry.get(), from.get()) == 1, "revocation date");
    check(X509_CRL_add0_revoked(out.get(), entry.get()) == 1, "X509_CRL_add0_revoked");
    entry.release();  // owned by the CRL now
  }
  check(X509_CRL_sort(out.get()) == 1, "X509_CRL_sort");
  check(X509_CRL_sign(out.get(), issuer_key, EVP_sha384()) > 0, "X509_CRL_sign");
  return crypto::crl_der(out.get());
}

std::string nvidia_test_pki::leaf_serial_decimal(std::size_t gpu_index) const {
  device& d = s_->device_for(gpu_index);
  X509* leaf = s_->leaf_for(d, default_fwid(gpu_index));  // the serial depends on the key only
  const crypto::bignum_ptr bn{
      check_ptr(ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), nullptr), "ASN1_INTEGER_to_BN")};
  char* dec = check_ptr(BN_bn2dec(bn.get()), "BN_bn2dec");
  std::string out(dec);
  OPENSSL_free(dec);
  return out;
}

std::string nvidia_test_pki::payload(const payload_spec& spec) const {
  // §1.1: compact JSON, keys in NEAR's order; the SDK producer adds the entry nonce and
  // NUL padding after the chain (observed: 5 bytes).
  const std::string nonce_hex = to_hex(spec.nonce);
  json::array list;
  for (std::size_t i = 0; i < spec.gpus.size(); ++i) {
    const std::size_t index = spec.first_index + i;
    std::string chain = certificate_chain_pem(spec.gpus[i], index);
    if (spec.sdk_producer) chain.append(5, '\0');
    json::object entry;
    entry["arch"] = spec.arch;
    entry["certificate"] = base64(as_bytes(chain));
    entry["evidence"] = base64(evidence(spec.gpus[i], spec.nonce, index));
    if (spec.sdk_producer) entry["nonce"] = nonce_hex;
    list.push_back(std::move(entry));
  }
  json::object root;
  root["arch"] = spec.arch;
  root["evidence_list"] = std::move(list);
  root["nonce"] = nonce_hex;
  return json::serialize(root);
}

// ---------------------------------------------------------------------------------------
// fake_nras_signer (§2.1-2.3)

namespace {

struct nras_key {
  crypto::evp_pkey_ptr key = generate_p384_key();
  crypto::x509_ptr cert;
  std::string kid;
};

std::string kid_for(unix_time t) {
  // NRAS: "nv-eat-kid-prod-<yyyymmddhhmmssmmm>-<uuid>" (§2.2).
  std::string digits;
  for (char c : format_rfc3339_utc(t)) {
    if (c >= '0' && c <= '9') digits += c;
  }
  return "nv-eat-kid-test-" + digits.substr(0, 14) + "000-" + uuid4();
}

std::string coordinate_b64url(EVP_PKEY* key, const char* param) {
  BIGNUM* v = nullptr;
  check(EVP_PKEY_get_bn_param(key, param, &v) == 1, "EVP_PKEY_get_bn_param");
  const crypto::bignum_ptr owned{v};
  bytes b(48);
  check(BN_bn2binpad(v, b.data(), 48) == 48, "BN_bn2binpad");
  return base64url(b);
}

std::string sign_jws(const nras_key& k, const json::object& claims) {
  json::object header;
  header["kid"] = k.kid;
  header["alg"] = "ES384";
  const std::string input =
      base64url(as_bytes(json::serialize(header))) + "." + base64url(as_bytes(json::serialize(claims)));
  return input + "." + base64url(sign_ecdsa_raw(k.key.get(), "SHA384", 48, as_bytes(input)));
}

std::string leaf_serial_decimal_of(std::string_view chain_pem) {
  auto certs = crypto::parse_pem_certificates(chain_pem);  // stops at the NUL padding
  if (!certs || certs->empty()) fail_input("no certificate in the chain");
  const crypto::bignum_ptr bn{
      check_ptr(ASN1_INTEGER_to_BN(X509_get0_serialNumber(certs->front().get()), nullptr), "ASN1_INTEGER_to_BN")};
  char* dec = check_ptr(BN_bn2dec(bn.get()), "BN_bn2dec");
  std::string out(dec);
  OPENSSL_free(dec);
  return out;
}

constexpr std::string_view nras_issuer = "https://nras.attestation.nvidia.com";

}  // namespace

struct fake_nras_signer::state {
  crypto::evp_pkey_ptr ca_key = generate_p384_key();
  crypto::x509_ptr ca;
  crypto::evp_pkey_ptr intermediate_key{check_ptr(EVP_RSA_gen(2048), "EVP_RSA_gen")};
  crypto::x509_ptr intermediate;
  nras_key decoy;
  nras_key signer;

  state(unix_time not_before, unix_time not_after) {
    cert_request r;
    r.subject = {{"C", "US"}, {"O", "NVIDIA Corporation"}, {"CN", "NVIDIA Attestation Service CA 001"}};
    r.serial = serial_bytes(derive("vp-test NRAS CA", 0), 20);
    r.not_before = utc_date(2025, 1, 1);
    r.not_after = utc_date(2035, 1, 1);
    r.role = cert_role::nras_ca;
    ca = issue(r, ca_key.get(), nullptr, ca_key.get());

    r.subject = {{"CN", "NVIDIA Attestation Service GPU Intermediate 004"}, {"O", "NVIDIA Corporation"}, {"C", "US"}};
    r.serial = serial_bytes(derive("vp-test NRAS intermediate", 0), 20);
    r.not_before = utc_date(2025, 12, 8);
    r.not_after = utc_date(2029, 12, 8);
    r.role = cert_role::nras_intermediate;
    r.crl_url = "http://crl.ndis.nvidia.test/crl-nras/nv-nras-l1-root.crl";
    intermediate = issue(r, intermediate_key.get(), ca.get(), ca_key.get());

    r.subject = {{"C", "US"}, {"O", "NVIDIA Corporation"}, {"CN", "NVIDIA Attestation Service GPU GH100"}};
    r.not_before = not_before;
    r.not_after = not_after;
    r.role = cert_role::nras_signer;
    for (nras_key* k : {&decoy, &signer}) {
      r.serial = serial_bytes(crypto::sha256(as_bytes(uuid4())), 20);
      k->cert = issue(r, k->key.get(), intermediate.get(), intermediate_key.get());
      k->kid = kid_for(not_before);
    }
  }
};

fake_nras_signer::fake_nras_signer(unix_time not_before, unix_time not_after)
    : s_{std::make_unique<state>(not_before, not_after)} {}
fake_nras_signer::~fake_nras_signer() = default;
fake_nras_signer::fake_nras_signer(fake_nras_signer&&) noexcept = default;
fake_nras_signer& fake_nras_signer::operator=(fake_nras_signer&&) noexcept = default;

const std::string& fake_nras_signer::kid() const { return s_->signer.kid; }

std::string fake_nras_signer::intermediate_spki_sha256_hex() const {
  return to_hex(crypto::spki_sha256(s_->intermediate.get()));
}

std::string fake_nras_signer::jwks_json() const {
  json::array keys;
  for (const nras_key* k : {&s_->decoy, &s_->signer}) {
    json::object jwk;
    jwk["kty"] = "EC";
    jwk["crv"] = "P-384";
    jwk["kid"] = k->kid;
    jwk["x5c"] = json::array{json::string(base64(crypto::certificate_der(k->cert.get()))),
                             json::string(base64(crypto::certificate_der(s_->intermediate.get())))};
    jwk["x"] = coordinate_b64url(k->key.get(), OSSL_PKEY_PARAM_EC_PUB_X);
    jwk["y"] = coordinate_b64url(k->key.get(), OSSL_PKEY_PARAM_EC_PUB_Y);
    keys.push_back(std::move(jwk));
  }
  json::object root;
  root["keys"] = std::move(keys);
  return json::serialize(root);
}

std::string fake_nras_signer::answer(std::string_view payload_json, unix_time now, const nras_spec& spec) const {
  boost::system::error_code ec;
  const json::value doc = json::parse(payload_json, ec);
  if (ec || !doc.is_object()) fail_input("payload is not a JSON object");
  const json::object& payload = doc.as_object();
  const json::value* nonce = payload.if_contains("nonce");
  const json::value* list = payload.if_contains("evidence_list");
  if (nonce == nullptr || !nonce->is_string() || list == nullptr || !list->is_array()) {
    fail_input("payload lacks nonce or evidence_list");
  }
  const std::string eat_nonce = spec.eat_nonce ? to_hex(*spec.eat_nonce) : std::string(nonce->as_string());
  const std::int64_t iat = to_unix_seconds(now);
  const std::int64_t exp = iat + spec.lifetime_seconds;

  std::vector<std::string> tokens;
  for (const json::value& item : list->as_array()) {
    const json::object* entry = item.if_object();
    const json::value* ev = entry != nullptr ? entry->if_contains("evidence") : nullptr;
    const json::value* cert = entry != nullptr ? entry->if_contains("certificate") : nullptr;
    if (ev == nullptr || !ev->is_string() || cert == nullptr || !cert->is_string()) {
      fail_input("evidence_list entry lacks evidence or certificate");
    }
    const evidence_facts facts = read_evidence(base64_decode(ev->as_string()));
    const std::string ueid = leaf_serial_decimal_of(as_chars(base64_decode(cert->as_string())));
    // Claims 2.0 in the order of a real NRAS answer (2026-06-29 capture, §2.3).
    json::object c;
    c["x-nvidia-gpu-driver-rim-schema-validated"] = true;
    c["iss"] = nras_issuer;
    c["x-nvidia-gpu-attestation-report-cert-chain-validated"] = true;
    c["eat_nonce"] = eat_nonce;
    c["x-nvidia-gpu-vbios-rim-signature-verified"] = true;
    c["x-nvidia-gpu-vbios-rim-fetched"] = true;
    c["exp"] = exp;
    c["iat"] = iat;
    c["ueid"] = ueid;
    c["jti"] = uuid4();
    c["x-nvidia-gpu-attestation-report-nonce-match"] = true;
    c["x-nvidia-gpu-vbios-index-no-conflict"] = true;
    c["x-nvidia-gpu-vbios-rim-cert-validated"] = true;
    c["secboot"] = true;
    c["x-nvidia-gpu-attestation-report-parsed"] = true;
    c["x-nvidia-gpu-driver-rim-signature-verified"] = true;
    c["x-nvidia-gpu-arch-check"] = true;
    c["x-nvidia-attestation-warning"] = nullptr;
    c["nbf"] = iat;
    c["x-nvidia-gpu-driver-version"] = facts.driver_version;
    c["x-nvidia-gpu-driver-rim-measurements-available"] = true;
    c["x-nvidia-gpu-attestation-report-signature-verified"] = true;
    c["hwmodel"] = "GH100";
    c["dbgstat"] = "disabled";
    c["x-nvidia-gpu-driver-rim-fetched"] = true;
    c["oemid"] = "5703";
    c["x-nvidia-gpu-vbios-rim-schema-validated"] = true;
    c["measres"] = spec.measres;
    c["x-nvidia-gpu-driver-rim-cert-validated"] = true;
    c["x-nvidia-gpu-vbios-version"] = facts.vbios_version;
    c["x-nvidia-gpu-vbios-rim-measurements-available"] = true;
    tokens.push_back(sign_jws(s_->signer, c));
  }

  // submods: SHA-256 of each per-GPU compact JWS (§2.3 J6).
  json::object submods;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    submods["GPU-" + std::to_string(i)] =
        json::array{"DIGEST", json::array{"SHA-256", to_hex(crypto::sha256(as_bytes(tokens[i])))}};
  }
  json::object overall;
  overall["sub"] = "NVIDIA-PLATFORM-ATTESTATION";
  overall["x-nvidia-ver"] = "2.0";
  overall["nbf"] = iat;
  overall["iss"] = nras_issuer;
  overall["x-nvidia-overall-att-result"] = spec.overall_result;
  overall["submods"] = std::move(submods);
  overall["eat_nonce"] = eat_nonce;
  overall["exp"] = exp;
  overall["iat"] = iat;
  overall["jti"] = uuid4();

  if (spec.swap_gpu_tokens) {
    if (tokens.size() < 2) fail_input("swap_gpu_tokens needs two GPUs");
    std::swap(tokens[0], tokens[1]);
  }
  json::object detached;
  for (std::size_t i = 0; i < tokens.size(); ++i) detached["GPU-" + std::to_string(i)] = tokens[i];
  const json::array answer{json::array{"JWT", sign_jws(s_->signer, overall)}, std::move(detached)};
  return json::serialize(answer);
}

}  // namespace vp::test
