#include "observe/status_json.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <cmath>

#include "core/text.hpp"
#include "core/time.hpp"

namespace vp::observe {

namespace json = boost::json;

namespace {

json::value text(std::string_view s) { return json::value(text::valid_utf8(s)); }

json::value optional_text(const std::optional<std::string>& s) { return s ? text(*s) : json::value(nullptr); }

json::value nonempty_text(std::string_view s) { return s.empty() ? json::value(nullptr) : text(s); }

json::value time_value(const std::optional<unix_time>& t) {
  return t ? json::value(format_rfc3339_utc(*t)) : json::value(nullptr);
}

json::array text_array(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& i : items) out.push_back(text(i));
  return out;
}

double milliseconds(std::chrono::microseconds d) {
  return std::round(static_cast<double>(d.count()) / 10.0) / 100.0;  // two decimals
}

json::value failure_json(const failure_record& f) {
  return json::object{{"code", text(f.code)},
                      {"phase", text(f.phase)},
                      {"message", text(f.message)},
                      {"json_pointer", text(f.json_pointer)},
                      {"about_backend", f.about_backend}};
}

json::value entity_json(const entity_record& e) {
  json::array factors;
  for (const auto& f : e.factors) {
    factors.push_back(json::object{{"name", text(f.name)}, {"status", text(f.status)}, {"detail", text(f.detail)}});
  }
  return json::object{{"json_pointer", text(e.json_pointer)},
                      {"role", text(e.role)},
                      {"connection_facing", e.connection_facing},
                      {"ok", e.ok},
                      {"tcb_status", optional_text(e.tcb_status)},
                      {"advisory_ids", text_array(e.advisory_ids)},
                      {"signing_address", optional_text(e.signing_address)},
                      {"model_name", optional_text(e.model_name)},
                      {"gpus", e.gpus},
                      {"factors", std::move(factors)}};
}

json::value backend_json(const attestation_record& r, unix_time now) {
  json::array entities;
  for (const auto& e : r.entities) entities.push_back(entity_json(e));
  // The TCB status of the attestation bound to the connection.
  json::value tcb = nullptr;
  for (const auto& e : r.entities) {
    if (e.connection_facing && e.tcb_status) tcb = text(*e.tcb_status);
  }
  return json::object{{"verdict_key", text(r.verdict_key)},
                      {"spki_sha256", text(r.spki_sha256)},
                      {"verdict", r.trusted ? "trusted" : "refused"},
                      {"expired", r.trusted && r.trusted_until && now > *r.trusted_until},
                      {"attested_at", time_value(r.attested_at)},
                      {"trusted_until", time_value(r.trusted_until)},
                      {"tcb_status", std::move(tcb)},
                      {"report_form", nonempty_text(r.report_form)},
                      {"attestation_ms", milliseconds(r.duration)},
                      {"appraisal_ms", milliseconds(r.appraisal_time)},
                      {"entities", std::move(entities)},
                      {"failure", r.failure ? failure_json(*r.failure) : json::value(nullptr)}};
}

json::object counts_json(const std::map<std::string, std::uint64_t>& counts) {
  json::object out;
  for (const auto& [k, v] : counts) out[k] = v;
  return out;
}

}  // namespace

json::value status_json(const status_snapshot& s) {
  const auto& c = s.config;
  json::object configuration{{"listen", text(c.listen)},
                             {"backend", text(c.backend)},
                             {"gateway_host", nonempty_text(c.gateway_host)},
                             {"e2ee", text(c.e2ee)},
                             {"verify_signatures", text(c.verify_signatures)},
                             {"signing_algo", text(c.signing_algo)},
                             {"allow_domains", text_array(c.allow_domains)},
                             {"attestation_ttl_seconds", c.attestation_ttl.count()},
                             {"negative_ttl_seconds", c.negative_ttl.count()},
                             {"webpki", c.webpki},
                             {"nras", c.nras},
                             {"policy", nonempty_text(c.policy)}};

  const auto& d = s.discovery;
  json::object discovery{{"url", text(c.model_list_url)},
                         {"kind", text(c.model_list_kind)},
                         {"usable", d.usable},
                         {"fetched_at", time_value(d.fetched_at)},
                         {"last_success_at", time_value(d.last_success_at)},
                         {"fetches", d.fetches},
                         {"domains", d.domains},
                         {"models", d.models},
                         {"last_error", nonempty_text(d.last_error)}};

  json::array backends;
  for (const auto& r : s.backends) backends.push_back(backend_json(r, s.now));

  json::array failures;
  for (const auto& f : s.domain_failures) {
    failures.push_back(json::object{{"domain", text(f.domain)},
                                    {"status", f.status},
                                    {"code", text(f.failure.code)},
                                    {"phase", text(f.failure.phase)},
                                    {"message", text(f.failure.message)},
                                    {"at", format_rfc3339_utc(f.at)},
                                    {"count", f.count}});
  }

  json::object totals{
      {"requests", s.requests_answered},
      {"forwarded", s.forwarded},
      {"refused", counts_json(s.refused)},
      {"attestations",
       json::object{{"trusted", s.attestations_trusted}, {"refused", s.attestations_refused},
                    {"by_outcome", counts_json(s.attestations)}}},
      {"signatures",
       json::object{
           {"valid", s.signatures_valid}, {"invalid", s.signatures_invalid}, {"unavailable", s.signatures_unavailable}}},
      {"e2ee_sealed", s.e2ee_sealed},
      {"collateral", json::object{{"fetches", s.collateral_fetches}, {"failures", s.collateral_failures}}},
      {"nras",
       json::object{{"attest_fetches", s.nras_attest_fetches},
                    {"attest_failures", s.nras_attest_failures},
                    {"key_fetches", s.nras_key_fetches},
                    {"key_failures", s.nras_key_failures}}},
      {"bytes_to_client", s.bytes_to_client},
      {"bytes_to_backend", s.bytes_to_backend}};

  json::object connections{{"clients_open", s.gauges.client_connections},
                           {"clients_idle", s.gauges.idle_client_connections},
                           {"upstream_open", s.gauges.upstream_open},
                           {"upstream_pooled", s.gauges.upstream_pooled},
                           {"upstream_created", s.upstream_created},
                           {"active_streams", s.active_streams}};

  return json::object{{"schema_version", status_schema_version},
                      {"version", text(c.version)},
                      {"started_at", format_rfc3339_utc(s.started_at)},
                      {"now", format_rfc3339_utc(s.now)},
                      {"uptime_seconds", (s.now - s.started_at).count()},
                      {"configuration", std::move(configuration)},
                      {"discovery", std::move(discovery)},
                      {"backends", std::move(backends)},
                      {"domain_failures", std::move(failures)},
                      {"totals", std::move(totals)},
                      {"connections", std::move(connections)}};
}

std::string render_status_json(const status_snapshot& s) { return json::serialize(status_json(s)); }

}  // namespace vp::observe
