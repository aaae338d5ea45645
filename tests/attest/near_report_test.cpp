// parse_report_document / parse_attestation: both response forms, every field rule and
// limit, on synthetic bodies and on every real capture.

#include "attest/near_report.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "support/expect_error.hpp"

#include <string>
#include <type_traits>

#include "attest/nearai_captures.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "support/testdata.hpp"

namespace vp::attest {
namespace {

namespace json = boost::json;
using test::nearai::str;

const std::string ed25519_address = "d0aa20bcf567cc0c7c914608967dbd4c7a17e10b600802d45923434ce323f823";
const std::string ecdsa_address = "0x6525e128afcffebf7eed05d485d7be983cdae934";
const std::string fingerprint_hex = "eb336f52d78ea04869573f291d53e5a9d1bdbfa1a75b73330eebfb4aa353a2ad";
const std::string nonce_hex = "541b6523f9446dcd170e67ac8171eb9226bee5e3f192de4900b74f0ef293500b";

// A well-formed ed25519 attestation object (the quote bytes are not parsed here).
json::object attestation_object() {
  return json::object{{"model_name", "Qwen/Qwen3.5-122B-A10B"},
                      {"signing_address", ed25519_address},
                      {"signing_algo", "ed25519"},
                      {"signing_public_key", ed25519_address},
                      {"request_nonce", nonce_hex},
                      {"intel_quote", "040002008100000000"},
                      {"event_log", json::array{json::object{{"imr", 0}}}},
                      {"tls_cert_fingerprint", fingerprint_hex}};
}

json::object ecdsa_object() {
  json::object o = attestation_object();
  o["signing_algo"] = "ecdsa";
  o["signing_address"] = ecdsa_address;
  o["signing_public_key"] = std::string(128, 'a');
  return o;
}

json::object gateway_body(std::size_t models = 1) {
  json::object gw = attestation_object();
  gw.erase("model_name");
  gw.erase("signing_public_key");
  gw["event_log"] = "[{\"imr\":0}]";  // a JSON string at the gateway (§1.5)
  gw["report_data"] = std::string(64, '1') + nonce_hex;
  json::array list;
  for (std::size_t i = 0; i < models; ++i) list.push_back(attestation_object());
  return json::object{{"gateway_attestation", gw}, {"model_attestations", list}, {"tls_certificate", "PEM"}};
}

std::string text(const json::object& o) { return json::serialize(o); }

using test::fails_with;

template <class V>
result<near_report_document> parse_with(std::string_view field, const V& value) {
  json::object o = attestation_object();
  if constexpr (std::is_same_v<V, std::string>) {
    o[field] = json::string_view(value);
  } else {
    o[field] = value;
  }
  return parse_report_document(text(o));
}

result<near_report_document> parse_without(std::string_view field) {
  json::object o = attestation_object();
  o.erase(field);
  return parse_report_document(text(o));
}

// ---------------------------------------------------------------------------------------
// Direct form

TEST(NearReportParse, DirectFormDecodesEveryField) {
  const auto doc = parse_report_document(text(attestation_object()));
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->form, report_form::direct);
  ASSERT_EQ(doc->attestations.size(), 1u);
  const near_attestation& a = doc->attestations[0];
  EXPECT_EQ(a.json_pointer, "");
  EXPECT_EQ(a.role, attestation_role::model);
  EXPECT_EQ(to_hex(a.intel_quote), "040002008100000000");
  EXPECT_EQ(a.signing_algo, signing_algorithm::ed25519);
  EXPECT_EQ(to_hex(a.signing_address), ed25519_address);
  ASSERT_TRUE(a.signing_public_key);
  EXPECT_EQ(to_hex(*a.signing_public_key), ed25519_address);
  ASSERT_TRUE(a.tls_cert_fingerprint);
  EXPECT_EQ(to_hex(*a.tls_cert_fingerprint), fingerprint_hex);
  ASSERT_TRUE(a.request_nonce);
  EXPECT_EQ(to_hex(*a.request_nonce), nonce_hex);
  EXPECT_FALSE(a.report_data);
  EXPECT_EQ(a.model_name, "Qwen/Qwen3.5-122B-A10B");
  EXPECT_EQ(doc->find(""), &a);
  EXPECT_EQ(doc->find("/gateway_attestation"), nullptr);
}

TEST(NearReportParse, RawObjectPointsIntoTheDocumentAndOutlivesIt) {
  std::shared_ptr<const json::object> raw;
  {
    auto doc = parse_report_document(text(attestation_object()));
    ASSERT_TRUE(doc) << doc.error().message;
    raw = doc->attestations[0].raw;
    ASSERT_NE(raw, nullptr);
    EXPECT_EQ(raw.get(), doc->root->if_object());  // not a copy
  }
  ASSERT_NE(raw->if_contains("event_log"), nullptr);  // the document is gone, the object is not
  EXPECT_TRUE(raw->at("event_log").is_array());
}

TEST(NearReportParse, EcdsaAddressAndPublicKey) {
  json::object o = ecdsa_object();
  auto doc = parse_report_document(text(o));
  ASSERT_TRUE(doc) << doc.error().message;
  const near_attestation& a = doc->attestations[0];
  EXPECT_EQ(a.signing_algo, signing_algorithm::ecdsa);
  EXPECT_EQ(a.signing_address.size(), 20u);
  EXPECT_EQ(format_signing_address(a.signing_algo, a.signing_address), ecdsa_address);
  ASSERT_TRUE(a.signing_public_key);
  EXPECT_EQ(a.signing_public_key->size(), 64u);

  // EIP-55 checksummed (mixed-case) addresses decode to the same bytes.
  o["signing_address"] = "0x6525E128afcffebf7eed05d485d7be983cdae934";
  doc = parse_report_document(text(o));
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(format_signing_address(signing_algorithm::ecdsa, doc->attestations[0].signing_address), ecdsa_address);

  // SEC1 uncompressed (04 ‖ X ‖ Y) is normalised to X ‖ Y.
  o["signing_public_key"] = "04" + std::string(128, 'b');
  doc = parse_report_document(text(o));
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(to_hex(*doc->attestations[0].signing_public_key), std::string(128, 'b'));
}

TEST(NearReportParse, NullOptionalFieldsAreAbsentAndUnknownFieldsIgnored) {
  json::object o = attestation_object();
  o["tls_cert_fingerprint"] = nullptr;
  o["request_nonce"] = nullptr;
  o.erase("model_name");
  o.erase("signing_public_key");
  o["nvidia_payload"] = "{\"arch\":\"HOPPER\"}";
  o["all_attestations"] = json::array{42};  // ignored, even when malformed
  o["some_future_field"] = json::object{{"x", 1}};
  const auto doc = parse_report_document(text(o));
  ASSERT_TRUE(doc) << doc.error().message;
  const near_attestation& a = doc->attestations[0];
  EXPECT_FALSE(a.tls_cert_fingerprint);
  EXPECT_FALSE(a.request_nonce);
  EXPECT_FALSE(a.model_name);
  EXPECT_FALSE(a.signing_public_key);
}

TEST(NearReportParse, SigningAlgo) {
  EXPECT_TRUE(fails_with(parse_with("signing_algo", "rsa"), errc::unsupported_signing_algo, "\"rsa\""));
  EXPECT_TRUE(fails_with(parse_with("signing_algo", "ECDSA"), errc::unsupported_signing_algo, "/signing_algo"));
  EXPECT_TRUE(fails_with(parse_with("signing_algo", ""), errc::unsupported_signing_algo, "/signing_algo"));
  EXPECT_TRUE(fails_with(parse_with("signing_algo", 1), errc::malformed_report, "/signing_algo must be a string"));
  EXPECT_TRUE(fails_with(parse_without("signing_algo"), errc::malformed_report, "/signing_algo is missing"));
}

TEST(NearReportParse, SigningAddressLengthsAreStrict) {
  // ed25519: exactly 64 hex digits, no prefix.
  EXPECT_TRUE(fails_with(parse_with("signing_address", ed25519_address.substr(2)), errc::malformed_report,
                         "/signing_address (ed25519) must be 64 hex digits, got 62"));
  EXPECT_TRUE(fails_with(parse_with("signing_address", ed25519_address + "00"), errc::malformed_report,
                         "got 66 characters"));
  EXPECT_TRUE(fails_with(parse_with("signing_address", "0x" + ed25519_address.substr(2)), errc::malformed_report,
                         "/signing_address is not hex"));
  EXPECT_TRUE(fails_with(parse_with("signing_address", "zz" + ed25519_address.substr(2)), errc::malformed_report,
                         "/signing_address is not hex"));
  EXPECT_TRUE(fails_with(parse_with("signing_address", json::array{}), errc::malformed_report,
                         "/signing_address must be a string, got array"));
  EXPECT_TRUE(fails_with(parse_without("signing_address"), errc::malformed_report, "/signing_address is missing"));

  // ecdsa: "0x" + exactly 40 hex digits.
  const auto ecdsa_with = [](std::string address) {
    json::object o = ecdsa_object();
    o["signing_address"] = std::move(address);
    return parse_report_document(text(o));
  };
  EXPECT_TRUE(fails_with(ecdsa_with(ecdsa_address.substr(2)), errc::malformed_report,
                         "/signing_address (ecdsa) must be \"0x\" + 40 hex digits, got 40 characters"));
  EXPECT_TRUE(fails_with(ecdsa_with(ecdsa_address + "00"), errc::malformed_report, "got 44 characters"));
  EXPECT_TRUE(fails_with(ecdsa_with(ecdsa_address.substr(0, 40)), errc::malformed_report, "got 40 characters"));
  EXPECT_TRUE(fails_with(ecdsa_with("0X" + ecdsa_address.substr(2)), errc::malformed_report, "(ecdsa) must be"));
  EXPECT_TRUE(fails_with(ecdsa_with("0x" + std::string(39, 'a') + "g"), errc::malformed_report, "is not hex"));
  // An ed25519 key claimed as ecdsa is the wrong length, not silently truncated.
  EXPECT_TRUE(fails_with(ecdsa_with(ed25519_address), errc::malformed_report, "got 64 characters"));
}

TEST(NearReportParse, IntelQuote) {
  EXPECT_TRUE(fails_with(parse_with("intel_quote", "04000g"), errc::malformed_report, "/intel_quote is not hex"));
  EXPECT_TRUE(fails_with(parse_with("intel_quote", "040"), errc::malformed_report, "/intel_quote is not hex"));
  EXPECT_TRUE(fails_with(parse_with("intel_quote", "0x0400"), errc::malformed_report, "/intel_quote is not hex"));
  EXPECT_TRUE(fails_with(parse_with("intel_quote", ""), errc::malformed_report, "/intel_quote is empty"));
  EXPECT_TRUE(fails_with(parse_with("intel_quote", 4), errc::malformed_report, "/intel_quote must be a string"));
  EXPECT_TRUE(fails_with(parse_with("intel_quote", nullptr), errc::malformed_report, "/intel_quote is missing"));
  EXPECT_TRUE(fails_with(parse_with("intel_quote", std::string(2 * max_intel_quote_size + 2, 'a')),
                         errc::malformed_report, "over the limit of 131072"));
  EXPECT_TRUE(parse_with("intel_quote", std::string(2 * max_intel_quote_size, 'a')));
}

TEST(NearReportParse, FixedLengthHexFields) {
  EXPECT_TRUE(fails_with(parse_with("tls_cert_fingerprint", fingerprint_hex.substr(1)), errc::malformed_report,
                         "/tls_cert_fingerprint must be 64 hex digits, got 63 characters"));
  EXPECT_TRUE(fails_with(parse_with("tls_cert_fingerprint", "x" + fingerprint_hex.substr(1)), errc::malformed_report,
                         "/tls_cert_fingerprint is not hex"));
  EXPECT_TRUE(fails_with(parse_with("tls_cert_fingerprint", json::object{}), errc::malformed_report,
                         "/tls_cert_fingerprint must be a string, got object"));
  EXPECT_TRUE(fails_with(parse_with("request_nonce", nonce_hex + "00"), errc::malformed_report,
                         "/request_nonce must be 64 hex digits, got 66"));
  EXPECT_TRUE(fails_with(parse_with("report_data", nonce_hex), errc::malformed_report,
                         "/report_data must be 128 hex digits, got 64"));
  EXPECT_TRUE(fails_with(parse_with("signing_public_key", ed25519_address + "00"), errc::malformed_report,
                         "/signing_public_key must be 64 hex digits"));
  json::object o = ecdsa_object();
  o["signing_public_key"] = std::string(126, 'a');
  EXPECT_TRUE(fails_with(parse_report_document(text(o)), errc::malformed_report,
                         "/signing_public_key (ecdsa) must be 128 hex digits"));
}

TEST(NearReportParse, ModelName) {
  EXPECT_TRUE(fails_with(parse_with("model_name", std::string(max_model_name_size + 1, 'm')), errc::malformed_report,
                         "/model_name is 257 bytes"));
  EXPECT_TRUE(fails_with(parse_with("model_name", true), errc::malformed_report, "/model_name must be a string"));
}

TEST(NearReportParse, LongUntrustedTextIsNotEchoedInFull) {
  const auto r = parse_with("signing_algo", std::string(10000, 'A') + "\n\x01");
  ASSERT_FALSE(r);
  EXPECT_LT(r.error().message.size(), 200u) << r.error().message;
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Body

TEST(NearReportParse, BodyLevelErrors) {
  EXPECT_TRUE(fails_with(parse_report_document("{\"intel_quote\":"), errc::malformed_report,
                         "report body is not JSON"));
  EXPECT_TRUE(fails_with(parse_report_document("<html>502 Bad Gateway</html>"), errc::malformed_report,
                         "report body is not JSON"));
  EXPECT_TRUE(fails_with(parse_report_document(""), errc::malformed_report, "report body is not JSON"));
  EXPECT_TRUE(fails_with(parse_report_document(text(attestation_object()) + " {}"), errc::malformed_report,
                         "report body is not JSON"));
  EXPECT_TRUE(fails_with(parse_report_document("[1,2]"), errc::malformed_report,
                         "report body must be a JSON object, got array"));
  EXPECT_TRUE(fails_with(parse_report_document("{\"error\":\"nope\"}"), errc::malformed_report,
                         "neither intel_quote (direct form) nor gateway_attestation"));
  json::object both = attestation_object();
  both["gateway_attestation"] = attestation_object();
  EXPECT_TRUE(fails_with(parse_report_document(text(both)), errc::malformed_report,
                         "both intel_quote and gateway_attestation"));
}

TEST(NearReportParse, BodySizeLimit) {
  // A valid report padded with white space to one byte over the limit; at the limit it parses.
  std::string body = text(attestation_object());
  body.resize(max_report_body_size, ' ');
  EXPECT_TRUE(parse_report_document(body));
  body.push_back(' ');
  EXPECT_TRUE(fails_with(parse_report_document(body), errc::malformed_report,
                         "report body is 8388609 bytes, over the limit of 8388608"));
}

TEST(NearReportParse, NestingDepthLimit) {
  const auto nested = [](std::size_t depth) {
    json::object o = attestation_object();
    std::string v = "1";
    for (std::size_t i = 0; i < depth; ++i) v = "[" + v + "]";
    std::string body = text(o);
    body.pop_back();
    return body + ",\"deep\":" + v + "}";
  };
  EXPECT_TRUE(parse_report_document(nested(max_report_json_depth - 1)));
  EXPECT_TRUE(fails_with(parse_report_document(nested(max_report_json_depth)), errc::malformed_report,
                         "report body is not JSON"));
}

// ---------------------------------------------------------------------------------------
// Gateway form

TEST(NearReportParse, GatewayFormListsGatewayThenModels) {
  const auto doc = parse_report_document(text(gateway_body(2)));
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->form, report_form::gateway);
  ASSERT_EQ(doc->attestations.size(), 3u);
  EXPECT_EQ(doc->attestations[0].json_pointer, "/gateway_attestation");
  EXPECT_EQ(doc->attestations[0].role, attestation_role::gateway);
  ASSERT_TRUE(doc->attestations[0].report_data);
  EXPECT_EQ(to_hex(*doc->attestations[0].report_data), std::string(64, '1') + nonce_hex);
  EXPECT_FALSE(doc->attestations[0].model_name);
  EXPECT_EQ(doc->attestations[1].json_pointer, "/model_attestations/0");
  EXPECT_EQ(doc->attestations[1].role, attestation_role::model);
  EXPECT_EQ(doc->attestations[2].json_pointer, "/model_attestations/1");
  EXPECT_EQ(doc->find("/model_attestations/1"), &doc->attestations[2]);
  // Each raw object is the one at its pointer, whatever its event_log encoding.
  for (const auto& a : doc->attestations) {
    boost::system::error_code ec;
    const json::value* at = doc->root->find_pointer(a.json_pointer, ec);
    ASSERT_NE(at, nullptr) << a.json_pointer;
    EXPECT_EQ(a.raw.get(), at->if_object()) << a.json_pointer;
  }
  EXPECT_TRUE(doc->attestations[0].raw->at("event_log").is_string());
  EXPECT_TRUE(doc->attestations[1].raw->at("event_log").is_array());
}

TEST(NearReportParse, GatewayFormMissingParts) {
  json::object b = gateway_body();
  b["gateway_attestation"] = "not an object";
  EXPECT_TRUE(fails_with(parse_report_document(text(b)), errc::malformed_report,
                         "/gateway_attestation must be an object, got string"));

  b = gateway_body();
  b.erase("model_attestations");
  EXPECT_TRUE(fails_with(parse_report_document(text(b)), errc::malformed_report, "/model_attestations is missing"));

  b = gateway_body();
  b["model_attestations"] = json::object{};
  EXPECT_TRUE(fails_with(parse_report_document(text(b)), errc::malformed_report,
                         "/model_attestations must be an array, got object"));

  b = gateway_body(0);
  EXPECT_TRUE(fails_with(parse_report_document(text(b)), errc::malformed_report, "/model_attestations is empty"));

  b = gateway_body();
  b["model_attestations"].as_array().push_back(7);
  EXPECT_TRUE(fails_with(parse_report_document(text(b)), errc::malformed_report,
                         "/model_attestations/1 must be an object, got int64"));

  b = gateway_body(2);
  b["model_attestations"].as_array()[1].as_object().erase("intel_quote");
  EXPECT_TRUE(fails_with(parse_report_document(text(b)), errc::malformed_report,
                         "/model_attestations/1/intel_quote is missing"));

  b = gateway_body();
  b["gateway_attestation"].as_object().erase("signing_address");
  EXPECT_TRUE(fails_with(parse_report_document(text(b)), errc::malformed_report,
                         "/gateway_attestation/signing_address is missing"));

  b = gateway_body();
  b["gateway_attestation"].as_object()["signing_algo"] = "rsa";
  EXPECT_TRUE(fails_with(parse_report_document(text(b)), errc::unsupported_signing_algo,
                         "/gateway_attestation/signing_algo"));

  // model_attestations alone is not a gateway report.
  b = gateway_body();
  b.erase("gateway_attestation");
  EXPECT_TRUE(fails_with(parse_report_document(text(b)), errc::malformed_report, "neither intel_quote"));

  EXPECT_TRUE(parse_report_document(text(gateway_body(max_model_attestations))));
  EXPECT_TRUE(fails_with(parse_report_document(text(gateway_body(max_model_attestations + 1))),
                         errc::malformed_report, "/model_attestations has 17 entries, over the limit of 16"));
}

TEST(NearReportParse, ToStringSpellings) {
  EXPECT_EQ(to_string(signing_algorithm::ecdsa), "ecdsa");
  EXPECT_EQ(to_string(signing_algorithm::ed25519), "ed25519");
  EXPECT_EQ(to_string(attestation_role::model), "model");
  EXPECT_EQ(to_string(attestation_role::gateway), "gateway");
  EXPECT_EQ(to_string(report_form::direct), "direct");
  EXPECT_EQ(to_string(report_form::gateway), "gateway");
  EXPECT_EQ(to_string(errc::malformed_report), "malformed_report");
  EXPECT_EQ(to_string(errc::unsupported_signing_algo), "unsupported_signing_algo");
  EXPECT_EQ(to_string(errc::missing_tls_fingerprint), "missing_tls_fingerprint");
  EXPECT_EQ(to_string(errc::fingerprint_mismatch), "fingerprint_mismatch");
  EXPECT_EQ(to_string(errc::report_data_binding), "report_data_binding");
  EXPECT_EQ(to_string(errc::nonce_mismatch), "nonce_mismatch");
  EXPECT_EQ(to_string(errc::quote_rejected), "quote_rejected");
  EXPECT_EQ(to_string(errc::collateral_mismatch), "collateral_mismatch");
  EXPECT_EQ(to_string(errc::invalid_argument), "invalid_argument");
}

// ---------------------------------------------------------------------------------------
// event_log, info, tcb_info, app_compose

json::object info_object() {
  return json::object{
      {"app_id", std::string(40, 'a')},
      {"instance_id", std::string(40, 'b')},
      {"app_name", "dstack-test"},
      {"compose_hash", std::string(64, 'c')},
      {"os_image_hash", std::string(64, 'd')},
      {"key_provider_info", "{\"name\":\"kms\",\"id\":\"3059\"}"},
      {"device_id", "ignored"},
      {"tcb_info", json::object{{"mrtd", std::string(96, '1')},
                                {"rtmr0", std::string(96, '2')},
                                {"rtmr3", std::string(96, '5')},
                                {"compose_hash", std::string(64, 'c')},
                                {"os_image_hash", std::string(64, 'd')},
                                {"app_compose", "{\"name\":\"x\"}"},
                                {"event_log", json::array{json::object{{"imr", 3}}}}}}};
}

TEST(NearReportParse, EventLogAndInfoAreDecoded) {
  json::object o = attestation_object();
  o["info"] = info_object();
  const auto doc = parse_report_document(text(o));
  ASSERT_TRUE(doc) << doc.error().message;
  const near_attestation& a = doc->attestations[0];
  ASSERT_TRUE(a.event_log);
  EXPECT_EQ(a.event_log->encoding, json_encoding::json);
  ASSERT_EQ(a.event_log->entries->size(), 1u);
  EXPECT_EQ(a.event_log->entries.get(), &a.raw->at("event_log").as_array());  // in place, not a copy
  ASSERT_TRUE(a.info);
  const dstack_info& info = *a.info;
  EXPECT_EQ(info.encoding, json_encoding::json);
  EXPECT_EQ(info.app_id, bytes(20, 0xaa));
  EXPECT_EQ(info.instance_id, bytes(20, 0xbb));
  EXPECT_EQ(info.app_name, "dstack-test");
  EXPECT_EQ(info.compose_hash, bytes(32, 0xcc));
  EXPECT_EQ(info.os_image_hash, bytes(32, 0xdd));
  EXPECT_EQ(info.key_provider_info, "{\"name\":\"kms\",\"id\":\"3059\"}");
  ASSERT_TRUE(info.tcb_info);
  const dstack_tcb_info& t = *info.tcb_info;
  EXPECT_EQ(to_hex(*t.mrtd), std::string(96, '1'));
  EXPECT_EQ(to_hex(*t.rtmr[0]), std::string(96, '2'));
  EXPECT_FALSE(t.rtmr[1]);
  EXPECT_FALSE(t.rtmr[2]);
  EXPECT_EQ(to_hex(*t.rtmr[3]), std::string(96, '5'));
  EXPECT_EQ(t.app_compose, "{\"name\":\"x\"}");
  ASSERT_TRUE(t.event_log);
  EXPECT_EQ(t.event_log->entries->size(), 1u);

  // Both are optional: the policy, not the parser, decides that their absence fails.
  o.erase("event_log");
  o.erase("info");
  const auto bare = parse_report_document(text(o));
  ASSERT_TRUE(bare) << bare.error().message;
  EXPECT_FALSE(bare->attestations[0].event_log);
  EXPECT_FALSE(bare->attestations[0].info);
}

TEST(NearReportParse, NestedJsonMayArriveAsStrings) {
  json::object o = attestation_object();
  json::object info = info_object();
  info["tcb_info"] = json::serialize(info["tcb_info"]);
  o["info"] = json::serialize(info);
  o["event_log"] = "[{\"imr\":0},{\"imr\":1}]";
  std::shared_ptr<const json::array> entries;
  std::optional<std::string> compose;
  {
    const auto doc = parse_report_document(text(o));
    ASSERT_TRUE(doc) << doc.error().message;
    const near_attestation& a = doc->attestations[0];
    EXPECT_EQ(a.event_log->encoding, json_encoding::json_string);
    EXPECT_EQ(a.info->encoding, json_encoding::json_string);
    EXPECT_EQ(a.info->tcb_info->encoding, json_encoding::json_string);
    EXPECT_EQ(a.info->app_id, bytes(20, 0xaa));
    entries = a.event_log->entries;
    compose = a.info->tcb_info->app_compose;
  }
  ASSERT_EQ(entries->size(), 2u);  // owns its own parsed document
  EXPECT_EQ((*entries)[1].at("imr"), 1);
  EXPECT_EQ(compose, "{\"name\":\"x\"}");
  EXPECT_EQ(to_string(json_encoding::json), "json");
  EXPECT_EQ(to_string(json_encoding::json_string), "json-string");
}

TEST(NearReportParse, AppComposeIsKeptAsTheExactBytesReceived) {
  // The manifest text (white space, key order, repeated keys, non-ASCII) is what dstack
  // hashed; only the outer JSON string escaping is undone.
  const std::string manifest = "{ \"a\": 1,\n\t\"a\": \"\xc3\xa9\" }";
  json::object o = attestation_object();
  json::object info = info_object();
  info["tcb_info"].as_object()["app_compose"] = manifest;
  o["info"] = info;
  std::string body = text(o);
  // Transport escapes in the body ("\u00e9" for é) decode to the same manifest bytes.
  const auto pos = body.find("\xc3\xa9");
  ASSERT_NE(pos, std::string::npos);
  body.replace(pos, 2, "\\u00e9");
  const auto doc = parse_report_document(body);
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->attestations[0].info->tcb_info->app_compose, manifest);
}

TEST(NearReportParse, EventLogAndInfoErrorsNameTheField) {
  const auto with_info = [](auto edit) {
    json::object o = attestation_object();
    json::object info = info_object();
    edit(info);
    o["info"] = info;
    return parse_report_document(text(o));
  };
  EXPECT_TRUE(fails_with(parse_with("event_log", 5), errc::malformed_report,
                         "/event_log must be an array or a string holding a JSON array, got int64"));
  EXPECT_TRUE(fails_with(parse_with("event_log", std::string("[{")), errc::malformed_report,
                         "/event_log is a string but not JSON text"));
  EXPECT_TRUE(fails_with(parse_with("event_log", std::string("{}")), errc::malformed_report,
                         "/event_log is a string holding JSON object, not an array"));
  json::array many(max_event_log_entries + 1, json::object{});
  EXPECT_TRUE(fails_with(parse_with("event_log", many), errc::malformed_report,
                         "/event_log has 4097 entries, over the limit of 4096"));
  EXPECT_TRUE(fails_with(parse_with("info", json::array{}), errc::malformed_report,
                         "/info must be an object or a string holding a JSON object, got array"));
  EXPECT_TRUE(fails_with(parse_with("info", std::string("[]")), errc::malformed_report,
                         "/info is a string holding JSON array, not an object"));
  EXPECT_TRUE(fails_with(with_info([](json::object& i) { i["app_id"] = "xyz"; }), errc::malformed_report,
                         "/info/app_id is not hex"));
  EXPECT_TRUE(fails_with(with_info([](json::object& i) { i["app_id"] = 5; }), errc::malformed_report,
                         "/info/app_id must be a string, got int64"));
  EXPECT_TRUE(fails_with(with_info([](json::object& i) { i["os_image_hash"] = std::string(130, 'a'); }),
                         errc::malformed_report, "/info/os_image_hash is 130 characters, over the limit of 128"));
  EXPECT_TRUE(fails_with(with_info([](json::object& i) { i["key_provider_info"] = json::object{}; }),
                         errc::malformed_report, "/info/key_provider_info must be a string, got object"));
  EXPECT_TRUE(fails_with(with_info([](json::object& i) { i["tcb_info"] = 1; }), errc::malformed_report,
                         "/info/tcb_info must be an object or a string holding a JSON object, got int64"));
  EXPECT_TRUE(fails_with(with_info([](json::object& i) { i["tcb_info"].as_object()["mrtd"] = std::string(94, '1'); }),
                         errc::malformed_report, "/info/tcb_info/mrtd must be 96 hex digits, got 94"));
  EXPECT_TRUE(fails_with(with_info([](json::object& i) { i["tcb_info"].as_object()["rtmr2"] = std::string(96, 'x'); }),
                         errc::malformed_report, "/info/tcb_info/rtmr2 is not hex"));
  EXPECT_TRUE(fails_with(with_info([](json::object& i) { i["tcb_info"].as_object()["app_compose"] = json::object{}; }),
                         errc::malformed_report, "/info/tcb_info/app_compose must be a string, got object"));
  EXPECT_TRUE(fails_with(with_info([](json::object& i) {
                           i["tcb_info"].as_object()["app_compose"] = std::string(max_app_compose_size + 1, 'x');
                         }),
                         errc::malformed_report, "/info/tcb_info/app_compose is 1048577 bytes, over the limit"));
  EXPECT_TRUE(fails_with(with_info([](json::object& i) { i["tcb_info"].as_object()["event_log"] = "nope"; }),
                         errc::malformed_report, "/info/tcb_info/event_log is a string but not JSON text"));
  // In the gateway form the pointer names the attestation.
  json::object gw = gateway_body();
  gw["gateway_attestation"].as_object()["event_log"] = "[";
  EXPECT_TRUE(fails_with(parse_report_document(text(gw)), errc::malformed_report,
                         "/gateway_attestation/event_log is a string but not JSON text"));
}

// ---------------------------------------------------------------------------------------
// Real captures

class NearReportCapture : public testing::TestWithParam<std::string> {};

TEST_P(NearReportCapture, ParsesEveryAttestationAsExpectedJsonLists) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto c = test::nearai::load_capture(GetParam());
  const auto doc = parse_report_document(c.body);
  ASSERT_TRUE(doc) << to_string(doc.error().kind) << ": " << doc.error().message;
  EXPECT_EQ(to_string(doc->form), str(c.expected.at("kind")));
  ASSERT_EQ(doc->attestations.size(), c.attestations().size());

  for (std::size_t i = 0; i < doc->attestations.size(); ++i) {
    const near_attestation& a = doc->attestations[i];
    const json::object& e = c.attestations()[i].as_object();
    SCOPED_TRACE(c.name + " " + str(e.at("json_pointer")));
    EXPECT_EQ(a.json_pointer, str(e.at("json_pointer")));
    EXPECT_EQ(to_string(a.role), str(e.at("role")));
    EXPECT_EQ(to_string(a.signing_algo), str(e.at("signing_algo")));
    EXPECT_EQ(format_signing_address(a.signing_algo, a.signing_address), str(e.at("signing_address")));
    EXPECT_EQ(static_cast<std::int64_t>(a.signing_address.size()), e.at("signing_address_bytes_len").as_int64());
    ASSERT_TRUE(a.tls_cert_fingerprint);
    EXPECT_EQ(to_hex(*a.tls_cert_fingerprint), str(e.at("tls_cert_fingerprint")));
    ASSERT_TRUE(a.request_nonce);
    EXPECT_EQ(to_hex(*a.request_nonce), str(e.at("request_nonce_field")));
    EXPECT_EQ(static_cast<std::int64_t>(a.intel_quote.size()), e.at("quote").at("size").as_int64());

    if (const auto* matches = e.if_contains("report_data_field_matches_quote")) {
      ASSERT_TRUE(a.report_data);
      EXPECT_EQ(to_hex(*a.report_data) == str(e.at("quote").at("report_data")), matches->as_bool());
    } else {
      EXPECT_FALSE(a.report_data);
    }
    if (a.role == attestation_role::model) {
      EXPECT_EQ(a.model_name, str(c.request.at("model")));
    }
    // Model reports carry signing_public_key; the gateway's object does not (§1.5).
    EXPECT_EQ(a.signing_public_key.has_value(), a.role == attestation_role::model);
    if (const auto* equals = e.if_contains("signing_public_key_equals_address")) {
      ASSERT_TRUE(a.signing_public_key);
      EXPECT_EQ(*a.signing_public_key == a.signing_address, equals->as_bool());
    }
    if (const auto* len = e.if_contains("signing_public_key_len")) {
      ASSERT_TRUE(a.signing_public_key);
      EXPECT_EQ(static_cast<std::int64_t>(a.signing_public_key->size()), len->as_int64());
    }

    // The raw object is the document's own and keeps the event log as it came (string at
    // the gateway, array in model reports) for the event-log checks.
    boost::system::error_code ec;
    const json::value* at = doc->root->find_pointer(a.json_pointer, ec);
    ASSERT_NE(at, nullptr);
    EXPECT_EQ(a.raw.get(), at->if_object());
    const json::value* log = a.raw->if_contains("event_log");
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->is_string() ? "json-string" : log->is_array() ? "array" : "other",
              str(e.at("event_log").at("encoding")));
  }
}

TEST_P(NearReportCapture, DecodesInfoAndAppComposeAsExpectedJsonLists) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto c = test::nearai::load_capture(GetParam());
  const auto doc = parse_report_document(c.body);
  ASSERT_TRUE(doc) << doc.error().message;
  for (std::size_t i = 0; i < doc->attestations.size(); ++i) {
    const near_attestation& a = doc->attestations[i];
    const json::object& e = c.attestations()[i].as_object();
    SCOPED_TRACE(c.name + " " + a.json_pointer);
    ASSERT_TRUE(a.event_log);
    EXPECT_EQ(a.event_log->encoding == json_encoding::json_string ? "json-string" : "array",
              str(e.at("event_log").at("encoding")));
    EXPECT_EQ(static_cast<std::int64_t>(a.event_log->entries->size()), e.at("event_log").at("entries").as_int64());
    ASSERT_TRUE(a.info);
    ASSERT_TRUE(a.info->tcb_info);
    const dstack_tcb_info& t = *a.info->tcb_info;
    ASSERT_TRUE(t.app_compose);
    EXPECT_EQ(to_hex(crypto::sha256(as_bytes(*t.app_compose))), str(e.at("app_compose").at("sha256")));
    EXPECT_EQ(to_hex(*a.info->app_id), str(e.at("app_id")));
    EXPECT_EQ(to_hex(*a.info->os_image_hash), str(e.at("os_image_hash")));
    EXPECT_EQ(a.info->app_name, str(e.at("app_name")));
    EXPECT_EQ(to_hex(*t.mrtd), str(e.at("quote").at("mrtd")));
    for (std::size_t r = 0; r < 4; ++r) {
      ASSERT_TRUE(t.rtmr[r]);
      EXPECT_EQ(to_hex(*t.rtmr[r]), str(e.at("quote").at("rtmr" + std::to_string(r))));
    }
    ASSERT_TRUE(a.info->key_provider_info);
    EXPECT_EQ(to_hex(as_bytes(*a.info->key_provider_info)), str(e.at("rtmr3_event_payloads").at("key-provider")));
    ASSERT_TRUE(t.event_log);
    EXPECT_EQ(t.event_log->entries->size(), a.event_log->entries->size());
  }
}

INSTANTIATE_TEST_SUITE_P(SharedVectors, NearReportCapture, testing::ValuesIn(test::nearai::capture_names()),
                         test::nearai::param_name);

}  // namespace
}  // namespace vp::attest
