#include "app/factor_report.hpp"

#include <boost/json/array.hpp>

#include <algorithm>
#include <cctype>
#include <iomanip>
#include <ostream>

#include "core/hex.hpp"
#include "core/time.hpp"
#include "tdx/verifier.hpp"

namespace vp::app {
namespace json = boost::json;

namespace {

using policy::factor_status;

const policy::factor* find_factor(const appraise::attested_entity& e, std::string_view name) {
  for (const auto& f : e.factors) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

bool has_status(const policy::factor* f, factor_status s) { return f != nullptr && f->status == s; }

std::string join(const std::vector<std::string>& items, std::string_view separator = ", ") {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += separator;
    out += i;
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

/// What the workload policy can pin for an attestation, as the summary names it.
struct pinnable {
  const std::vector<bytes>* values;
  const char* label;
};

std::vector<pinnable> pinnables(const policy::workload_allowlists& lists) {
  return {{&lists.app_id, "app id"},         {&lists.key_provider_id, "KMS"}, {&lists.os_image_hash, "OS image"},
          {&lists.compose_hash, "compose hash"}, {&lists.mrtd, "MRTD"},      {&lists.rtmr0, "RTMR0"},
          {&lists.rtmr1, "RTMR1"},           {&lists.rtmr2, "RTMR2"},         {&lists.mrseam, "MRSEAM"}};
}

/// The factors the workload part of the policy (the software, its identity and its
/// measurements) produces, as opposed to the hardware's, the binding's and the GPUs'.
bool is_workload_factor(std::string_view name) {
  static constexpr std::string_view names[] = {
      "event_log_replay", "runtime_event_digests", "compose_hash", "mrconfigid", "app_id",  "instance_id",
      "os_image_hash",    "key_provider",          "mrseam",       "mrtd",       "rtmr0",   "rtmr1",
      "rtmr2",            "info_registers",        "gateway_not_pinned",         "model_not_pinned"};
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

/// Says what one attestation's factors establish.
class entity_summary {
 public:
  entity_summary(const report_view& view, const appraise::attested_entity& e, std::string prefix,
                 report_summary& out)
      : view_(view), e_(e), prefix_(std::move(prefix)), out_(out) {}

  void run() {
    for (const auto& f : e_.factors) {
      if (f.status == factor_status::fail) out_.failed.push_back(prefix_ + f.name + ": " + f.detail);
    }
    hardware();
    binding();
    workload();
    gpus();
  }

 private:
  void proven(std::string text) { out_.proven.push_back(prefix_ + std::move(text)); }
  void not_proven(std::string text) { out_.not_proven.push_back(prefix_ + std::move(text)); }

  void hardware() {
    if (!has_status(find_factor(e_, "quote"), factor_status::pass)) return;
    std::string text = "genuine Intel TDX hardware: an Intel-certified quote";
    // Without a verdict (the binding failed) the quote verified, but nothing after it ran.
    if (e_.verdict) text += ", Intel rates the platform's TCB " + std::string(tdx::to_string(e_.verdict->quote.status));
    if (has_status(find_factor(e_, "tcb_status"), factor_status::warn)) text += " (accepted within the grace window)";
    if (has_status(find_factor(e_, "td_debug"), factor_status::pass)) text += "; not a debug TD";
    proven(std::move(text));
  }

  void binding() {
    const auto* b = find_factor(e_, "binding");
    if (b == nullptr || !e_.verdict) return;
    const std::string key = to_hex(e_.verdict->tls_cert_fingerprint);
    if (!e_.connection_facing) {
      if (b->status != factor_status::pass) return;
      proven("answers your fresh nonce");
      not_proven("that it terminates the gateway's connection: its TLS key (" + key +
                 ") is known only from the gateway's report, no connection of yours reaches it");
      return;
    }
    if (b->status == factor_status::skip) {
      not_proven("that the report came over a TLS connection to it: it was not tied to one (no --spki-sha256), "
                 "so it only shows that the CVM holding key " + key + " answered your nonce");
      return;
    }
    if (b->status != factor_status::pass) return;
    if (view_.tls == tls_origin::live) {
      proven("bound to the TLS connection verified-proxy opened (key " + key +
             ") and to its fresh nonce: neither replayed nor relayed from another machine");
    } else {
      proven("bound to the TLS key you gave (" + key + ") and to your nonce");
    }
  }

  void workload() {
    bool evaluated = false;
    for (const auto& f : e_.factors) {
      if (!is_workload_factor(f.name)) continue;
      evaluated = true;
      if (f.status == factor_status::fail) return;
    }
    if (!evaluated) return;
    std::vector<std::string> pinned, unpinned;
    for (const auto& p : pinnables(view_.policy.allowlists(e_.role))) {
      (p.values->empty() ? unpinned : pinned).push_back(p.label);
    }
    const std::string role(attest::to_string(e_.role));
    if (pinned.empty()) {
      proven("its event log replays to the quote and agrees with its app_compose and info");
      not_proven("which software it runs: the policy pins nothing for " + role + " CVMs");
      return;
    }
    proven("runs the software the policy " + view_.policy_name + " pins (" + join(pinned) +
           "), read from an event log that replays to the quote");
    if (!unpinned.empty()) {
      not_proven(join(unpinned) + ": not pinned by the policy for " + role + " CVMs (any value passes)");
    }
  }

  void gpus() {
    const auto* evidence = find_factor(e_, "gpu_evidence");
    if (evidence == nullptr) return;
    if (evidence->status == factor_status::skip) {
      not_proven("anything about its GPUs: not checked (" + evidence->detail + ")");
      return;
    }
    if (evidence->status != factor_status::pass) return;
    const auto* measurements = find_factor(e_, "gpu_measurements");
    const auto* revocation = find_factor(e_, "gpu_revocation");
    const auto* nras = find_factor(e_, "gpu_nras");
    std::string text = std::to_string(e_.gpus.size()) + " genuine NVIDIA GPU" + (e_.gpus.size() == 1 ? "" : "s") +
                       " (device keys certified by NVIDIA), their evidence signed over your nonce";
    if (has_status(measurements, factor_status::pass)) text += ", with the driver and VBIOS the policy pins";
    if (has_status(nras, factor_status::pass)) text += "; NVIDIA's attestation service agrees";
    proven(std::move(text));
    not_proven("that these GPUs are the CVM's own: the TDX quote does not commit to the GPU evidence");
    if (has_status(measurements, factor_status::skip)) {
      not_proven("which GPU driver and VBIOS: " + measurements->detail);
    }
    if (has_status(revocation, factor_status::skip)) {
      not_proven("that no GPU certificate is revoked: " + revocation->detail);
    }
    if (has_status(nras, factor_status::skip)) not_proven("NVIDIA's own verdict on the GPUs: " + nras->detail);
  }

  const report_view& view_;
  const appraise::attested_entity& e_;
  std::string prefix_;
  report_summary& out_;
};

std::string entity_prefix(const report_view& view, const appraise::attested_entity& e) {
  if (view.appraisal.entities.size() < 2) return {};
  return std::string(attest::to_string(e.role)) + " CVM " + attestation_label(e.json_pointer) + ": ";
}

const policy::factor* first_failed_factor(const appraise::appraisal& appraisal, const appraise::attested_entity** in) {
  for (const auto& e : appraisal.entities) {
    for (const auto& f : e.factors) {
      if (f.status == factor_status::fail) {
        if (in != nullptr) *in = &e;
        return &f;
      }
    }
  }
  return nullptr;
}

void print_list(std::ostream& out, const char* heading, const std::vector<std::string>& items,
                const char* when_empty = nullptr) {
  if (items.empty() && when_empty == nullptr) return;
  out << heading << "\n";
  if (items.empty()) out << "  - " << when_empty << "\n";
  for (const auto& i : items) out << "  - " << shorten_hex(i) << "\n";
}

bool is_hex_digit(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

}  // namespace

std::string_view to_string(tls_origin t) noexcept {
  switch (t) {
    case tls_origin::live: return "live";
    case tls_origin::given: return "given";
    case tls_origin::not_given: return "not_given";
  }
  return "not_given";
}

std::string policy_label(const policy::workload_policy& policy, const std::string& file) {
  const std::string name = policy.name().empty() ? std::string("unnamed") : policy.name();
  return name + (file.empty() ? std::string(" (built-in)") : " (" + file + ")");
}

std::string attestation_label(std::string_view json_pointer) {
  return json_pointer.empty() ? std::string("(top level)") : std::string(json_pointer);
}

std::string shorten_hex(std::string_view text) {
  constexpr std::size_t longest_kept = 16, head = 8, tail = 4;
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    // A run starts at a word boundary, or right after the "0x" of an address.
    const bool at_boundary = i == 0 || !is_word_char(text[i - 1]) ||
                             (i >= 2 && text[i - 1] == 'x' && text[i - 2] == '0' &&
                              (i == 2 || !is_word_char(text[i - 3])));
    if (!at_boundary || !is_hex_digit(text[i])) {
      out += text[i++];
      continue;
    }
    std::size_t end = i;
    bool letters = false;
    while (end < text.size() && is_hex_digit(text[end])) {
      letters = letters || std::isalpha(static_cast<unsigned char>(text[end])) != 0;
      ++end;
    }
    // Digits alone are a number (a time, a key id's date), not a digest.
    const bool ends_word = end == text.size() || !is_word_char(text[end]);
    if (end - i > longest_kept && ends_word && letters) {
      out.append(text.substr(i, head)).append("…").append(text.substr(end - tail, tail));
    } else {
      out.append(text.substr(i, end - i));
    }
    i = end;
  }
  return out;
}

report_summary summarize(const report_view& view) {
  report_summary out;
  bool names_model = false;
  for (const auto& e : view.appraisal.entities) {
    entity_summary(view, e, entity_prefix(view, e), out).run();
    names_model = names_model || find_factor(e, "model_name") != nullptr;
  }
  // A failure no factor carries (a report without the attestation its form requires).
  if (const auto& f = view.appraisal.first_failure; f && out.failed.empty()) {
    out.failed.push_back(f->code + ": " + f->message);
  }
  if (names_model) {
    out.not_proven.push_back("which model answers: model_name is the CVM's own claim, the quote does not measure it");
  }
  out.not_proven.push_back("that answers are signed by the attested key: response signatures are not checked here "
                           "(the proxy checks each answer's, verify-signature a saved one)");
  return out;
}

void print_report_table(std::ostream& out, const report_view& view) {
  const auto& entities = view.appraisal.entities;
  out << "Report: " << attest::to_string(view.document.form) << " form, " << entities.size()
      << (entities.size() == 1 ? " attestation" : " attestations") << "; policy " << view.policy_name << "; as of "
      << format_rfc3339_utc(view.at) << "\n";
  if (!view.connection.empty()) out << shorten_hex(view.connection) << "\n";

  const auto summary = summarize(view);
  out << "\n";
  print_list(out, "Proven:", summary.proven, "nothing");
  print_list(out, "Not proven:", summary.not_proven);
  print_list(out, "Failed:", summary.failed);

  for (const auto& e : entities) {
    const attest::near_attestation* a = view.document.find(e.json_pointer);
    out << "\nAttestation " << attestation_label(e.json_pointer) << ": " << attest::to_string(e.role) << " CVM";
    if (a != nullptr) {
      out << ", " << attest::to_string(a->signing_algo) << " "
          << shorten_hex(attest::format_signing_address(a->signing_algo, a->signing_address));
      if (a->model_name) out << ", model " << *a->model_name;
    }
    out << "\n";
    for (const auto& f : e.factors) {
      out << "  " << std::left << std::setw(5) << upper(policy::to_string(f.status)) << " " << std::setw(22) << f.name
          << " " << shorten_hex(f.detail) << "\n";
    }
  }
  out << "\n";
}

std::string result_line(const report_view& view) {
  const appraise::attested_entity* failed_in = nullptr;
  if (const auto* f = first_failed_factor(view.appraisal, &failed_in)) {
    return "Result: REJECTED: " + attestation_label(failed_in->json_pointer) + " " + f->name + ": " +
           shorten_hex(f->detail);
  }
  if (const auto& failure = view.appraisal.first_failure) {
    return "Result: REJECTED: " + failure->code + ": " + shorten_hex(failure->message);
  }
  std::size_t warnings = 0;
  for (const auto& e : view.appraisal.entities) {
    warnings += static_cast<std::size_t>(std::count_if(e.factors.begin(), e.factors.end(), [](const auto& f) {
      return f.status == factor_status::warn;
    }));
  }
  std::string line = "Result: ACCEPTED: every enforced factor passes";
  if (warnings > 0) line += " (" + std::to_string(warnings) + (warnings == 1 ? " warning)" : " warnings)");
  return line;
}

json::object factor_json(std::string_view json_pointer, const policy::factor& f) {
  return json::object{{"attestation", json_pointer},
                      {"name", f.name},
                      {"status", policy::to_string(f.status)},
                      {"detail", f.detail}};
}

json::object report_json(const report_view& view) {
  const auto& appraisal = view.appraisal;
  json::array factors;
  json::array attestations;
  json::value first_failure = nullptr;
  for (const auto& e : appraisal.entities) {
    for (const auto& f : e.factors) {
      factors.push_back(factor_json(e.json_pointer, f));
      if (f.status == factor_status::fail && first_failure.is_null()) {
        json::object failed = factor_json(e.json_pointer, f);
        // The code the proxy answers a connection with for the same evidence.
        if (appraisal.first_failure) failed["code"] = appraisal.first_failure->code;
        first_failure = std::move(failed);
      }
    }
    json::object entry{{"json_pointer", e.json_pointer}, {"role", attest::to_string(e.role)}, {"ok", e.ok()}};
    if (const attest::near_attestation* a = view.document.find(e.json_pointer)) {
      entry["signing_algo"] = attest::to_string(a->signing_algo);
      entry["signing_address"] = attest::format_signing_address(a->signing_algo, a->signing_address);
      if (a->model_name) entry["model_name"] = *a->model_name;
    }
    if (e.verdict) {
      entry["tcb_status"] = tdx::to_string(e.verdict->quote.status);
      entry["fmspc"] = to_hex_upper(e.verdict->quote.fmspc);
      entry["collateral_expires_at"] = to_unix_seconds(e.verdict->collateral_expires_at);
      entry["tls_cert_fingerprint"] = to_hex(e.verdict->tls_cert_fingerprint);
    }
    attestations.push_back(std::move(entry));
  }
  if (first_failure.is_null() && appraisal.first_failure) {
    const auto& f = *appraisal.first_failure;
    first_failure = json::object{{"attestation", f.json_pointer}, {"name", f.code}, {"status", "fail"},
                                 {"detail", f.message}, {"code", f.code}};
  }
  const auto summary = summarize(view);
  const auto strings = [](const std::vector<std::string>& items) {
    json::array out;
    for (const auto& i : items) out.emplace_back(i);
    return out;
  };
  return json::object{{"ok", appraisal.accepted()},
                      {"form", attest::to_string(view.document.form)},
                      {"policy", view.policy_name},
                      {"verified_at", to_unix_seconds(view.at)},
                      {"verified_at_iso", format_rfc3339_utc(view.at)},
                      {"tls", to_string(view.tls)},
                      {"first_failure", std::move(first_failure)},
                      {"summary", json::object{{"proven", strings(summary.proven)},
                                               {"not_proven", strings(summary.not_proven)},
                                               {"failed", strings(summary.failed)}}},
                      {"factors", std::move(factors)},
                      {"attestations", std::move(attestations)}};
}

std::optional<std::string> validity_hint(const appraise::appraisal& appraisal, unix_time at, bool at_given) {
  if (!appraisal.first_failure || appraisal.first_failure->phase != failure_phase::quote) return std::nullopt;
  static constexpr std::string_view time_checks[] = {"collateral_expired", "collateral_not_yet_valid",
                                                     "certificate_expired", "certificate_not_yet_valid"};
  const std::string& code = appraisal.first_failure->code;
  if (std::find(std::begin(time_checks), std::end(time_checks), code) == std::end(time_checks)) return std::nullopt;
  const std::string when = format_rfc3339_utc(at);
  if (at_given) {
    return "As of --at " + when + " (" + std::to_string(to_unix_seconds(at)) +
           ") Intel's collateral or a certificate of the quote was not valid (" + code +
           "); pass --at UNIX_SECONDS with the time the report was captured, which lies inside its validity window.";
  }
  return "The report was verified as of now (" + when +
         "), and Intel's collateral is valid for about 30 days (" + code +
         "). To verify a saved capture, pass --at UNIX_SECONDS with its capture time (e.g. the captured_at of the "
         "capture's request.json).";
}

}  // namespace vp::app
