#include "tdx/collateral.hpp"

#include <gtest/gtest.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <boost/json.hpp>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <string>
#include <vector>

#include "core/hex.hpp"
#include "crypto/ecdsa.hpp"
#include "crypto/x509.hpp"
#include "support/testdata.hpp"

namespace vp::tdx {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

const std::string sig_hex = [] {
  std::string s;
  for (int i = 0; i < 64; ++i) s += "a5";
  return s;
}();

// Relative paths (below the shared testdata dir) of every case folder holding `file`.
std::vector<fs::path> shared_dirs_with(const fs::path& parent, const fs::path& file) {
  std::vector<fs::path> out;
  const auto root = test::shared_testdata_dir();
  if (!root) return out;
  for (const auto& entry : fs::directory_iterator(*root / parent)) {
    if (fs::exists(entry.path() / file)) out.push_back(parent / entry.path().filename());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> pcs_dirs() {
  std::vector<fs::path> out;
  for (const auto& capture : shared_dirs_with("nearai", "pcs")) {
    out.push_back(capture / "pcs");
    if (test::shared_testdata_dir() && fs::exists(*test::shared_testdata_dir() / capture / "pcs" / "gateway")) {
      out.push_back(capture / "pcs" / "gateway");
    }
  }
  return out;
}

bytes to_bytes(std::string_view s) { return bytes(s.begin(), s.end()); }

pcs_responses load_pcs(const fs::path& dir) {
  pcs_responses r;
  r.tcb_info = test::read_shared(dir / "tcb_info.json");
  r.tcb_info_issuer_chain = test::read_shared(dir / "tcb_info_issuer_chain.pem");
  r.qe_identity = test::read_shared(dir / "qe_identity.json");
  r.qe_identity_issuer_chain = test::read_shared(dir / "qe_identity_issuer_chain.pem");
  r.pck_crl = to_bytes(test::read_shared(dir / "pck_crl.der"));
  r.pck_crl_issuer_chain = test::read_shared(dir / "pck_crl_issuer_chain.pem");
  r.root_ca_crl = to_bytes(test::read_shared(dir / "root_ca_crl.der"));
  return r;
}

void expect_same(const collateral_v3& a, const collateral_v3& b) {
  EXPECT_EQ(a.pck_crl_issuer_chain, b.pck_crl_issuer_chain);
  EXPECT_EQ(a.root_ca_crl, b.root_ca_crl);
  EXPECT_EQ(a.pck_crl, b.pck_crl);
  EXPECT_EQ(a.tcb_info_issuer_chain, b.tcb_info_issuer_chain);
  EXPECT_EQ(a.tcb_info, b.tcb_info);
  EXPECT_EQ(a.tcb_info_signature, b.tcb_info_signature);
  EXPECT_EQ(a.qe_identity_issuer_chain, b.qe_identity_issuer_chain);
  EXPECT_EQ(a.qe_identity, b.qe_identity);
  EXPECT_EQ(a.qe_identity_signature, b.qe_identity_signature);
}

bytes hex_field(const json::object& o, std::string_view name) {
  auto b = from_hex(o.at(name).as_string());
  EXPECT_TRUE(b.has_value()) << name;
  return b.value_or(bytes{});
}

// The signature over `text` verifies with the key of the first certificate of `chain`.
bool signed_by_chain_leaf(std::string_view chain, std::string_view text, byte_view signature) {
  const auto certs = crypto::parse_pem_certificates(chain);
  if (!certs) {
    ADD_FAILURE() << "issuer chain does not parse";
    return false;
  }
  return crypto::verify_p256_sha256_raw(X509_get0_pubkey(certs->front().get()), as_bytes(text), signature);
}

std::string crl_der_to_pem(byte_view der) {
  const unsigned char* p = der.data();
  crypto::x509_crl_ptr crl{d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()))};
  if (!crl) {
    ADD_FAILURE() << "test CRL does not decode";
    return {};
  }
  crypto::bio_ptr bio{BIO_new(BIO_s_mem())};
  if (!bio || PEM_write_bio_X509_CRL(bio.get(), crl.get()) != 1) {
    ADD_FAILURE() << "PEM_write_bio_X509_CRL failed";
    return {};
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

json::array byte_array(byte_view b) {
  json::array a;
  for (std::uint8_t x : b) a.emplace_back(static_cast<std::int64_t>(x));
  return a;
}

json::object reference_collateral() {
  return json::parse(test::read_shared("tdx/v4-phala-uptodate/collateral.json")).as_object();
}

void expect_malformed(const result<collateral_v3>& r, std::string_view mentions, const std::string& what) {
  ASSERT_FALSE(r.has_value()) << what;
  EXPECT_EQ(r.error().kind, errc::malformed_collateral) << what << ": " << r.error().message;
  EXPECT_NE(r.error().message.find(mentions), std::string::npos)
      << what << ": message should name `" << mentions << "`: " << r.error().message;
}

// ---------------------------------------------------------------------------------
// QuoteCollateralV3 JSON

TEST(CollateralV3Json, ParsesEveryRealCollateralAndRoundTrips) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto cases = shared_dirs_with("tdx", "collateral.json");
  ASSERT_GE(cases.size(), 9u);
  for (const auto& dir : cases) {
    SCOPED_TRACE(dir.string());
    const std::string text = test::read_shared(dir / "collateral.json");
    const json::object file = json::parse(text).as_object();

    const auto c = parse_collateral_v3_json(text);
    ASSERT_TRUE(c.has_value()) << c.error().message;
    EXPECT_EQ(c->pck_crl, hex_field(file, "pck_crl"));
    EXPECT_EQ(c->root_ca_crl, hex_field(file, "root_ca_crl"));
    EXPECT_EQ(c->tcb_info_signature.size(), 64u);
    EXPECT_EQ(c->qe_identity_signature.size(), 64u);
    EXPECT_EQ(c->tcb_info_signature, hex_field(file, "tcb_info_signature"));
    EXPECT_EQ(c->qe_identity_signature, hex_field(file, "qe_identity_signature"));
    EXPECT_EQ(c->tcb_info, file.at("tcb_info").as_string());
    EXPECT_EQ(c->qe_identity, file.at("qe_identity").as_string());
    EXPECT_EQ(c->tcb_info_issuer_chain, file.at("tcb_info_issuer_chain").as_string());
    EXPECT_EQ(c->qe_identity_issuer_chain, file.at("qe_identity_issuer_chain").as_string());
    EXPECT_EQ(c->pck_crl_issuer_chain, file.at("pck_crl_issuer_chain").as_string());
    // The kept text is the signed text: the Intel signature verifies over it.
    EXPECT_TRUE(signed_by_chain_leaf(c->tcb_info_issuer_chain, c->tcb_info, c->tcb_info_signature));
    EXPECT_TRUE(signed_by_chain_leaf(c->qe_identity_issuer_chain, c->qe_identity, c->qe_identity_signature));

    const std::string out = to_collateral_v3_json(*c);
    const auto again = parse_collateral_v3_json(out);
    ASSERT_TRUE(again.has_value()) << again.error().message;
    expect_same(*c, *again);
    // Hex form, same field set as dcap-qvl writes.
    const json::object written = json::parse(out).as_object();
    EXPECT_EQ(written.size(), 9u);
    EXPECT_EQ(written.at("pck_crl").as_string(), to_hex(c->pck_crl));
  }
}

TEST(CollateralV3Json, AcceptsArraysOfNumbersForByteFields) {
  VP_REQUIRE_SHARED_TESTDATA();
  json::object doc = reference_collateral();
  const auto hex_form = parse_collateral_v3_json(json::serialize(doc));
  ASSERT_TRUE(hex_form.has_value()) << hex_form.error().message;
  for (const char* name : {"root_ca_crl", "pck_crl", "tcb_info_signature", "qe_identity_signature"}) {
    doc[name] = byte_array(hex_field(doc, name));
  }
  const auto array_form = parse_collateral_v3_json(json::serialize(doc));
  ASSERT_TRUE(array_form.has_value()) << array_form.error().message;
  expect_same(*hex_form, *array_form);
}

TEST(CollateralV3Json, NormalisesPemAndHexCrlsToDer) {
  VP_REQUIRE_SHARED_TESTDATA();
  json::object doc = reference_collateral();
  const bytes pck_der = hex_field(doc, "pck_crl");
  const bytes root_der = hex_field(doc, "root_ca_crl");
  const std::string pck_pem = crl_der_to_pem(pck_der);
  ASSERT_TRUE(pck_pem.starts_with("-----BEGIN X509 CRL-----"));

  // PEM bytes in hex form; hex-of-DER text (what PCCS serves for the root CA CRL) in hex form.
  doc["pck_crl"] = to_hex(as_bytes(pck_pem));
  doc["root_ca_crl"] = to_hex(as_bytes(to_hex(root_der)));
  auto c = parse_collateral_v3_json(json::serialize(doc));
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->pck_crl, pck_der);
  EXPECT_EQ(c->root_ca_crl, root_der);

  // The same encodings as arrays of numbers.
  doc["pck_crl"] = byte_array(as_bytes(pck_pem));
  doc["root_ca_crl"] = byte_array(as_bytes(to_hex(root_der)));
  c = parse_collateral_v3_json(json::serialize(doc));
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->pck_crl, pck_der);
  EXPECT_EQ(c->root_ca_crl, root_der);
}

TEST(CollateralV3Json, IgnoresUnknownFields) {
  VP_REQUIRE_SHARED_TESTDATA();
  json::object doc = reference_collateral();
  doc["pck_certificate_chain"] = "-----BEGIN CERTIFICATE-----\nnot used\n-----END CERTIFICATE-----\n";
  doc["future_field"] = json::array{1, 2, 3};
  EXPECT_TRUE(parse_collateral_v3_json(json::serialize(doc)).has_value());
}

TEST(CollateralV3Json, RejectsMissingFieldsNamingThem) {
  VP_REQUIRE_SHARED_TESTDATA();
  const json::object reference = reference_collateral();
  for (const char* name : {"pck_crl_issuer_chain", "root_ca_crl", "pck_crl", "tcb_info_issuer_chain", "tcb_info",
                           "tcb_info_signature", "qe_identity_issuer_chain", "qe_identity", "qe_identity_signature"}) {
    json::object doc = reference;
    ASSERT_EQ(doc.erase(name), 1u);
    expect_malformed(parse_collateral_v3_json(json::serialize(doc)), name, std::string("without ") + name);
  }
}

TEST(CollateralV3Json, RejectsWrongTypesAndSizes) {
  VP_REQUIRE_SHARED_TESTDATA();
  const json::object reference = reference_collateral();
  const bytes sig = hex_field(reference, "tcb_info_signature");
  const auto with = [&](const char* name, auto&& v) {
    json::object doc = reference;
    doc[name] = std::forward<decltype(v)>(v);
    return parse_collateral_v3_json(json::serialize(doc));
  };

  expect_malformed(with("tcb_info", 5), "tcb_info", "number tcb_info");
  expect_malformed(with("qe_identity", json::object{}), "qe_identity", "object qe_identity");
  expect_malformed(with("tcb_info_issuer_chain", json::array{}), "tcb_info_issuer_chain", "array chain");
  expect_malformed(with("tcb_info_signature", true), "tcb_info_signature", "bool signature");
  expect_malformed(with("pck_crl", json::object{}), "pck_crl", "object CRL");
  expect_malformed(with("pck_crl", nullptr), "pck_crl", "null CRL");

  // Hex strings: odd length, non-hex digits, `0x` prefix (dcap-qvl's serde form has none).
  expect_malformed(with("tcb_info_signature", sig_hex.substr(1)), "tcb_info_signature", "odd hex");
  expect_malformed(with("tcb_info_signature", std::string(128, 'z')), "tcb_info_signature", "non-hex");
  expect_malformed(with("tcb_info_signature", "0x" + sig_hex), "tcb_info_signature", "0x prefix");

  // Byte arrays: out of range, negative, non-integer elements.
  for (const json::value& bad :
       {json::value(256), json::value(-1), json::value("a"), json::value(1.5), json::value(nullptr)}) {
    json::array a = byte_array(sig);
    a[7] = bad;
    expect_malformed(with("qe_identity_signature", a), "qe_identity_signature",
                     "array element " + json::serialize(bad));
  }

  // Signatures are exactly 64 bytes, in either form.
  const bytes short_sig(sig.begin(), sig.end() - 1);
  bytes long_sig = sig;
  long_sig.push_back(0);
  expect_malformed(with("tcb_info_signature", to_hex(short_sig)), "tcb_info_signature", "63-byte hex");
  expect_malformed(with("qe_identity_signature", byte_array(short_sig)), "qe_identity_signature", "63-byte array");
  expect_malformed(with("tcb_info_signature", to_hex(long_sig)), "tcb_info_signature", "65-byte hex");
  expect_malformed(with("tcb_info_signature", ""), "tcb_info_signature", "empty");

  // CRLs that are not CRLs: text, a truncated DER CRL, a certificate, nothing.
  const bytes pck_der = hex_field(reference, "pck_crl");
  const bytes truncated(pck_der.begin(), pck_der.end() - 1);
  const auto chain = crypto::parse_pem_certificates(std::string(reference.at("pck_crl_issuer_chain").as_string()));
  ASSERT_TRUE(chain.has_value());
  const bytes cert_der = crypto::certificate_der(chain->front().get());
  expect_malformed(with("pck_crl", to_hex(as_bytes("not a CRL at all"))), "pck_crl", "garbage CRL");
  expect_malformed(with("pck_crl", to_hex(truncated)), "pck_crl", "truncated CRL");
  expect_malformed(with("root_ca_crl", to_hex(cert_der)), "root_ca_crl", "certificate as CRL");
  expect_malformed(with("root_ca_crl", json::array{}), "root_ca_crl", "empty CRL");

  // Issuer chains must hold a certificate.
  expect_malformed(with("qe_identity_issuer_chain", "no PEM here"), "qe_identity_issuer_chain", "no PEM");
}

TEST(CollateralV3Json, RejectsNonObjectOrNonJson) {
  for (std::string_view text : {"", "   ", "{", "not json", "[]", "\"collateral\"", "null", "{} {}", "{\"a\":1,}"}) {
    const auto r = parse_collateral_v3_json(text);
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_EQ(r.error().kind, errc::malformed_collateral) << text;
  }
}

// ---------------------------------------------------------------------------------
// Raw PCS responses

TEST(CollateralFromPcs, AssemblesEveryCaptureWithByteExactSignedText) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto dirs = pcs_dirs();
  ASSERT_GE(dirs.size(), 7u);
  for (const auto& dir : dirs) {
    SCOPED_TRACE(dir.string());
    const pcs_responses r = load_pcs(dir);
    const auto c = collateral_from_pcs_responses(r);
    ASSERT_TRUE(c.has_value()) << c.error().message;

    EXPECT_TRUE(c->tcb_info.starts_with(R"({"id":"TDX")")) << c->tcb_info.substr(0, 40);
    EXPECT_TRUE(c->qe_identity.starts_with(R"({"id":"TD_QE")")) << c->qe_identity.substr(0, 40);
    // Intel signed exactly these bytes: a single byte more or less would not verify.
    EXPECT_TRUE(signed_by_chain_leaf(c->tcb_info_issuer_chain, c->tcb_info, c->tcb_info_signature));
    EXPECT_TRUE(signed_by_chain_leaf(c->qe_identity_issuer_chain, c->qe_identity, c->qe_identity_signature));
    EXPECT_FALSE(signed_by_chain_leaf(c->tcb_info_issuer_chain, c->tcb_info + " ", c->tcb_info_signature));
    EXPECT_FALSE(signed_by_chain_leaf(c->qe_identity_issuer_chain, " " + c->qe_identity, c->qe_identity_signature));

    EXPECT_EQ(c->pck_crl, r.pck_crl);  // already DER on disk
    EXPECT_EQ(c->root_ca_crl, r.root_ca_crl);
    EXPECT_EQ(c->tcb_info_issuer_chain, r.tcb_info_issuer_chain);
    EXPECT_EQ(c->qe_identity_issuer_chain, r.qe_identity_issuer_chain);
    EXPECT_EQ(c->pck_crl_issuer_chain, r.pck_crl_issuer_chain);

    const auto again = parse_collateral_v3_json(to_collateral_v3_json(*c));
    ASSERT_TRUE(again.has_value()) << again.error().message;
    expect_same(*c, *again);
  }
}

TEST(CollateralFromPcs, AgreesWithDcapQvlStyleSplit) {
  VP_REQUIRE_SHARED_TESTDATA();
  const fs::path dir = "nearai/direct-2026-03-22-ecdsa/pcs";
  const pcs_responses r = load_pcs(dir);
  const auto c = collateral_from_pcs_responses(r);
  ASSERT_TRUE(c.has_value()) << c.error().message;

  // testdata README: `tcb_info` is the exact text between `{"tcbInfo":` and
  // `,"signature":"…"}` of the body.
  const auto dcap_qvl_split = [](const std::string& body, const std::string& key, std::string& inner,
                                 std::string& signature) {
    const std::string prefix = "{\"" + key + "\":";
    const std::string marker = ",\"signature\":\"";
    ASSERT_TRUE(body.starts_with(prefix));
    ASSERT_TRUE(body.ends_with("\"}"));
    const auto at = body.rfind(marker);
    ASSERT_NE(at, std::string::npos);
    inner = body.substr(prefix.size(), at - prefix.size());
    signature = body.substr(at + marker.size(), body.size() - 2 - at - marker.size());
  };
  std::string inner;
  std::string signature;
  dcap_qvl_split(r.tcb_info, "tcbInfo", inner, signature);
  EXPECT_EQ(c->tcb_info, inner);
  EXPECT_EQ(to_hex(c->tcb_info_signature), signature);
  dcap_qvl_split(r.qe_identity, "enclaveIdentity", inner, signature);
  EXPECT_EQ(c->qe_identity, inner);
  EXPECT_EQ(to_hex(c->qe_identity_signature), signature);
}

TEST(CollateralFromPcs, AcceptsPemAndHexCrls) {
  VP_REQUIRE_SHARED_TESTDATA();
  pcs_responses r = load_pcs("nearai/direct-2026-06-29-ed25519/pcs");
  const bytes pck_der = r.pck_crl;
  const bytes root_der = r.root_ca_crl;
  r.pck_crl = to_bytes(crl_der_to_pem(pck_der));
  r.root_ca_crl = to_bytes(to_hex(root_der) + "\n");  // PCCS rootcacrl: hex text of the DER
  const auto c = collateral_from_pcs_responses(r);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->pck_crl, pck_der);
  EXPECT_EQ(c->root_ca_crl, root_der);
}

TEST(CollateralFromPcs, RejectsBrokenPieces) {
  VP_REQUIRE_SHARED_TESTDATA();
  const pcs_responses good = load_pcs("nearai/gateway-2026-06-29/pcs/gateway");
  ASSERT_TRUE(collateral_from_pcs_responses(good).has_value());

  auto r = good;
  r.pck_crl = to_bytes("<html>502 Bad Gateway</html>");
  expect_malformed(collateral_from_pcs_responses(r), "pck_crl", "HTML as PCK CRL");
  r = good;
  r.root_ca_crl.clear();
  expect_malformed(collateral_from_pcs_responses(r), "root_ca_crl", "empty root CRL");
  r = good;
  r.tcb_info_issuer_chain = "";
  expect_malformed(collateral_from_pcs_responses(r), "tcb_info_issuer_chain", "empty chain");
  r = good;
  r.pck_crl_issuer_chain = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  expect_malformed(collateral_from_pcs_responses(r), "pck_crl_issuer_chain", "corrupt PEM");
  r = good;
  r.qe_identity = good.tcb_info;  // wrong endpoint's body: no enclaveIdentity member
  expect_malformed(collateral_from_pcs_responses(r), "enclaveIdentity", "swapped bodies");
  r = good;
  r.tcb_info = good.tcb_info.substr(0, good.tcb_info.size() - 1);
  expect_malformed(collateral_from_pcs_responses(r), "tcbInfo", "truncated body");
}

// ---------------------------------------------------------------------------------
// split_signed_response

result<signed_json> split(std::string_view body) { return split_signed_response(body, "tcbInfo"); }

void expect_split(std::string_view body, std::string_view expected_text) {
  const auto s = split(body);
  ASSERT_TRUE(s.has_value()) << body << ": " << s.error().message;
  EXPECT_EQ(s->body, expected_text) << body;
  EXPECT_EQ(to_hex(s->signature), sig_hex);
}

void expect_split_fails(std::string_view body, std::string_view key = "tcbInfo") {
  const auto s = split_signed_response(body, key);
  ASSERT_FALSE(s.has_value()) << body << " gave " << s->body;
  EXPECT_EQ(s.error().kind, errc::malformed_collateral) << body;
}

TEST(SplitSignedResponse, ExtractsExactTextInEitherOrder) {
  expect_split(R"({"tcbInfo":{"id":"TDX","n":[1,2,{"k":null}]},"signature":")" + sig_hex + R"("})",
               R"({"id":"TDX","n":[1,2,{"k":null}]})");
  expect_split(R"({"signature":")" + sig_hex + R"(","tcbInfo":{"id":"TDX"}})", R"({"id":"TDX"})");
  expect_split(R"({"tcbInfo":{},"signature":")" + sig_hex + R"("})", "{}");
}

TEST(SplitSignedResponse, HonoursWhitespaceBetweenTokens) {
  expect_split(" \r\n{ \"signature\"\t:  \"" + sig_hex +
                   "\" ,\n  \"tcbInfo\" :\n{ \"id\" : \"TDX\" ,\n \"a\" : [ 1 , 2 ] }\n}\n\t",
               "{ \"id\" : \"TDX\" ,\n \"a\" : [ 1 , 2 ] }");
}

TEST(SplitSignedResponse, HonoursStringsAndEscapes) {
  // Braces, brackets, quotes and backslashes inside strings must not move the cut.
  expect_split(R"({"tcbInfo":{"s":"a\"}]\\","t":"{[","u":"\\\\","v":"\u007d"},"signature":")" + sig_hex + R"("})",
               R"({"s":"a\"}]\\","t":"{[","u":"\\\\","v":"\u007d"})");
  // Earlier top-level members with tricky strings and scalars.
  expect_split(R"({"x\"y":"},\"tcbInfo\":{}","n":-1.5e3,"b":true,"z":null,"tcbInfo":{"id":"TDX"},"signature":")" +
                   sig_hex + R"("})",
               R"({"id":"TDX"})");
  // An escaped key names the same member for Boost.JSON and for the scanner.
  expect_split(R"({"tcb\u0049nfo":{"id":"TDX"},"signature":")" + sig_hex + R"("})", R"({"id":"TDX"})");
}

TEST(SplitSignedResponse, MatchesOnlyTopLevelKeys) {
  expect_split_fails(R"({"outer":{"tcbInfo":{"id":"X"}},"signature":")" + sig_hex + R"("})");
  expect_split(R"({"outer":{"tcbInfo":{"id":"X"}},"list":[{"tcbInfo":{}}],"tcbInfo":{"id":"TDX"},"signature":")" +
                   sig_hex + R"("})",
               R"({"id":"TDX"})");
}

TEST(SplitSignedResponse, RejectsAmbiguousOrMalformedBodies) {
  const std::string sig = R"("signature":")" + sig_hex + "\"";
  // duplicate keys
  expect_split_fails(R"({"tcbInfo":{"id":"A"},"tcbInfo":{"id":"B"},)" + sig + "}");
  expect_split_fails(R"({"tcbInfo":{"id":"A"},)" + sig + R"(,"tcb\u0049nfo":{"id":"A"}})");
  expect_split_fails(R"({"tcbInfo":{"id":"A"},)" + sig + "," + sig + "}");
  // missing pieces
  expect_split_fails("{" + sig + "}");
  expect_split_fails(R"({"tcbInfo":{"id":"A"}})");
  expect_split_fails(R"({"enclaveIdentity":{"id":"TD_QE"},)" + sig + "}");
  // non-object value
  expect_split_fails(R"({"tcbInfo":"{\"id\":\"TDX\"}",)" + sig + "}");
  expect_split_fails(R"({"tcbInfo":[{"id":"TDX"}],)" + sig + "}");
  expect_split_fails(R"({"tcbInfo":null,)" + sig + "}");
  // bad signature
  expect_split_fails(R"({"tcbInfo":{},"signature":")" + sig_hex.substr(2) + "\"}");
  expect_split_fails(R"({"tcbInfo":{},"signature":")" + sig_hex + "00\"}");
  expect_split_fails(R"({"tcbInfo":{},"signature":")" + std::string(128, 'g') + "\"}");
  expect_split_fails(R"({"tcbInfo":{},"signature":12})");
  // trailing garbage and non-JSON
  expect_split_fails(R"({"tcbInfo":{},)" + sig + "}x");
  expect_split_fails(R"({"tcbInfo":{},)" + sig + "}{}");
  expect_split_fails(R"({"tcbInfo":{},)" + sig);
  expect_split_fails("");
  expect_split_fails("[]");
  expect_split_fails(R"([{"tcbInfo":{},)" + sig + "}]");
}

}  // namespace
}  // namespace vp::tdx
