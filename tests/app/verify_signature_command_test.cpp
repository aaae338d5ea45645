// `verified-proxy verify-signature`: NEAR's published ECDSA example against its exact bytes
// and its attested report, the published broken example, synthetic documents signed here
// against synthetic direct and gateway reports (signer selection by signature_kind), the
// JSON and line output, and exit codes.

#include "app/verify_signature_command.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/cli.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/secp256k1.hpp"
#include "support/command_test.hpp"
#include "support/testdata.hpp"

namespace vp::app {
namespace {

namespace json = boost::json;

using outcome = test::command_outcome;

outcome run_signature(const std::vector<std::string>& args) {
  return test::run_command(verify_signature_command, args);
}


json::object parse_or_fail(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  return v.is_object() ? v.as_object() : json::object{};
}

std::string shared(const std::filesystem::path& rel) { return (*test::shared_testdata_dir() / rel).string(); }

std::string str(const json::value& v) { return v.is_string() ? std::string(v.as_string()) : json::serialize(v); }

// ---------------------------------------------------------------------------------------
// The published example

std::vector<std::string> docs_example_args() {
  const std::filesystem::path dir = "signatures/docs-2026-06-ecdsa";
  return {"--signature", shared(dir / "signature.json"),
          "--request",   shared(dir / "request_body.json"),
          "--response",  shared(dir / "response_body.sse"),
          "--report",    shared("nearai/direct-2026-03-22-ecdsa/report.json"),
          "--model",     "Qwen/Qwen3.5-122B-A10B",
          "--json"};
}

TEST(VerifySignatureCommand, DocsExampleVerifiesAgainstItsBytesAndAttestedKey) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto r = run_signature(docs_example_args());
  ASSERT_EQ(r.code, exit_ok) << r.out << r.err;
  const json::object o = parse_or_fail(r.out);
  EXPECT_EQ(o.at("ok"), true);
  EXPECT_EQ(o.at("signer"), "0x6525e128afcffebf7eed05d485d7be983cdae934");
  EXPECT_EQ(o.at("signing_algo"), "ecdsa");
  EXPECT_EQ(o.at("text_format"), "model");
  EXPECT_EQ(o.at("model"), "Qwen/Qwen3.5-122B-A10B");
  EXPECT_EQ(o.at("request_hash_matches"), true);
  EXPECT_EQ(o.at("response_hash_matches"), true);
  EXPECT_EQ(o.at("model_matches"), true);
  EXPECT_EQ(o.at("signer_attested"), true);
  EXPECT_EQ(o.at("report_attestation"), "");
  EXPECT_TRUE(o.at("failed_check").is_null());
  EXPECT_TRUE(o.at("signature_kind").is_null());

  // Lines: one per check, and the verdict.
  auto args = docs_example_args();
  args.pop_back();
  const auto lines = run_signature(args);
  ASSERT_EQ(lines.code, exit_ok) << lines.out << lines.err;
  EXPECT_NE(lines.out.find("Result: VALID"), std::string::npos) << lines.out;
  EXPECT_NE(lines.out.find("response hash  MATCH"), std::string::npos) << lines.out;
  EXPECT_NE(lines.out.find("quotes were not verified"), std::string::npos) << lines.out;
}

TEST(VerifySignatureCommand, DocsExampleWithOnlyTheSignatureChecksNothingElse) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto r = run_signature({"--signature", shared("signatures/docs-2026-06-ecdsa/signature.json"), "--json"});
  ASSERT_EQ(r.code, exit_ok) << r.out << r.err;
  const json::object o = parse_or_fail(r.out);
  EXPECT_EQ(o.at("ok"), true);
  for (const char* unchecked : {"request_hash_matches", "response_hash_matches", "model_matches", "signer_attested",
                                "report_attestation"}) {
    EXPECT_TRUE(o.at(unchecked).is_null()) << unchecked;
  }
}

TEST(VerifySignatureCommand, OneChangedResponseByteIsRejected) {
  VP_REQUIRE_SHARED_TESTDATA();
  test::temp_dir dir;
  std::string response = test::read_shared("signatures/docs-2026-06-ecdsa/response_body.sse");
  response[response.find("data:")] = 'D';
  auto args = docs_example_args();
  args[5] = dir.write("response.sse", response);
  const auto r = run_signature(args);
  ASSERT_EQ(r.code, exit_rejected) << r.out << r.err;
  const json::object o = parse_or_fail(r.out);
  EXPECT_EQ(o.at("ok"), false);
  EXPECT_EQ(o.at("failed_check"), "response_hash_mismatch");
  EXPECT_EQ(o.at("request_hash_matches"), true);
  EXPECT_EQ(o.at("response_hash_matches"), false);
  EXPECT_EQ(o.at("signer_attested"), true);
}

TEST(VerifySignatureCommand, OneChangedRequestByteIsRejected) {
  VP_REQUIRE_SHARED_TESTDATA();
  test::temp_dir dir;
  std::string request = test::read_shared("signatures/docs-2026-06-ecdsa/request_body.json");
  request[request.find("true")] = 'T';
  auto args = docs_example_args();
  args[3] = dir.write("request.json", request);
  const auto r = run_signature(args);
  ASSERT_EQ(r.code, exit_rejected) << r.out << r.err;
  EXPECT_EQ(parse_or_fail(r.out).at("failed_check"), "request_hash_mismatch");
}

TEST(VerifySignatureCommand, ReportWithOtherKeysIsRejected) {
  VP_REQUIRE_SHARED_TESTDATA();
  auto args = docs_example_args();
  // An ed25519-only gateway report: its one model attestation has another algorithm.
  args[7] = shared("nearai/gateway-2026-06-29/report.json");
  auto r = run_signature(args);
  ASSERT_EQ(r.code, exit_rejected) << r.out << r.err;
  json::object o = parse_or_fail(r.out);
  EXPECT_EQ(o.at("failed_check"), "signing_algo_mismatch");
  EXPECT_EQ(o.at("signer_attested"), false);
  EXPECT_EQ(o.at("signer"), "0x6525e128afcffebf7eed05d485d7be983cdae934");  // the signature itself holds
}

TEST(VerifySignatureCommand, DocsBrokenExampleIsRejected) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto r = run_signature({"--signature", shared("signatures/docs-2025-11-broken/signature.json"), "--json"});
  ASSERT_EQ(r.code, exit_rejected) << r.out << r.err;
  const json::object o = parse_or_fail(r.out);
  EXPECT_EQ(o.at("failed_check"), "signature_invalid");
  EXPECT_TRUE(o.at("signer").is_null());
  EXPECT_EQ(o.at("text_format"), "hashes");
}

// ---------------------------------------------------------------------------------------
// Synthetic documents and reports

const std::string request_body = R"({"model":"m/one","messages":[]})";
const std::string response_body = R"({"id":"chatcmpl-1","choices":[]})";

std::string signed_text() {
  return "m/one:" + to_hex(crypto::sha256(as_bytes(request_body))) + ":" +
         to_hex(crypto::sha256(as_bytes(response_body)));
}

crypto::secp256k1::keypair ecdsa_key(std::uint8_t fill) { return crypto::secp256k1::from_secret(bytes(32, fill)).value(); }
crypto::ed25519::keypair ed25519_key(std::uint8_t fill) { return crypto::ed25519::from_seed(bytes(32, fill)).value(); }

std::string ecdsa_address(const crypto::secp256k1::keypair& k) {
  return "0x" + to_hex(crypto::secp256k1::ethereum_address(k.public_key).value());
}

json::object ecdsa_document(const crypto::secp256k1::keypair& k, const std::string& text) {
  const auto rsv = crypto::secp256k1::sign_recoverable(k, crypto::secp256k1::personal_message_digest(text)).value();
  return {{"text", text}, {"signature", "0x" + to_hex(rsv)}, {"signing_address", ecdsa_address(k)},
          {"signing_algo", "ecdsa"}};
}

json::object ed25519_document(const crypto::ed25519::keypair& k, const std::string& text,
                              std::optional<std::string> kind) {
  json::object o{{"text", text},
                 {"signature", to_hex(crypto::ed25519::sign(k, as_bytes(text)))},
                 {"signing_address", to_hex(k.public_key)},
                 {"signing_algo", "ed25519"}};
  if (kind) o["signature_kind"] = *kind;
  return o;
}

/// An attestation object with a placeholder quote: verify-signature reads only its key.
json::object attestation(std::string_view algo, const std::string& address) {
  return {{"intel_quote", "00"}, {"signing_algo", algo}, {"signing_address", address}, {"model_name", "m/one"}};
}

std::string gateway_report(const crypto::ed25519::keypair& gateway, const std::vector<std::string>& model_keys) {
  json::array models;
  for (const auto& k : model_keys) models.push_back(attestation("ed25519", k));
  return json::serialize(json::object{{"gateway_attestation", attestation("ed25519", to_hex(gateway.public_key))},
                                      {"model_attestations", std::move(models)}});
}

class VerifySignatureSynthetic : public testing::Test {
 protected:
  std::vector<std::string> args(const json::object& document, const std::string& report) {
    return {"--signature", dir_.write("sig-" + std::to_string(n_) + ".json", json::serialize(document)),
            "--request",   dir_.write("request.json", request_body),
            "--response",  dir_.write("response.json", response_body),
            "--report",    dir_.write("report-" + std::to_string(n_++) + ".json", report),
            "--json"};
  }
  json::object run_json(const std::vector<std::string>& a, int expected_code) {
    const auto r = run_signature(a);
    EXPECT_EQ(r.code, expected_code) << r.out << r.err;
    return parse_or_fail(r.out);
  }

  test::temp_dir dir_;
  int n_ = 0;
};

TEST_F(VerifySignatureSynthetic, EcdsaAgainstADirectReport) {
  const auto key = ecdsa_key(1);
  const auto doc = ecdsa_document(key, signed_text());
  auto o = run_json(args(doc, json::serialize(attestation("ecdsa", ecdsa_address(key)))), exit_ok);
  EXPECT_EQ(str(o.at("signer")), ecdsa_address(key));
  EXPECT_EQ(o.at("signer_attested"), true);
  EXPECT_EQ(o.at("request_hash_matches"), true);
  EXPECT_EQ(o.at("response_hash_matches"), true);

  // The report's key is another one: the signature holds, the signer is not the attested one.
  o = run_json(args(doc, json::serialize(attestation("ecdsa", ecdsa_address(ecdsa_key(2))))), exit_rejected);
  EXPECT_EQ(o.at("failed_check"), "signer_mismatch");
  EXPECT_EQ(o.at("signer_attested"), false);
  EXPECT_EQ(str(o.at("signer")), ecdsa_address(key));

  // A direct report is a model CVM's: it cannot vouch for a gateway's own signature.
  json::object as_gateway = doc;
  as_gateway["signature_kind"] = "gateway";
  o = run_json(args(as_gateway, json::serialize(attestation("ecdsa", ecdsa_address(key)))), exit_rejected);
  EXPECT_EQ(o.at("failed_check"), "signer_mismatch");
}

TEST_F(VerifySignatureSynthetic, GatewayReportPicksTheModelAttestationWithTheSignersKey) {
  const auto gateway = ed25519_key(9);
  const auto model = ed25519_key(1);
  const std::string other = to_hex(ed25519_key(2).public_key);
  const std::string report = gateway_report(gateway, {other, to_hex(model.public_key)});
  for (const std::optional<std::string>& kind : {std::optional<std::string>("provider_tee"), std::optional<std::string>()}) {
    auto o = run_json(args(ed25519_document(model, signed_text(), kind), report), exit_ok);
    EXPECT_EQ(o.at("report_attestation"), "/model_attestations/1");
    EXPECT_EQ(o.at("signer_attested"), true);
  }
  // The same key in two model attestations: which CVM served the request is unknown.
  auto o = run_json(args(ed25519_document(model, signed_text(), "provider_tee"),
                         gateway_report(gateway, {to_hex(model.public_key), to_hex(model.public_key)})),
                    exit_rejected);
  EXPECT_EQ(o.at("failed_check"), "signer_ambiguous");
  // No model attestation with the key.
  o = run_json(args(ed25519_document(model, signed_text(), "provider_tee"), gateway_report(gateway, {other, other})),
               exit_rejected);
  EXPECT_EQ(o.at("failed_check"), "signer_mismatch");
  // A model signature is never bound to the gateway's key, even when that key signed it.
  o = run_json(args(ed25519_document(gateway, signed_text(), "provider_tee"), report), exit_rejected);
  EXPECT_EQ(o.at("failed_check"), "signer_mismatch");
}

TEST_F(VerifySignatureSynthetic, GatewayKindIsBoundToTheGatewayAttestation) {
  const auto gateway = ed25519_key(9);
  const auto model = ed25519_key(1);
  const std::string report = gateway_report(gateway, {to_hex(model.public_key)});
  const std::string hashes = to_hex(crypto::sha256(as_bytes(request_body))) + ":" +
                             to_hex(crypto::sha256(as_bytes(response_body)));
  auto o = run_json(args(ed25519_document(gateway, hashes, "gateway"), report), exit_ok);
  EXPECT_EQ(o.at("report_attestation"), "/gateway_attestation");
  EXPECT_EQ(o.at("text_format"), "hashes");
  EXPECT_TRUE(o.at("model").is_null());
  // Signed by the model key but claiming to be the gateway's.
  o = run_json(args(ed25519_document(model, hashes, "gateway"), report), exit_rejected);
  EXPECT_EQ(o.at("failed_check"), "signer_mismatch");
  // A kind this verifier does not know binds to nothing.
  o = run_json(args(ed25519_document(gateway, hashes, "someone_else"), report), exit_rejected);
  EXPECT_EQ(o.at("failed_check"), "signer_mismatch");
}

TEST_F(VerifySignatureSynthetic, ModelFlagIsComparedExactly) {
  const auto key = ecdsa_key(1);
  auto a = args(ecdsa_document(key, signed_text()), json::serialize(attestation("ecdsa", ecdsa_address(key))));
  a.insert(a.end() - 1, {"--model", "m/one"});
  EXPECT_EQ(run_json(a, exit_ok).at("model_matches"), true);
  a[a.size() - 2] = "M/one";
  const auto o = run_json(a, exit_rejected);
  EXPECT_EQ(o.at("failed_check"), "model_mismatch");
  EXPECT_EQ(o.at("model_matches"), false);
}

TEST_F(VerifySignatureSynthetic, UnavailableAndMalformedDocumentsAreRejected) {
  const std::string report = json::serialize(attestation("ecdsa", ecdsa_address(ecdsa_key(1))));
  auto o = run_json(args(json::object{{"error_code", "not_found"}, {"message", "client disconnected"}}, report),
                    exit_rejected);
  EXPECT_EQ(o.at("failed_check"), "signature_unavailable");
  EXPECT_TRUE(o.at("signer").is_null());
  json::object bad = ecdsa_document(ecdsa_key(1), signed_text());
  bad["signature"] = "0x1234";
  o = run_json(args(bad, report), exit_rejected);
  EXPECT_EQ(o.at("failed_check"), "signature_malformed");
  // Lines name the check too.
  auto a = args(bad, report);
  a.pop_back();
  const auto r = run_signature(a);
  EXPECT_EQ(r.code, exit_rejected);
  EXPECT_NE(r.out.find("Result: INVALID: signature_malformed"), std::string::npos) << r.out;
}

TEST_F(VerifySignatureSynthetic, UnreadableReportIsRejectedAfterTheSignature) {
  const auto key = ecdsa_key(1);
  auto o = run_json(args(ecdsa_document(key, signed_text()), "{\"neither\":1}"), exit_rejected);
  EXPECT_EQ(o.at("failed_check"), "report_malformed");
  EXPECT_EQ(str(o.at("signer")), ecdsa_address(key));
  EXPECT_EQ(o.at("signer_attested"), false);
  // A bad signature is the first failure even with a bad report.
  json::object tampered = ecdsa_document(key, signed_text());
  tampered["text"] = "m/two:" + std::string(tampered.at("text").as_string()).substr(6);
  o = run_json(args(tampered, "{}"), exit_rejected);
  EXPECT_EQ(o.at("failed_check"), "signature_invalid");
}

TEST(VerifySignatureCommand, UsageErrorsExitTwo) {
  test::temp_dir dir;
  const std::string sig = dir.write("sig.json", "{}");
  EXPECT_EQ(run_signature({}).code, exit_usage);
  EXPECT_EQ(run_signature({"--request", sig}).code, exit_usage);
  EXPECT_EQ(run_signature({"--signature", sig, "--bogus"}).code, exit_usage);
  EXPECT_EQ(run_signature({"--signature"}).code, exit_usage);
  const std::string missing = (dir.path() / "missing.json").string();
  for (const char* flag : {"--signature", "--request", "--response", "--report"}) {
    std::vector<std::string> a{"--signature", sig};
    if (std::string_view(flag) == "--signature") a.clear();
    a.insert(a.end(), {flag, missing});
    const auto r = run_signature(a);
    EXPECT_EQ(r.code, exit_usage) << flag;
    EXPECT_NE(r.err.find("cannot read"), std::string::npos) << r.err;
  }
  // Over the signature document's bound: not a signature answer.
  EXPECT_EQ(run_signature({"--signature", dir.write("big.json", std::string(70000, ' '))}).code, exit_usage);
}

TEST(VerifySignatureCommand, HelpThroughTheCommandLine) {
  std::ostringstream out, err;
  EXPECT_EQ(run({"verify-signature", "--help"}, out, err), exit_ok);
  EXPECT_NE(out.str().find("--signature"), std::string::npos);
  EXPECT_NE(out.str().find("NOT verify the report's quotes"), std::string::npos) << out.str();
  std::ostringstream top, top_err;
  EXPECT_EQ(run({"--help"}, top, top_err), exit_ok);
  EXPECT_NE(top.str().find("verify-signature"), std::string::npos);
}

}  // namespace
}  // namespace vp::app

namespace vp::app {
namespace {

TEST(VerifySignatureCommand, WithAReportTheTextMustNameItsModel) {
  VP_REQUIRE_SHARED_TESTDATA();
  test::temp_dir dir;
  const std::string report = test::read_shared("nearai/direct-2026-03-22-ecdsa/report.json");
  auto parsed = json::parse(report).as_object();
  const std::string signature = test::read_shared("signatures/docs-2026-06-ecdsa/signature.json");
  const std::string sig_file = dir.write("signature.json", signature);
  // The attested model_name is the one the text names: verified.
  const auto named = run_signature({"--signature", sig_file, "--report", dir.write("attested.json", report), "--json"});
  EXPECT_EQ(named.code, 0) << named.out << named.err;
  EXPECT_EQ(json::parse(named.out).at("model_matches"), true);
  // The same key reporting another model: the text does not name it.
  parsed["model_name"] = "other/model";
  const auto other =
      run_signature({"--signature", sig_file, "--report", dir.write("report.json", json::serialize(parsed)), "--json"});
  EXPECT_EQ(other.code, 1) << other.out << other.err;
  EXPECT_EQ(json::parse(other.out).at("failed_check"), "model_mismatch");
}

}  // namespace
}  // namespace vp::app
