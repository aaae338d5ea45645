#pragma once
// The factor report of one appraisal, as a person reads it (a table) and as a script reads
// it (one JSON object), in one place for `verify` (a live backend) and `verify-report` (a
// saved report), so that both say the same things the same way.
//
// Before the table comes a summary in plain words: what the passing factors prove, what is
// not proven (a factor skipped, a value the policy does not pin, a check this command does
// not make) and what failed. In the table and the summary, long hex values are shortened
// (first 8 … last 4 digits); the JSON has every value in full.

#include <boost/json/object.hpp>

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "appraise/appraisal.hpp"
#include "attest/near_report.hpp"
#include "core/clock.hpp"
#include "policy/factor.hpp"
#include "policy/policy.hpp"

namespace vp::app {

/// What the key the connection-facing binding was checked against is.
enum class tls_origin {
  live,       ///< verify: the peer of the connection verified-proxy opened and attested
  given,      ///< verify-report --spki-sha256: the key the user says the report came over
  not_given,  ///< verify-report without it: the report is tied to no TLS connection
};

/// "live", "given", "not_given".
std::string_view to_string(tls_origin t) noexcept;

/// One appraisal and what it was made of.
struct report_view {
  const attest::near_report_document& document;
  const appraise::appraisal& appraisal;
  const policy::workload_policy& policy;
  std::string policy_name;  ///< "nearai (built-in)", "sim (sim-out/policy.json)"
  unix_time at;             ///< the time the appraisal was made as of
  tls_origin tls;
  /// A line saying where the report came from ("" for none): verify names the backend,
  /// the address dialled and the live key.
  std::string connection;
};

/// Plain-word sentences, full hex.
struct report_summary {
  std::vector<std::string> proven;
  std::vector<std::string> not_proven;
  std::vector<std::string> failed;
};
report_summary summarize(const report_view& view);

/// The header, the summary, then per attestation one line each of its factors
/// (`PASS`/`FAIL`/`WARN`/`SKIP`, name, detail). The caller prints the result line.
void print_report_table(std::ostream& out, const report_view& view);

/// "Result: ACCEPTED: every enforced factor passes[ (N warnings)]" or "Result: REJECTED:
/// <attestation> <factor>: <detail>" (verify-report's verdict).
std::string result_line(const report_view& view);

/// {"ok","form","policy","verified_at","verified_at_iso","tls","first_failure","summary",
/// "factors","attestations"}: verify-report's JSON; verify adds its connection's fields.
boost::json::object report_json(const report_view& view);

/// One factor: {"attestation","name","status","detail"}.
boost::json::object factor_json(std::string_view json_pointer, const policy::factor& f);

/// How a report names its policy: "nearai (built-in)" without a file, else its name
/// ("unnamed" when it has none) and the file, "sim (sim-out/policy.json)".
std::string policy_label(const policy::workload_policy& policy, const std::string& file);

/// "(top level)" for "", else the pointer.
std::string attestation_label(std::string_view json_pointer);

/// When the appraisal failed because Intel's collateral or a certificate of the quote was
/// not valid at the time it was made as of (expired, or not yet valid): a sentence that
/// says to verify a saved report as of its capture time with --at (`at_given`: --at was
/// given, and that time is outside the window). nullopt otherwise.
std::optional<std::string> validity_hint(const appraise::appraisal& appraisal, unix_time at, bool at_given);

/// `text` with every run of more than 16 hex digits shortened to its first 8 and last 4
/// ("2c0a0c96…f91b"); shorter runs (FMSPCs, TD attributes), runs of decimal digits only
/// and hex glued to a word stay.
std::string shorten_hex(std::string_view text);

}  // namespace vp::app
