#include "app/verify_report_command.hpp"

#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <optional>

#include "app/cli.hpp"
#include "app/collateral_options.hpp"
#include "app/factor_report.hpp"
#include "app/program.hpp"
#include "appraise/appraisal.hpp"
#include "attest/attestation_verifier.hpp"
#include "attest/near_report.hpp"
#include "collateral/bundle.hpp"
#include "core/file.hpp"
#include "core/hex.hpp"
#include "core/text.hpp"
#include "core/time.hpp"
#include "policy/policy.hpp"
#include "tdx/verifier.hpp"

namespace vp::app {
namespace po = boost::program_options;
namespace json = boost::json;

namespace {

constexpr const char* usage =
    "Usage: verified-proxy verify-report --report FILE --nonce HEX [--spki-sha256 HEX] --collateral FILE|DIR\n"
    "                                    [--policy FILE] [--model NAME] [--root-ca PEM] [--nvidia-root-ca PEM]\n"
    "                                    [--gpu-crl-dir DIR]\n"
    "                                    [--nras-response FILE --nras-jwks FILE [--nras-key-pin SHA256]]\n"
    "                                    [--at UNIX_SECONDS] [--json]\n"
    "       verified-proxy verify-report --print-default-policy\n"
    "\n"
    "Verifies a saved NEAR AI attestation report (GET /v1/attestation/report, direct or gateway form) offline:\n"
    "every Intel TDX quote in it against the collateral, report_data against the nonce you sent and the TLS key\n"
    "you saw, and the workload policy (event-log replay, compose / app / KMS bindings, measurements, TCB status).\n"
    "Without --spki-sha256 (a capture that did not record the key) the report is tied to no TLS connection: the\n"
    "binding factor is skipped and the summary says so. Prints what is proven and what is not, then a table of\n"
    "factors, or one JSON object with --json:\n"
    "{\"ok\":…,\"factors\":[{\"attestation\",\"name\",\"status\",\"detail\"}…],\"attestations\":[…],…}.\n"
    "Exit status: 0 every enforced factor passes, 1 a factor fails, 2 usage error or unreadable input.\n";

/// Reports are untrusted and bounded like the proxy bounds them.
constexpr std::size_t max_report_file_size = attest::max_report_body_size;

policy::factor make_factor(std::string name, policy::factor_status status, std::string detail) {
  return policy::factor{std::move(name), status, std::move(detail)};
}

std::optional<sha256_digest> parse_digest_flag(const std::string& text) {
  auto decoded = from_hex(text);
  if (!decoded || decoded->size() != 32) return std::nullopt;
  sha256_digest d{};
  std::copy(decoded->begin(), decoded->end(), d.begin());
  return d;
}

// Collateral for one quote platform: a directory is searched for it (a capture's pcs/
// holds the gateway's platform in pcs/gateway/), a file is used as given.
collateral::result<tdx::collateral_v3> collateral_for(const std::filesystem::path& path, const tdx::platform_id& p) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return collateral::find_in_bundle_tree(path, p.fmspc, p.pck_ca);
  return collateral::load_collateral(path);
}

/// The evidence the appraisal needs, from bundle files (never the network).
appraise::evidence_set load_evidence(const appraise::evidence_needs& needs, const std::filesystem::path& path,
                                     const tdx::trust_anchor& anchor) {
  appraise::evidence_set evidence;
  for (const auto& platform : needs.platforms) {
    auto raw = collateral_for(path, platform);
    if (!raw) {
      evidence.add_unavailable(platform, std::string(collateral::to_string(raw.error().kind)) + ": " +
                                             raw.error().message);
      continue;
    }
    auto prepared = tdx::prepare_collateral(*raw, anchor);
    if (!prepared) {
      evidence.add_unavailable(platform, std::string(tdx::to_string(prepared.error().kind)) + ": " +
                                             prepared.error().message);
      continue;
    }
    evidence.add(platform, std::move(*prepared));
  }
  return evidence;
}

int report_parse_failure(std::ostream& out, bool as_json, const attest::error& e) {
  if (as_json) {
    json::object o{{"ok", false},
                   {"error", attest::to_string(e.kind)},
                   {"message", e.message},
                   {"factors", json::array{factor_json("", make_factor("report", policy::factor_status::fail,
                                                                       std::string(attest::to_string(e.kind)) + ": " +
                                                                           e.message))}}};
    out << json::serialize(o) << '\n';
  } else {
    out << "Result: REJECTED: the report cannot be read: " << attest::to_string(e.kind) << ": " << e.message << '\n';
  }
  return exit_rejected;
}

/// The NRAS answers and key set given on the command line, matched in document order to
/// the model attestations whose GPUs NVIDIA can be asked about. An error names the file.
std::optional<std::string> load_nras_evidence(const po::variables_map& vm, const appraise::evidence_needs& needed,
                                              appraise::evidence_set& evidence) {
  const std::vector<std::string> answers =
      vm.count("nras-response") != 0 ? vm["nras-response"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (vm.count("nras-key-pin") != 0) {
    std::string error;
    auto pins = parse_key_pins(vm["nras-key-pin"].as<std::vector<std::string>>(), error);
    if (!pins) return error;
    evidence.nras_key_pins = std::move(*pins);
  }
  if (answers.size() > needed.nras.size()) {
    return std::to_string(answers.size()) + " --nras-response files for " + std::to_string(needed.nras.size()) +
           " attestation(s) with GPU evidence";
  }
  if (!answers.empty() && vm.count("nras-jwks") == 0) return "--nras-response needs --nras-jwks (its signing keys)";
  if (vm.count("nras-jwks") != 0) {
    const std::string path = vm["nras-jwks"].as<std::string>();
    const auto text = read_file(path, gpu::nras::max_response_bytes);
    if (!text) return "cannot read " + path;
    auto keys = gpu::nras::parse_jwks(*text);
    if (!keys) return path + ": " + keys.error().message;
    evidence.nras_keys = std::make_shared<const gpu::nras::jwks>(std::move(*keys));
  }
  for (std::size_t i = 0; i < needed.nras.size(); ++i) {
    appraise::evidence_set::nras_entry entry{needed.nras[i].json_pointer, std::nullopt, {}};
    if (i < answers.size()) {
      entry.answer = read_file(answers[i], gpu::nras::max_response_bytes);
      if (!entry.answer) return "cannot read " + answers[i];
    } else {
      entry.why = "no --nras-response was given for " +
                  (entry.json_pointer.empty() ? std::string("the report") : entry.json_pointer);
    }
    evidence.nras.push_back(std::move(entry));
  }
  return std::nullopt;
}

}  // namespace

int verify_report_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                          const clock& clock) {
  auto options = options_group("verify-report options");
  options.add_options()
      ("help,h", "show this help")
      ("version", "print the version and exit")
      ("report", po::value<std::string>()->value_name("FILE"), "the report body, as received")
      ("nonce", po::value<std::string>()->value_name("HEX"), "the 32-byte nonce sent with the request (64 hex)")
      ("spki-sha256", po::value<std::string>()->value_name("HEX"),
       "SHA-256 of the DER SubjectPublicKeyInfo of the TLS key the report arrived over (64 hex); without it the "
       "report is not tied to a TLS connection")
      ("collateral", po::value<std::string>()->value_name("FILE|DIR"),
       "QuoteCollateralV3 JSON file or bundle directory, or a bundle tree searched per quote platform")
      ("policy", po::value<std::string>()->value_name("FILE"), "workload policy JSON (default: the built-in nearai)")
      ("model", po::value<std::string>()->value_name("NAME"), "the model you asked for (checks model_name)")
      ("root-ca", po::value<std::string>()->value_name("PEM"),
       "trust anchor (default: the Intel SGX Root CA compiled in)")
      ("nvidia-root-ca", po::value<std::string>()->value_name("PEM"),
       "root of GPU evidence chains (default: the NVIDIA Device Identity CA compiled in)")
      ("gpu-crl-dir", po::value<std::string>()->value_name("DIR"),
       "CRLs (DER or PEM) for the GPU certificate chains (without them GPU revocation is unchecked)")
      ("nras-response", po::value<std::vector<std::string>>()->value_name("FILE"),
       "a captured answer of NVIDIA's attestation service (POST /v3/attest/gpu) for the model attestation's GPUs; "
       "repeatable, one per model attestation with GPU evidence, in document order")
      ("nras-jwks", po::value<std::string>()->value_name("FILE"),
       "NVIDIA's attestation service signing keys captured with it (/.well-known/jwks.json)")
      ("nras-key-pin", po::value<std::vector<std::string>>()->value_name("SHA256"),
       "SHA-256 (hex) of the SPKI of an intermediate the signing keys must chain to; repeatable (default: NVIDIA "
       "Attestation Service GPU Intermediate 004)")
      ("at", po::value<std::int64_t>()->value_name("UNIX_SECONDS"), "verify as of this time (default: now)")
      ("json", "print one JSON object instead of a table")
      ("print-default-policy", "print the built-in nearai policy (a starting point for --policy) and exit");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    err << "verify-report: " << e.what() << "\n\n" << help_hint("verified-proxy verify-report") << '\n';
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
  if (vm.count("print-default-policy") != 0) {
    out << policy::nearai_policy_json();
    return exit_ok;
  }
  for (const char* required : {"report", "nonce", "collateral"}) {
    if (vm.count(required) == 0) {
      err << "verify-report: --" << required << " is required\n\n" << help_hint("verified-proxy verify-report") << '\n';
      return exit_usage;
    }
  }
  const auto nonce = parse_digest_flag(vm["nonce"].as<std::string>());
  if (!nonce) {
    err << "verify-report: --nonce must be 64 hex digits (the 32 bytes sent as `nonce`)\n";
    return exit_usage;
  }
  std::optional<sha256_digest> spki;
  if (vm.count("spki-sha256") != 0) {
    spki = parse_digest_flag(vm["spki-sha256"].as<std::string>());
    if (!spki) {
      err << "verify-report: --spki-sha256 must be 64 hex digits (SHA-256 of the TLS key's DER "
             "SubjectPublicKeyInfo)\n";
      return exit_usage;
    }
  }
  const std::string report_path = vm["report"].as<std::string>();
  const auto body = read_file(report_path, max_report_file_size);
  if (!body) {
    err << "verify-report: cannot read report " << report_path << " (missing, unreadable or over "
        << text::size_text(max_report_file_size) << ")\n";
    return exit_usage;
  }
  const std::filesystem::path collateral_path = vm["collateral"].as<std::string>();
  {
    std::error_code ec;
    if (!std::filesystem::exists(collateral_path, ec)) {
      err << "verify-report: cannot read collateral " << collateral_path.string() << '\n';
      return exit_usage;
    }
  }

  policy::workload_policy workload = policy::nearai_policy();
  std::string policy_name = "nearai (built-in)";
  if (vm.count("policy") != 0) {
    const std::string policy_path = vm["policy"].as<std::string>();
    const auto text = read_file(policy_path, policy::max_policy_size);
    if (!text) {
      err << "verify-report: cannot read policy file " << policy_path << '\n';
      return exit_usage;
    }
    auto parsed = policy::parse_policy(*text);
    if (!parsed) {
      err << "verify-report: " << policy_path << ": " << parsed.error().message << '\n';
      return exit_usage;
    }
    workload = std::move(*parsed);
    policy_name = policy_label(workload, policy_path);
  }

  std::shared_ptr<const tdx::trust_anchor> anchor;
  std::shared_ptr<const gpu::trust_anchor> gpu_anchor;
  std::shared_ptr<const std::vector<crypto::x509_crl_ptr>> gpu_crls;
  try {
    anchor = load_anchor(vm.count("root-ca") != 0 ? vm["root-ca"].as<std::string>() : "");
    gpu_anchor = load_gpu_anchor(vm.count("nvidia-root-ca") != 0 ? vm["nvidia-root-ca"].as<std::string>() : "");
    gpu_crls = load_gpu_crls(vm.count("gpu-crl-dir") != 0 ? vm["gpu-crl-dir"].as<std::string>() : "");
  } catch (const std::exception& e) {
    err << "verify-report: " << text::exception_text(e) << '\n';
    return exit_usage;
  }
  const unix_time at = vm.count("at") != 0 ? from_unix_seconds(vm["at"].as<std::int64_t>()) : clock.now();
  const bool as_json = vm.count("json") != 0;
  const std::optional<std::string> model =
      vm.count("model") != 0 ? std::optional<std::string>(vm["model"].as<std::string>()) : std::nullopt;

  auto doc = attest::parse_report_document(*body);
  if (!doc) return report_parse_failure(out, as_json, doc.error());

  const appraise::connection_facts facts{*nonce, spki, model};
  const auto needed = appraise::needs(*doc, appraise::mode::offline_all);
  auto evidence = load_evidence(needed, collateral_path, *anchor);
  evidence.gpu_root = gpu_anchor.get();
  evidence.gpu_crls = gpu_crls;
  if (auto problem = load_nras_evidence(vm, needed, evidence)) {
    err << "verify-report: " << *problem << '\n';
    return exit_usage;
  }
  const auto appraisal =
      appraise::appraise(*doc, facts, evidence, &workload, *anchor, at, appraise::mode::offline_all);
  const report_view view{.document = *doc,
                         .appraisal = appraisal,
                         .policy = workload,
                         .policy_name = policy_name,
                         .at = at,
                         .tls = spki ? tls_origin::given : tls_origin::not_given,
                         .connection = {}};
  const auto hint = validity_hint(appraisal, at, vm.count("at") != 0);
  if (as_json) {
    auto result = report_json(view);
    if (hint) result["hint"] = *hint;
    out << json::serialize(result) << '\n';
  } else {
    print_report_table(out, view);
    out << result_line(view) << '\n';
    if (hint) out << "Hint: " << *hint << '\n';
  }
  return appraisal.accepted() ? exit_ok : exit_rejected;
}

}  // namespace vp::app
