#include "testpki/test_pki.hpp"
#include "testpki/web_pki.hpp"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <boost/json.hpp>

#include <algorithm>
#include <climits>
#include <ctime>
#include <stdexcept>
#include <utility>

#include "core/hex.hpp"
#include "core/time.hpp"
#include "crypto/digest.hpp"
#include "crypto/x509.hpp"
#include "testpki/der_build.hpp"

namespace vp::test {
namespace {

using namespace detail;  // NOLINT(google-build-using-namespace): the shared DER helpers

// ---------------------------------------------------------------------------------------
// The SGX extension, built with OpenSSL's ASN.1 types (docs §2.8)

constexpr std::string_view sgx_extension_oid = "1.2.840.113741.1.13.1";

/// SEQUENCE { OID, value }: the shape of every SGX extension entry.
asn1_type_ptr oid_pair(const std::string& oid, asn1_type_ptr value) {
  return type_sequence(der_sequence{}.add(type_object(oid)).add(std::move(value)).der());
}

std::string sgx_oid(std::string_view suffix) {
  return std::string(sgx_extension_oid) + "." + std::string(suffix);
}

// ---------------------------------------------------------------------------------------
// Certificates and CRLs

constexpr std::string_view root_crl_url = "https://certificates.pcs.test/TestSGXRootCA.der";

std::string pck_crl_url(tdx::pck_ca_type ca) {
  return std::string("https://api.pcs.test/sgx/certification/v4/pckcrl?ca=") +
         (ca == tdx::pck_ca_type::platform ? "platform" : "processor") + "&encoding=der";
}

x509_name_ptr make_name(const cert_spec& c) {
  x509_name_ptr name{check_ptr(X509_NAME_new(), "X509_NAME_new")};
  const auto add = [&](const char* field, const std::string& value) {
    check(X509_NAME_add_entry_by_txt(name.get(), field, MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(value.data()),
                                     checked_int(value.size(), "name size"), -1, 0) == 1,
          "X509_NAME_add_entry_by_txt");
  };
  add("CN", c.common_name);
  add("O", c.organization);
  add("L", "Santa Clara");
  add("ST", "CA");
  add("C", "US");
  return name;
}

struct cert_profile {
  bool ca = false;
  std::optional<long> path_len;
  std::string crl_url;
  std::optional<bytes> sgx_extension;  ///< DER value of the SGX extension
};


/// Issues a certificate with Intel's extension set and order: AKI, CRL DP, SKI, KU, BC,
/// [SGX]. `issuer` null means self-signed.
crypto::x509_ptr issue_certificate(const cert_spec& subject, EVP_PKEY* subject_key, X509* issuer,
                                   EVP_PKEY* issuer_key, const cert_profile& profile) {
  crypto::x509_ptr x{check_ptr(X509_new(), "X509_new")};
  check(X509_set_version(x.get(), X509_VERSION_3) == 1, "X509_set_version");
  check(ASN1_INTEGER_set_uint64(X509_get_serialNumber(x.get()), subject.serial) == 1, "serial");
  const x509_name_ptr name = make_name(subject);
  check(X509_set_subject_name(x.get(), name.get()) == 1, "X509_set_subject_name");
  check(X509_set_issuer_name(x.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name.get()) == 1,
        "X509_set_issuer_name");
  check(X509_set1_notBefore(x.get(), make_time(subject.not_before).get()) == 1, "notBefore");
  check(X509_set1_notAfter(x.get(), make_time(subject.not_after).get()) == 1, "notAfter");
  check(X509_set_pubkey(x.get(), subject_key) == 1, "X509_set_pubkey");

  // SKI per RFC 5280 §4.2.1.2 method 1 (SHA-1 of the subjectPublicKey bits).
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  check(X509_pubkey_digest(x.get(), EVP_sha1(), md, &md_len) == 1, "X509_pubkey_digest");
  const asn1_octet_string_ptr ski = make_octets(byte_view{md, md_len});

  const ASN1_OCTET_STRING* issuer_ski = issuer != nullptr ? X509_get0_subject_key_id(issuer) : ski.get();
  const authority_keyid_ptr akid = make_akid(check_ptr(issuer_ski, "issuer has no SKI"));
  check(X509_add1_ext_i2d(x.get(), NID_authority_key_identifier, akid.get(), 0, X509V3_ADD_DEFAULT) == 1,
        "authority key identifier");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : x.get(), x.get(), nullptr, nullptr, 0);
  const std::string dp = "URI:" + profile.crl_url;
  const x509_extension_ptr crl_dp{
      check_ptr(X509V3_EXT_conf_nid(nullptr, &ctx, NID_crl_distribution_points, dp.c_str()), "CRL DP")};
  check(X509_add_ext(x.get(), crl_dp.get(), -1) == 1, "X509_add_ext CRL DP");

  check(X509_add1_ext_i2d(x.get(), NID_subject_key_identifier, ski.get(), 0, X509V3_ADD_DEFAULT) == 1,
        "subject key identifier");
  if (profile.ca) {
    add_key_usage(x.get(), {5, 6});  // keyCertSign, cRLSign
  } else {
    add_key_usage(x.get(), {0, 1});  // digitalSignature, nonRepudiation
  }
  add_basic_constraints(x.get(), profile.ca, profile.path_len);

  if (profile.sgx_extension) {
    const crypto::asn1_object_ptr oid{
        check_ptr(OBJ_txt2obj(std::string(sgx_extension_oid).c_str(), 1), "OBJ_txt2obj")};
    const asn1_octet_string_ptr value = make_octets(*profile.sgx_extension);
    const x509_extension_ptr ext{
        check_ptr(X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), 0, value.get()), "SGX extension")};
    check(X509_add_ext(x.get(), ext.get(), -1) == 1, "X509_add_ext SGX");
  }

  check(X509_sign(x.get(), issuer_key, EVP_sha256()) > 0, "X509_sign");
  return x;
}

// ---------------------------------------------------------------------------------------
// Quote serialisation (docs §1: integers little-endian)

std::uint32_t checked_u32(std::size_t n, std::string_view what) {
  if (n > 0xFFFFFFFFu) throw std::runtime_error("test_pki: " + std::string(what) + " does not fit u32");
  return static_cast<std::uint32_t>(n);
}

void put_td_report(bytes& b, const tdx::td_report& td, bool td15) {
  put(b, td.tee_tcb_svn);
  put(b, td.mr_seam);
  put(b, td.mr_signer_seam);
  put(b, td.seam_attributes);
  put(b, td.td_attributes);
  put(b, td.xfam);
  put(b, td.mr_td);
  put(b, td.mr_config_id);
  put(b, td.mr_owner);
  put(b, td.mr_owner_config);
  for (const auto& r : td.rtmr) put(b, r);
  put(b, td.report_data);
  if (td15) {
    put(b, td.tee_tcb_svn_2.value_or(td.tee_tcb_svn));
    put(b, td.mr_service_td.value_or(tdx::measurement{}));
  }
}

bytes enclave_report_bytes(const tdx::enclave_report& r, const std::array<std::uint8_t, 64>& report_data) {
  bytes b;
  b.reserve(tdx::enclave_report_size);
  put(b, r.cpu_svn);
  put_u32(b, r.misc_select);
  put_zeros(b, 28);
  put(b, r.attributes);
  put(b, r.mr_enclave);
  put_zeros(b, 32);
  put(b, r.mr_signer);
  put_zeros(b, 96);
  put_u16(b, r.isv_prod_id);
  put_u16(b, r.isv_svn);
  put_zeros(b, 60);
  put(b, report_data);
  return b;
}

template <std::size_t N>
std::array<std::uint8_t, N> filled(std::uint8_t first) {
  std::array<std::uint8_t, N> a{};
  for (std::size_t i = 0; i < N; ++i) a[i] = static_cast<std::uint8_t>(first + i);
  return a;
}

// ---------------------------------------------------------------------------------------
// JSON (docs §3.2, §3.3): boost::json::object keeps insertion order, so emplacing keys in
// Intel's order and serialising yields Intel's compact layout.

std::string date_text(unix_time t) { return format_rfc3339_utc(t); }

boost::json::array components_json(const std::vector<tcb_component_spec>& components) {
  boost::json::array a;
  for (const auto& c : components) {
    boost::json::object o;
    o.emplace("svn", static_cast<std::int64_t>(c.svn));
    if (!c.category.empty()) o.emplace("category", c.category);
    if (!c.type.empty()) o.emplace("type", c.type);
    a.emplace_back(std::move(o));
  }
  return a;
}

void emplace_advisories(boost::json::object& o, const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  boost::json::array a;
  for (const auto& id : ids) a.emplace_back(id);
  o.emplace("advisoryIDs", std::move(a));
}

boost::json::object isvsvn_level_json(long isv_svn, unix_time date, const std::string& status,
                                      const std::vector<std::string>& advisories) {
  boost::json::object tcb;
  tcb.emplace("isvsvn", static_cast<std::int64_t>(isv_svn));
  boost::json::object o;
  o.emplace("tcb", std::move(tcb));
  o.emplace("tcbDate", date_text(date));
  o.emplace("tcbStatus", status);
  emplace_advisories(o, advisories);
  return o;
}

boost::json::object module_json(const tdx_module_spec& m, bool identity) {
  boost::json::object o;
  if (identity) o.emplace("id", m.id);
  o.emplace("mrsigner", to_hex_upper(m.mr_signer));
  o.emplace("attributes", to_hex_upper(m.attributes));
  o.emplace("attributesMask", to_hex_upper(m.attributes_mask));
  if (identity) {
    boost::json::array levels;
    for (const auto& l : m.levels) {
      levels.emplace_back(isvsvn_level_json(l.isv_svn, l.tcb_date, l.status, l.advisory_ids));
    }
    o.emplace("tcbLevels", std::move(levels));
  }
  return o;
}

// ---------------------------------------------------------------------------------------

struct key_set {
  crypto::evp_pkey_ptr root = generate_p256_key();
  crypto::evp_pkey_ptr platform_ca = generate_p256_key();
  crypto::evp_pkey_ptr processor_ca = generate_p256_key();
  crypto::evp_pkey_ptr tcb_signing = generate_p256_key();
  crypto::evp_pkey_ptr pck_leaf = generate_p256_key();

  EVP_PKEY* get(pki_key which) const {
    switch (which) {
      case pki_key::root: return root.get();
      case pki_key::platform_ca: return platform_ca.get();
      case pki_key::processor_ca: return processor_ca.get();
      case pki_key::tcb_signing: return tcb_signing.get();
      case pki_key::pck_leaf: return pck_leaf.get();
    }
    throw std::invalid_argument("test_pki: unknown key");
  }
};

pki_cert ca_cert(tdx::pck_ca_type ca) {
  return ca == tdx::pck_ca_type::platform ? pki_cert::platform_ca : pki_cert::processor_ca;
}

pki_key key_of(pki_cert c) {
  switch (c) {
    case pki_cert::root: return pki_key::root;
    case pki_cert::platform_ca: return pki_key::platform_ca;
    case pki_cert::processor_ca: return pki_key::processor_ca;
    case pki_cert::tcb_signing: return pki_key::tcb_signing;
  }
  throw std::invalid_argument("test_pki: unknown certificate");
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Free helpers

crypto::evp_pkey_ptr generate_p256_key() {
  return crypto::evp_pkey_ptr{check_ptr(EVP_EC_gen("P-256"), "EVP_EC_gen")};
}

std::array<std::uint8_t, 64> p256_public_xy(EVP_PKEY* key) {
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  check(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1, "EC_PUB_X");
  const crypto::bignum_ptr x_owned{x};
  check(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1, "EC_PUB_Y");
  const crypto::bignum_ptr y_owned{y};
  std::array<std::uint8_t, 64> xy{};
  check(BN_bn2binpad(x, xy.data(), 32) == 32 && BN_bn2binpad(y, xy.data() + 32, 32) == 32, "BN_bn2binpad");
  return xy;
}

bytes sign_p256_sha256_raw(EVP_PKEY* key, byte_view message) { return sign_ecdsa_raw(key, "SHA256", 32, message); }

std::vector<tcb_component_spec> sgx_components(const std::array<long, 16>& svns) {
  std::vector<tcb_component_spec> out(16);
  for (std::size_t i = 0; i < 16; ++i) out[i].svn = svns[i];
  out[0].category = "BIOS";
  out[0].type = "Early Microcode Update";
  out[1].category = "OS/VMM";
  out[1].type = "SGX Late Microcode Update";
  out[2].category = "OS/VMM";
  out[2].type = "TXT SINIT";
  out[3].category = "BIOS";
  out[4].category = "BIOS";
  out[5].category = "BIOS";
  out[7].category = "OS/VMM";
  out[7].type = "SEAMLDR ACM";
  return out;
}

std::vector<tcb_component_spec> tdx_components(const std::array<long, 16>& svns) {
  std::vector<tcb_component_spec> out(16);
  for (std::size_t i = 0; i < 16; ++i) out[i].svn = svns[i];
  out[0] = {svns[0], "OS/VMM", "TDX Module"};
  out[1] = {svns[1], "OS/VMM", "TDX Module"};
  out[2] = {svns[2], "OS/VMM", "TDX Late Microcode Update"};
  return out;
}

tcb_info_spec::tcb_info_spec() {
  const auto sgx = sgx_components({2, 2, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0});
  const auto tdx = tdx_components({5, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  levels = {
      {sgx, 11, tdx, utc_date(2024, 3, 13), "UpToDate", {}},
      {sgx, 5, tdx, utc_date(2018, 1, 4), "OutOfDate", {"INTEL-SA-00106", "INTEL-SA-00115", "INTEL-SA-00837"}},
  };
  tdx_module_spec tdx03;
  tdx03.id = "TDX_03";
  tdx03.levels = {{3, utc_date(2024, 3, 13), "UpToDate", {}}};
  tdx_module_spec tdx01;
  tdx01.id = "TDX_01";
  tdx01.levels = {{4, utc_date(2024, 3, 13), "UpToDate", {}}, {2, utc_date(2023, 8, 9), "OutOfDate", {}}};
  tdx_module_identities = std::vector<tdx_module_spec>{tdx03, tdx01};
}

tdx::td_report default_td_report() {
  tdx::td_report td;
  td.tee_tcb_svn = {6, 1, 3};
  td.mr_seam = filled<48>(0x50);
  // MRSIGNERSEAM and SEAMATTRIBUTES stay zero: Intel-signed module (docs §2.12).
  td.td_attributes = {0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00};  // SEPT_VE_DISABLE
  td.xfam = {0xe7, 0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00};
  td.mr_td = filled<48>(0x10);
  td.rtmr[0] = filled<48>(0x20);
  td.rtmr[1] = filled<48>(0x30);
  td.rtmr[2] = filled<48>(0x40);
  td.report_data = filled<64>(0x80);
  return td;
}

tdx::enclave_report default_qe_report() {
  tdx::enclave_report r;
  r.cpu_svn = {3, 3, 0x19, 0x1b, 4, 0xff, 0, 6};
  r.misc_select = 0;
  r.attributes = {0x15, 0, 0, 0, 0, 0, 0, 0, 0xe7};
  r.mr_enclave = filled<32>(0xa0);
  r.mr_signer = default_qe_mrsigner;
  r.isv_prod_id = default_qe_isv_prod_id;
  r.isv_svn = 6;
  return r;
}

tdx::quote_header quote_spec::default_header() {
  tdx::quote_header h;
  h.version = 4;
  h.attestation_key_type = tdx::attestation_key_type_ecdsa_p256;
  h.tee_type = tdx::tee_type_tdx;
  h.qe_vendor_id = tdx::intel_qe_vendor_id;
  h.user_data = filled<20>(0xc0);
  return h;
}

bytes quote_spec::default_qe_auth_data() {
  const auto a = filled<32>(0x00);
  return bytes(a.begin(), a.end());
}

quote_spec quote_spec::v5(std::uint16_t body_type) {
  quote_spec s;
  s.header.version = 5;
  s.body_type = body_type;
  return s;
}

// ---------------------------------------------------------------------------------------
// test_pki

struct test_pki::state {
  pki_spec spec;
  std::shared_ptr<const key_set> keys;
  crypto::x509_ptr root;
  crypto::x509_ptr platform_ca;
  crypto::x509_ptr processor_ca;
  crypto::x509_ptr tcb_signing;

  state(const pki_spec& s, std::shared_ptr<const key_set> k) : spec(s), keys(std::move(k)) {
    root = issue_certificate(spec.root, keys->root.get(), nullptr, keys->root.get(),
                             {true, 1, std::string(root_crl_url), std::nullopt});
    platform_ca = issue_certificate(spec.platform_ca, keys->platform_ca.get(), root.get(), keys->root.get(),
                                    {true, 0, std::string(root_crl_url), std::nullopt});
    processor_ca = issue_certificate(spec.processor_ca, keys->processor_ca.get(), root.get(), keys->root.get(),
                                     {true, 0, std::string(root_crl_url), std::nullopt});
    tcb_signing = issue_certificate(spec.tcb_signing, keys->tcb_signing.get(), root.get(), keys->root.get(),
                                    {false, std::nullopt, std::string(root_crl_url), std::nullopt});
  }
};

test_pki::test_pki(const pki_spec& spec)
    : s_{std::make_unique<state>(spec, std::make_shared<const key_set>())} {}
test_pki::test_pki(std::unique_ptr<state> s) : s_{std::move(s)} {}
test_pki::~test_pki() = default;
test_pki::test_pki(test_pki&&) noexcept = default;
test_pki& test_pki::operator=(test_pki&&) noexcept = default;

test_pki test_pki::reissue(const pki_spec& spec) const {
  return test_pki{std::make_unique<state>(spec, s_->keys)};
}

const pki_spec& test_pki::spec() const { return s_->spec; }

X509* test_pki::certificate(pki_cert which) const {
  switch (which) {
    case pki_cert::root: return s_->root.get();
    case pki_cert::platform_ca: return s_->platform_ca.get();
    case pki_cert::processor_ca: return s_->processor_ca.get();
    case pki_cert::tcb_signing: return s_->tcb_signing.get();
  }
  throw std::invalid_argument("test_pki: unknown certificate");
}

bytes test_pki::der(pki_cert which) const { return to_der(certificate(which), i2d_X509, "i2d_X509"); }
std::string test_pki::pem(pki_cert which) const { return certificate_pem(certificate(which)); }

std::string test_pki::tcb_issuer_chain_pem() const { return pem(pki_cert::tcb_signing) + root_pem(); }

std::string test_pki::pck_crl_issuer_chain_pem(tdx::pck_ca_type ca) const {
  return pem(ca_cert(ca)) + root_pem();
}

std::string test_pki::pck_chain_pem(const pck_leaf_spec& leaf) const {
  return issue_pck_leaf_pem(leaf) + pem(ca_cert(leaf.issuer)) + root_pem();
}

EVP_PKEY* test_pki::key(pki_key which) const { return s_->keys->get(which); }

std::array<std::uint8_t, 64> test_pki::public_xy(pki_key which) const { return p256_public_xy(key(which)); }

bytes test_pki::sign(pki_key which, byte_view message) const {
  return sign_p256_sha256_raw(key(which), message);
}

bytes test_pki::sgx_extension_der(const sgx_extension_spec& spec, tdx::pck_ca_type issuer) {
  if (spec.raw_value) return *spec.raw_value;

  der_sequence tcb;
  for (std::size_t i = 0; i < spec.tcb_entry_count; ++i) {
    const std::string oid = sgx_oid("2." + std::to_string(i + 1));
    if (i < 16) {
      tcb.add(oid_pair(oid, type_integer(spec.tcb_components[i])));
    } else if (i == 16) {
      tcb.add(oid_pair(oid, type_integer(spec.pce_svn)));
    } else if (i == 17) {
      tcb.add(oid_pair(oid, type_octets(spec.cpu_svn)));
    } else {
      tcb.add(oid_pair(oid, type_integer(0)));
    }
  }
  der_sequence config;
  config.add(oid_pair(sgx_oid("7.1"), type_boolean(spec.dynamic_platform)))
      .add(oid_pair(sgx_oid("7.2"), type_boolean(spec.cached_keys)))
      .add(oid_pair(sgx_oid("7.3"), type_boolean(spec.smt_enabled)));

  const bool platform = spec.platform_entries.value_or(issuer == tdx::pck_ca_type::platform);
  const auto wanted = [&](int suffix) {
    if (suffix >= 6 && !platform) return false;
    return std::find(spec.omit_entries.begin(), spec.omit_entries.end(), suffix) == spec.omit_entries.end();
  };

  der_sequence top;
  if (wanted(1)) top.add(oid_pair(sgx_oid("1"), type_octets(spec.ppid)));
  if (wanted(2)) top.add(oid_pair(sgx_oid("2"), type_sequence(tcb.der())));
  if (wanted(3)) top.add(oid_pair(sgx_oid("3"), type_octets(spec.pce_id)));
  if (wanted(4)) top.add(oid_pair(sgx_oid("4"), type_octets(spec.fmspc)));
  if (wanted(5)) top.add(oid_pair(sgx_oid("5"), type_enumerated(spec.sgx_type)));
  if (wanted(6)) top.add(oid_pair(sgx_oid("6"), type_octets(spec.platform_instance_id)));
  if (wanted(7)) top.add(oid_pair(sgx_oid("7"), type_sequence(config.der())));
  return top.der();
}

namespace {

crypto::x509_ptr issue_leaf(const test_pki& pki, const pck_leaf_spec& spec) {
  cert_profile profile{false, std::nullopt, pck_crl_url(spec.issuer), std::nullopt};
  if (!spec.sgx.omit) profile.sgx_extension = test_pki::sgx_extension_der(spec.sgx, spec.issuer);
  const pki_cert ca = ca_cert(spec.issuer);
  return issue_certificate(spec.cert, pki.key(pki_key::pck_leaf), pki.certificate(ca), pki.key(key_of(ca)),
                           profile);
}

}  // namespace

bytes test_pki::issue_pck_leaf_der(const pck_leaf_spec& spec) const {
  const crypto::x509_ptr leaf = issue_leaf(*this, spec);
  return to_der(leaf.get(), i2d_X509, "i2d_X509");
}

std::string test_pki::issue_pck_leaf_pem(const pck_leaf_spec& spec) const {
  const crypto::x509_ptr leaf = issue_leaf(*this, spec);
  return certificate_pem(leaf.get());
}

bytes test_pki::issue_crl(pki_cert issuer, const crl_spec& spec) const {
  X509* issuer_cert = certificate(issuer);
  crypto::x509_crl_ptr crl{check_ptr(X509_CRL_new(), "X509_CRL_new")};
  check(X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) == 1, "X509_CRL_set_version");
  check(X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer_cert)) == 1, "CRL issuer");
  const asn1_time_ptr this_update = make_time(spec.this_update);
  check(X509_CRL_set1_lastUpdate(crl.get(), this_update.get()) == 1, "CRL thisUpdate");
  check(X509_CRL_set1_nextUpdate(crl.get(), make_time(spec.next_update).get()) == 1, "CRL nextUpdate");

  for (const std::uint64_t serial : spec.revoked_serials) {
    x509_revoked_ptr revoked{check_ptr(X509_REVOKED_new(), "X509_REVOKED_new")};
    check(X509_REVOKED_set_serialNumber(revoked.get(), make_integer(serial).get()) == 1, "revoked serial");
    check(X509_REVOKED_set_revocationDate(revoked.get(), this_update.get()) == 1, "revocation date");
    asn1_enumerated_ptr reason{check_ptr(ASN1_ENUMERATED_new(), "ASN1_ENUMERATED_new")};
    check(ASN1_ENUMERATED_set(reason.get(), 1) == 1, "ASN1_ENUMERATED_set");  // keyCompromise
    check(X509_REVOKED_add1_ext_i2d(revoked.get(), NID_crl_reason, reason.get(), 0, X509V3_ADD_DEFAULT) == 1,
          "CRL reason");
    check(X509_CRL_add0_revoked(crl.get(), revoked.get()) == 1, "X509_CRL_add0_revoked");
    revoked.release();  // owned by the CRL now
  }

  // Intel's order: CRL Number, then Authority Key Identifier (docs §2.4).
  if (spec.crl_number_extension) {
    check(X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, make_signed_integer(spec.crl_number).get(), 0,
                                X509V3_ADD_DEFAULT) == 1,
          "CRL number");
  }
  if (spec.authority_key_identifier) {
    const authority_keyid_ptr akid =
        make_akid(check_ptr(X509_get0_subject_key_id(issuer_cert), "issuer has no SKI"));
    check(X509_CRL_add1_ext_i2d(crl.get(), NID_authority_key_identifier, akid.get(), 0, X509V3_ADD_DEFAULT) == 1,
          "CRL AKI");
  }
  check(X509_CRL_sort(crl.get()) == 1, "X509_CRL_sort");
  check(X509_CRL_sign(crl.get(), key(key_of(issuer)), EVP_sha256()) > 0, "X509_CRL_sign");
  bytes der = to_der(crl.get(), i2d_X509_CRL, "i2d_X509_CRL");
  // The DER ends inside the signature's s INTEGER: flipping its last bit keeps the
  // structure intact and only breaks the signature.
  if (spec.corrupt_signature) flip_last_bit(der);
  return der;
}

std::string test_pki::tcb_info_json(const tcb_info_spec& spec) {
  boost::json::object o;
  o.emplace("id", spec.id);
  o.emplace("version", static_cast<std::int64_t>(spec.version));
  o.emplace("issueDate", date_text(spec.issue_date));
  o.emplace("nextUpdate", date_text(spec.next_update));
  o.emplace("fmspc", spec.lower_case_fmspc ? to_hex(spec.fmspc) : to_hex_upper(spec.fmspc));
  o.emplace("pceId", to_hex_upper(spec.pce_id));
  o.emplace("tcbType", static_cast<std::int64_t>(spec.tcb_type));
  o.emplace("tcbEvaluationDataNumber", static_cast<std::int64_t>(spec.tcb_evaluation_data_number));
  o.emplace("tdxModule", module_json(spec.tdx_module, false));
  if (spec.tdx_module_identities) {
    boost::json::array ids;
    for (const auto& m : *spec.tdx_module_identities) ids.emplace_back(module_json(m, true));
    o.emplace("tdxModuleIdentities", std::move(ids));
  }
  boost::json::array levels;
  for (const auto& l : spec.levels) {
    boost::json::object tcb;
    tcb.emplace("sgxtcbcomponents", components_json(l.sgx_components));
    tcb.emplace("pcesvn", static_cast<std::int64_t>(l.pce_svn));
    tcb.emplace("tdxtcbcomponents", components_json(l.tdx_components));
    boost::json::object level;
    level.emplace("tcb", std::move(tcb));
    level.emplace("tcbDate", date_text(l.tcb_date));
    level.emplace("tcbStatus", l.status);
    emplace_advisories(level, l.advisory_ids);
    levels.emplace_back(std::move(level));
  }
  o.emplace("tcbLevels", std::move(levels));
  return boost::json::serialize(o);
}

std::string test_pki::qe_identity_json(const qe_identity_spec& spec) {
  const auto le32 = [](std::uint32_t v) {
    bytes b;
    put_u32(b, v);
    return to_hex_upper(b);
  };
  boost::json::object o;
  o.emplace("id", spec.id);
  o.emplace("version", static_cast<std::int64_t>(spec.version));
  o.emplace("issueDate", date_text(spec.issue_date));
  o.emplace("nextUpdate", date_text(spec.next_update));
  o.emplace("tcbEvaluationDataNumber", static_cast<std::int64_t>(spec.tcb_evaluation_data_number));
  o.emplace("miscselect", le32(spec.misc_select));
  o.emplace("miscselectMask", le32(spec.misc_select_mask));
  o.emplace("attributes", to_hex_upper(spec.attributes));
  o.emplace("attributesMask", to_hex_upper(spec.attributes_mask));
  o.emplace("mrsigner", to_hex_upper(spec.mr_signer));
  o.emplace("isvprodid", static_cast<std::int64_t>(spec.isv_prod_id));
  boost::json::array levels;
  for (const auto& l : spec.levels) {
    levels.emplace_back(isvsvn_level_json(l.isv_svn, l.tcb_date, l.status, l.advisory_ids));
  }
  o.emplace("tcbLevels", std::move(levels));
  return boost::json::serialize(o);
}

tdx::collateral_v3 test_pki::collateral(const collateral_spec& spec) const {
  tdx::collateral_v3 c;
  c.pck_crl_issuer_chain = pck_crl_issuer_chain_pem(spec.pck_crl_issuer);
  c.root_ca_crl = issue_crl(pki_cert::root, spec.root_ca_crl);
  c.pck_crl = issue_crl(ca_cert(spec.pck_crl_issuer), spec.pck_crl);
  c.tcb_info_issuer_chain = tcb_issuer_chain_pem();
  c.tcb_info = spec.tcb_info_text.value_or(tcb_info_json(spec.tcb_info));
  c.tcb_info_signature = sign(pki_key::tcb_signing, as_bytes(c.tcb_info));
  if (spec.corrupt_tcb_info_signature) flip_last_bit(c.tcb_info_signature);
  c.qe_identity_issuer_chain = tcb_issuer_chain_pem();
  c.qe_identity = spec.qe_identity_text.value_or(qe_identity_json(spec.qe_identity));
  c.qe_identity_signature = sign(pki_key::tcb_signing, as_bytes(c.qe_identity));
  if (spec.corrupt_qe_identity_signature) flip_last_bit(c.qe_identity_signature);
  return c;
}

minted_quote test_pki::mint_detailed(const quote_spec& spec) const {
  minted_quote m;
  quote_layout& l = m.layout;
  bytes& out = m.data;

  crypto::evp_pkey_ptr att_key = generate_p256_key();
  m.attestation_key = p256_public_xy(att_key.get());
  const std::array<std::uint8_t, 64> key_in_quote = spec.attestation_key.value_or(m.attestation_key);

  // Header (§1.1).
  const tdx::quote_header& h = spec.header;
  put_u16(out, h.version);
  put_u16(out, h.attestation_key_type);
  put_u32(out, h.tee_type);
  put_u16(out, h.qe_svn);
  put_u16(out, h.pce_svn);
  put(out, h.qe_vendor_id);
  put(out, h.user_data);

  // Body (§1.2, §1.3): v5 has a descriptor; TD 1.5 only with v5 body type 3.
  const bool v5 = h.version == 5;
  const bool td15 = v5 && spec.body_type == tdx::body_type_td15;
  l.body_size = td15 ? tdx::td_report15_size : tdx::td_report10_size;
  if (v5) {
    put_u16(out, spec.body_type);
    put_u32(out, spec.body_size.value_or(checked_u32(l.body_size, "body size")));
  }
  l.body_offset = out.size();
  put_td_report(out, spec.td, td15);
  l.signed_size = out.size();

  // QE report certification data (§1.4).
  std::array<std::uint8_t, 64> report_data{};
  if (spec.qe_report_data) {
    report_data = *spec.qe_report_data;
  } else {
    const sha256_digest hash = crypto::sha256({key_in_quote, spec.qe_auth_data});
    std::copy(hash.begin(), hash.end(), report_data.begin());
  }
  const bytes qe_report = enclave_report_bytes(spec.qe_report, report_data);
  bytes qe_report_signature = sign(pki_key::pck_leaf, qe_report);
  if (spec.corrupt_qe_report_signature) flip_last_bit(qe_report_signature);

  const crypto::x509_ptr leaf = issue_leaf(*this, spec.pck);
  m.pck_leaf_der = to_der(leaf.get(), i2d_X509, "i2d_X509");
  m.pck_chain_pem = spec.pck_chain_pem.value_or(certificate_pem(leaf.get()) + pem(ca_cert(spec.pck.issuer)) + root_pem());
  bytes chain(m.pck_chain_pem.begin(), m.pck_chain_pem.end());
  if (spec.nul_terminate_chain) chain.push_back(0);

  if (spec.qe_auth_data.size() > 0xFFFF) throw std::invalid_argument("test_pki: QE auth data > 65535 bytes");
  const std::size_t inner_size = tdx::enclave_report_size + 64 + 2 + spec.qe_auth_data.size() + 2 + 4 + chain.size();
  const std::size_t sig_data_size = 64 + 64 + 2 + 4 + inner_size;

  l.signature_data_offset = out.size();
  put_u32(out, spec.signature_data_size.value_or(checked_u32(sig_data_size, "signature data size")));
  l.quote_signature_offset = out.size();
  put_zeros(out, 64);  // filled below, once the signed region is final
  l.attestation_key_offset = out.size();
  put(out, key_in_quote);
  l.certification_data_offset = out.size();
  put_u16(out, spec.certification_data_type);
  put_u32(out, spec.certification_data_size.value_or(checked_u32(inner_size, "certification data size")));
  l.qe_report_offset = out.size();
  put(out, qe_report);
  l.qe_report_signature_offset = out.size();
  put(out, qe_report_signature);
  l.qe_auth_data_offset = out.size();
  put_u16(out, static_cast<std::uint16_t>(spec.qe_auth_data.size()));
  put(out, spec.qe_auth_data);
  l.inner_certification_data_offset = out.size();
  put_u16(out, spec.inner_certification_data_type);
  put_u32(out, spec.inner_certification_data_size.value_or(checked_u32(chain.size(), "chain size")));
  l.pck_chain_offset = out.size();
  l.pck_chain_size = chain.size();
  put(out, chain);
  l.trailing_offset = out.size();
  put(out, spec.trailing);

  bytes quote_signature = sign_p256_sha256_raw(att_key.get(), byte_view{out.data(), l.signed_size});
  if (spec.corrupt_quote_signature) flip_last_bit(quote_signature);
  std::copy(quote_signature.begin(), quote_signature.end(),
            out.begin() + static_cast<std::ptrdiff_t>(l.quote_signature_offset));

  m.attestation_private_key = std::shared_ptr<EVP_PKEY>(att_key.release(), EVP_PKEY_free);
  return m;
}

bytes test_pki::mint(const quote_spec& spec) const { return mint_detailed(spec).data; }

void test_pki::resign_quote(minted_quote& q) const {
  const quote_layout& l = q.layout;
  if (!q.attestation_private_key || l.signed_size > q.data.size() ||
      l.quote_signature_offset + 64 > q.data.size()) {
    throw std::invalid_argument("test_pki: resign_quote on an inconsistent minted_quote");
  }
  const bytes sig = sign_p256_sha256_raw(q.attestation_private_key.get(), byte_view{q.data.data(), l.signed_size});
  std::copy(sig.begin(), sig.end(), q.data.begin() + static_cast<std::ptrdiff_t>(l.quote_signature_offset));
}

void test_pki::resign_qe_report(minted_quote& q) const {
  const quote_layout& l = q.layout;
  if (l.qe_report_offset + tdx::enclave_report_size > q.data.size() ||
      l.qe_report_signature_offset + 64 > q.data.size()) {
    throw std::invalid_argument("test_pki: resign_qe_report on an inconsistent minted_quote");
  }
  const bytes sig =
      sign(pki_key::pck_leaf, byte_view{q.data.data() + l.qe_report_offset, tdx::enclave_report_size});
  std::copy(sig.begin(), sig.end(), q.data.begin() + static_cast<std::ptrdiff_t>(l.qe_report_signature_offset));
}

}  // namespace vp::test
