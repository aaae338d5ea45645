#include "app/verify_signature_command.hpp"

#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include "app/cli.hpp"
#include "app/program.hpp"
#include "attest/near_report.hpp"
#include "core/file.hpp"
#include "core/text.hpp"
#include "crypto/digest.hpp"
#include "signature/response_signature.hpp"

namespace vp::app {
namespace po = boost::program_options;
namespace json = boost::json;

namespace {

constexpr const char* usage =
    "Usage: verified-proxy verify-signature --signature FILE [--request FILE] [--response FILE]\n"
    "                                       [--report FILE] [--model NAME] [--json]\n"
    "\n"
    "Verifies a saved NEAR AI response signature (the JSON of GET /v1/signature/{chat_id}) offline: the ecdsa\n"
    "(EIP-191) or ed25519 signature over its text \"[model:]sha256(request):sha256(response)\", the hashes against\n"
    "the exact request and response bytes, the model name, and that the signer is the key the given attestation\n"
    "report names. --report checks the key identity only: it does NOT verify the report's quotes, their binding\n"
    "or the workload (run `verified-proxy verify-report` on the same report for that).\n"
    "Prints one line per check, or one JSON object with --json:\n"
    "{\"ok\",\"signer\",\"signing_algo\",\"signature_kind\",\"text_format\",\"model\",\"request_hash_matches\",\n"
    " \"response_hash_matches\",\"model_matches\",\"signer_attested\",\"report_attestation\",\"failed_check\",\"message\"}\n"
    "(null for what was not checked).\n"
    "Exit status: 0 valid, 1 invalid (or the document is malformed / says unavailable), 2 usage error or unreadable\n"
    "input.\n";

/// The signature document is bounded like the parser bounds it; a larger file is not one.
constexpr std::size_t max_signature_file_size = 64 * 1024;
/// Request and response bodies are hashed whole; streams of long completions stay far below.
constexpr std::size_t max_body_file_size = 256u << 20;

/// Which report attestation the signature must be by (§3.6), or why none can be.
struct attested_signer {
  std::optional<signature::expected_signer> signer;
  std::string json_pointer;
  std::string failed_check;  ///< empty when `signer` is set
  std::string message;
  /// The model CVM's model_name (§3.2: the signed text must name it).
  std::optional<std::string> model_name{};
};

attested_signer signer_of(const attest::near_attestation& a) {
  std::optional<std::string> model;
  if (a.role == attest::attestation_role::model) model = a.model_name;
  return {signature::expected_signer{a.signing_algo, a.signing_address}, a.json_pointer, {}, {}, std::move(model)};
}

attested_signer no_signer(std::string check, std::string message) {
  return {std::nullopt, {}, std::move(check), std::move(message), std::nullopt};
}

std::string label(const std::string& pointer) { return pointer.empty() ? std::string("(top level)") : pointer; }

/// §3.6: a model signature (direct, or the gateway's "provider_tee") is by a model
/// attestation — the one whose key signed it, which must be unique; a "gateway" one is by
/// gateway_attestation.
attested_signer select_signer(const attest::near_report_document& report, const signature::signature_document& doc) {
  const std::string kind = doc.signature_kind.value_or("provider_tee");
  if (kind != "provider_tee" && kind != "gateway") {
    return no_signer("signer_mismatch", "signature_kind " + text::quoted_excerpt(kind, 40) +
                                            " is neither \"provider_tee\" nor \"gateway\": no attestation to bind");
  }
  if (kind == "gateway") {
    const attest::near_attestation* gateway = report.find("/gateway_attestation");
    if (gateway == nullptr) {
      return no_signer("signer_mismatch",
                       "the signature is the gateway's own (signature_kind \"gateway\"), but the report is a model "
                       "CVM's (direct form) with no gateway_attestation");
    }
    return signer_of(*gateway);
  }
  if (report.form == attest::report_form::direct) return signer_of(report.attestations.at(0));

  std::vector<const attest::near_attestation*> models;
  std::vector<const attest::near_attestation*> matching;
  for (const auto& a : report.attestations) {
    if (a.role != attest::attestation_role::model) continue;
    models.push_back(&a);
    if (a.signing_algo == doc.signing_algo && equal_bytes(a.signing_address, doc.signing_address)) {
      matching.push_back(&a);
    }
  }
  if (matching.size() == 1) return signer_of(*matching.front());
  if (matching.size() > 1) {
    // Several CVMs can share one KMS-derived key; which of them served the request is
    // then unknown, and so is which attestation (measurements, GPUs) vouches for it.
    return no_signer("signer_ambiguous", std::to_string(matching.size()) +
                                             " model attestations in the report have the signer's key; the report "
                                             "does not say which one served the request");
  }
  // With one model attestation, let the comparison name what differs (algorithm or key).
  if (models.size() == 1) return signer_of(*models.front());
  return no_signer("signer_mismatch", "none of the report's " + std::to_string(models.size()) +
                                          " model attestations has the signer's " +
                                          std::string(attest::to_string(doc.signing_algo)) + " key " +
                                          attest::format_signing_address(doc.signing_algo, doc.signing_address));
}

json::value optional_bool(const std::optional<bool>& b) { return b ? json::value(*b) : json::value(nullptr); }

std::string check_line(std::string_view name, const std::optional<bool>& matches, std::string_view unchecked_why,
                       std::string_view detail = {}) {
  std::ostringstream line;
  line << "  " << std::left << std::setw(14) << name << " ";
  if (!matches) {
    line << "not checked (" << unchecked_why << ")";
  } else {
    line << (*matches ? "MATCH" : "MISMATCH");
    if (!detail.empty()) line << "  " << detail;
  }
  return line.str();
}

struct outcome {
  std::optional<signature::signature_document> doc;
  signature::verification verification;
  /// The signature document itself could not be used (signature_unavailable / _malformed).
  std::optional<signature::document_error> document_failure;
  bool report_given = false;
  attested_signer attested;
  std::string failed_check;
  std::string message;

  bool ok() const { return failed_check.empty(); }
  /// Whether the signer is the key the report names; nullopt without --report or when
  /// the signature itself did not verify.
  std::optional<bool> signer_attested() const {
    if (!report_given || verification.signer.empty()) return std::nullopt;
    return failed_check != "signing_algo_mismatch" && failed_check != "signer_mismatch" &&
           failed_check != "signer_ambiguous" && failed_check != "report_malformed";
  }
};

void print_text(std::ostream& out, const outcome& o) {
  if (o.document_failure) {
    out << "Result: INVALID: " << o.document_failure->code << ": " << o.document_failure->message << '\n';
    return;
  }
  const auto& doc = *o.doc;
  const auto& v = o.verification;
  out << "Signature: " << attest::to_string(doc.signing_algo) << " by "
      << attest::format_signing_address(doc.signing_algo, doc.signing_address);
  if (doc.signature_kind) out << " (signature_kind " << *doc.signature_kind << ")";
  out << (v.signer.empty() ? ": does not verify" : ": verifies") << '\n';
  if (v.text) {
    out << "Text: " << signature::to_string(v.text->format) << " form";
    if (v.text->format == signature::text_format::model) out << ", model " << v.text->model;
    out << '\n';
  }
  if (!v.signer.empty()) {
    out << check_line("signer", o.signer_attested(), "no --report",
                      o.attested.signer ? "the key of " + label(o.attested.json_pointer) + " in the report" : "")
        << '\n';
    out << check_line("request hash", v.request_hash_matches, "no --request") << '\n';
    out << check_line("response hash", v.response_hash_matches, "no --response") << '\n';
    out << check_line("model", v.model_matches, "no --model, and no model_name in a --report") << '\n';
    if (o.report_given) out << "  (the report's quotes were not verified here: run verify-report on it)\n";
  }
  out << (o.ok() ? "Result: VALID: " : "Result: INVALID: " + o.failed_check + ": ") << o.message << '\n';
}

void print_json(std::ostream& out, const outcome& o) {
  json::object result{{"ok", o.ok()},
                      {"signer", nullptr},
                      {"signing_algo", nullptr},
                      {"signature_kind", nullptr},
                      {"text_format", nullptr},
                      {"model", nullptr},
                      {"request_hash_matches", nullptr},
                      {"response_hash_matches", nullptr},
                      {"model_matches", nullptr},
                      {"signer_attested", nullptr},
                      {"report_attestation", nullptr},
                      {"failed_check", o.ok() ? json::value(nullptr) : json::value(o.failed_check)},
                      {"message", o.message}};
  if (o.doc) {
    const auto& v = o.verification;
    result["signing_algo"] = attest::to_string(o.doc->signing_algo);
    if (o.doc->signature_kind) result["signature_kind"] = *o.doc->signature_kind;
    if (!v.signer.empty()) result["signer"] = v.signer;
    if (v.text) {
      result["text_format"] = signature::to_string(v.text->format);
      if (v.text->format == signature::text_format::model) result["model"] = v.text->model;
    }
    result["request_hash_matches"] = optional_bool(v.request_hash_matches);
    result["response_hash_matches"] = optional_bool(v.response_hash_matches);
    result["model_matches"] = optional_bool(v.model_matches);
    result["signer_attested"] = optional_bool(o.signer_attested());
    if (o.attested.signer) result["report_attestation"] = o.attested.json_pointer;
  }
  out << json::serialize(result) << '\n';
}

/// Reads a flag's file whole, or says why not on `err`.
std::optional<std::string> read_input(const po::variables_map& vm, const char* flag, std::size_t limit,
                                      std::ostream& err) {
  const std::string path = vm[flag].as<std::string>();
  auto content = read_file(path, limit);
  if (!content) {
    err << "verify-signature: cannot read --" << flag << " " << path << " (missing, unreadable or over "
        << text::size_text(limit) << ")\n";
  }
  return content;
}

}  // namespace

int verify_signature_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto options = options_group("verify-signature options");
  options.add_options()
      ("help,h", "show this help")
      ("version", "print the version and exit")
      ("signature", po::value<std::string>()->value_name("FILE"),
       "the JSON answer of GET /v1/signature/{chat_id}, as received")
      ("request", po::value<std::string>()->value_name("FILE"),
       "the exact request body bytes sent (its SHA-256 must be the signed request hash)")
      ("response", po::value<std::string>()->value_name("FILE"),
       "the exact response bytes received: the JSON body, or every byte of the SSE stream (its SHA-256 must be the "
       "signed response hash)")
      ("report", po::value<std::string>()->value_name("FILE"),
       "a NEAR AI attestation report (direct or gateway form) whose attested key must be the signer; its quotes are "
       "NOT verified here (use verify-report)")
      ("model", po::value<std::string>()->value_name("NAME"),
       "the model you asked for (compared with the text's; default with --report: the attested model_name)")
      ("json", "print one JSON object instead of lines");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    err << "verify-signature: " << e.what() << "\n\n" << help_hint("verified-proxy verify-signature") << '\n';
    return exit_usage;
  }
  if (vm.count("help") != 0) {
    out << usage << '\n' << options;
    return exit_ok;
  }
  if (vm.count("version") != 0) {
    out << version_line("verified-proxy") << '\n';
    return exit_ok;
  }
  if (vm.count("signature") == 0) {
    err << "verify-signature: --signature is required\n\n" << help_hint("verified-proxy verify-signature") << '\n';
    return exit_usage;
  }
  const auto signature_text = read_input(vm, "signature", max_signature_file_size, err);
  if (!signature_text) return exit_usage;
  signature::expectations expected;
  if (vm.count("request") != 0) {
    const auto request = read_input(vm, "request", max_body_file_size, err);
    if (!request) return exit_usage;
    expected.request_hash = crypto::sha256(as_bytes(*request));
  }
  if (vm.count("response") != 0) {
    const auto response = read_input(vm, "response", max_body_file_size, err);
    if (!response) return exit_usage;
    expected.response_hash = crypto::sha256(as_bytes(*response));
  }
  std::optional<std::string> report_text;
  if (vm.count("report") != 0) {
    report_text = read_input(vm, "report", attest::max_report_body_size, err);
    if (!report_text) return exit_usage;
  }
  if (vm.count("model") != 0) expected.model = vm["model"].as<std::string>();
  const bool as_json = vm.count("json") != 0;

  outcome o;
  o.report_given = report_text.has_value();
  auto doc = signature::parse_signature_document(*signature_text);
  if (!doc) {
    o.document_failure = doc.error();
    o.failed_check = doc.error().code;
    o.message = doc.error().message;
  } else {
    o.doc = std::move(*doc);
    if (report_text) {
      auto report = attest::parse_report_document(*report_text);
      if (!report) {
        o.attested = no_signer("report_malformed", "the report cannot be read: " +
                                                       std::string(attest::to_string(report.error().kind)) + ": " +
                                                       report.error().message);
      } else {
        o.attested = select_signer(*report, *o.doc);
      }
      expected.signer = o.attested.signer;
      // Without --model, the text must name the model the attested CVM reports it serves.
      if (!expected.model && o.attested.model_name) expected.model = o.attested.model_name;
    }
    o.verification = signature::verify(*o.doc, expected);
    o.failed_check = o.verification.failed_check;
    o.message = o.verification.message;
    // A report that names no signer fails where the signer comparison stands: after the
    // signature itself, before the hashes and the model.
    const bool signature_failed = o.failed_check == "text_malformed" || o.failed_check == "signature_malformed" ||
                                  o.failed_check == "signature_invalid";
    if (!o.attested.failed_check.empty() && !signature_failed) {
      o.failed_check = o.attested.failed_check;
      o.message = o.attested.message;
    }
  }
  if (as_json) {
    print_json(out, o);
  } else {
    print_text(out, o);
  }
  return o.ok() ? exit_ok : exit_rejected;
}

}  // namespace vp::app
