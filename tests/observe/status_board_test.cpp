// The status board and its renderers, without a server: appraisals (one trusted, one
// refused) become records with every factor, the status JSON carries them under the
// documented names, counters and histograms reach the Prometheus text, and the bounds
// hold (keys, domains, codes).

#include "observe/status_board.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <string>

#include "observe/prometheus.hpp"
#include "observe/status_json.hpp"

namespace vp::observe {
namespace {

namespace json = boost::json;
using std::chrono::seconds;

const unix_time t0 = from_unix_seconds(1'760'000'000);  // 2025-10-09T08:53:20Z
const std::string fp_a(64, 'a');
const std::string fp_b(64, 'b');

trust_configuration config() {
  trust_configuration c;
  c.version = "0.1.0";
  c.listen = "127.0.0.1:8080";
  c.allow_domains = {"*.completions.near.ai"};
  c.policy = "nearai";
  c.model_list_url = "https://completions.near.ai/endpoints";
  return c;
}

policy::factor factor(std::string name, policy::factor_status status, std::string detail) {
  return policy::factor{std::move(name), status, std::move(detail)};
}

/// A direct-form appraisal whose quote verified; `failing` names a factor that failed.
appraise::appraisal appraisal_of(std::optional<std::string> failing = std::nullopt) {
  appraise::appraisal a;
  a.form = attest::report_form::direct;
  appraise::attested_entity e;
  e.json_pointer = "";
  e.role = attest::attestation_role::model;
  e.connection_facing = true;
  attest::attestation_verdict verdict;
  verdict.quote.status = tdx::tcb_status::up_to_date;
  verdict.quote.advisory_ids = {"INTEL-SA-00837"};
  e.verdict = verdict;
  e.keys.signing_algo = attest::signing_algorithm::ed25519;
  e.keys.signing_address = bytes(32, 0x11);
  e.keys.bound = true;
  e.model_name = "sim-model";
  e.factors = {factor("quote", policy::factor_status::pass, "Intel DCAP quote verified"),
               factor("binding", policy::factor_status::pass, "report_data binds the live key"),
               factor("app_id", failing ? policy::factor_status::fail : policy::factor_status::pass,
                      failing ? "app id 0xbad is not pinned" : "app id pinned"),
               factor("gpu_evidence", policy::factor_status::warn, "1 GPU verified")};
  a.entities.push_back(std::move(e));
  if (failing) a.first_failure = failure{*failing, failure_phase::policy, "app id 0xbad is not pinned", "", true};
  a.trusted_until = t0 + seconds{86400};
  return a;
}

const json::object& backend_named(const json::value& status, std::string_view key) {
  for (const auto& b : status.at("backends").as_array()) {
    if (b.at("verdict_key").as_string() == key) return b.as_object();
  }
  throw std::runtime_error("no backend " + std::string(key));
}

TEST(StatusBoard, RecordsATrustedAndARefusedKeyWithEveryFactor) {
  status_board board(config(), t0);
  const auto trusted = appraisal_of();
  board.record_attestation(
      describe_attestation("good.completions.near.ai", fp_a, &trusted, std::nullopt, t0, t0 + seconds{3600}));
  const auto refused = appraisal_of("app_id");
  board.record_attestation(
      describe_attestation("bad.completions.near.ai", fp_b, &refused, refused.first_failure, t0, std::nullopt));

  const auto status = status_json(board.snapshot(t0 + seconds{5}));
  EXPECT_EQ(status.at("schema_version").as_int64(), 1);
  EXPECT_EQ(status.at("version").as_string(), "0.1.0");
  EXPECT_EQ(status.at("started_at").as_string(), "2025-10-09T08:53:20Z");
  EXPECT_EQ(status.at("now").as_string(), "2025-10-09T08:53:25Z");
  EXPECT_EQ(status.at("uptime_seconds").as_int64(), 5);
  ASSERT_EQ(status.at("backends").as_array().size(), 2u);

  const auto& good = backend_named(status, "good.completions.near.ai");
  EXPECT_EQ(good.at("verdict").as_string(), "trusted");
  EXPECT_EQ(good.at("spki_sha256").as_string(), fp_a);
  EXPECT_FALSE(good.at("expired").as_bool());
  EXPECT_EQ(good.at("trusted_until").as_string(), "2025-10-09T09:53:20Z");
  EXPECT_EQ(good.at("attested_at").as_string(), "2025-10-09T08:53:20Z");
  EXPECT_EQ(good.at("tcb_status").as_string(), "UpToDate");
  EXPECT_EQ(good.at("report_form").as_string(), "direct");
  EXPECT_TRUE(good.at("failure").is_null());
  const auto& entity = good.at("entities").as_array().at(0);
  EXPECT_EQ(entity.at("role").as_string(), "model");
  EXPECT_TRUE(entity.at("connection_facing").as_bool());
  EXPECT_TRUE(entity.at("ok").as_bool());
  EXPECT_EQ(entity.at("model_name").as_string(), "sim-model");
  EXPECT_EQ(entity.at("signing_address").as_string(), std::string(64, '1'));
  EXPECT_EQ(entity.at("advisory_ids").as_array().at(0).as_string(), "INTEL-SA-00837");
  const auto& factors = entity.at("factors").as_array();
  ASSERT_EQ(factors.size(), 4u);
  EXPECT_EQ(factors[3].at("name").as_string(), "gpu_evidence");
  EXPECT_EQ(factors[3].at("status").as_string(), "warn");
  EXPECT_EQ(factors[3].at("detail").as_string(), "1 GPU verified");

  const auto& bad = backend_named(status, "bad.completions.near.ai");
  EXPECT_EQ(bad.at("verdict").as_string(), "refused");
  EXPECT_TRUE(bad.at("trusted_until").is_null());
  const auto& why = bad.at("failure").as_object();
  EXPECT_EQ(why.at("code").as_string(), "app_id");
  EXPECT_EQ(why.at("phase").as_string(), "policy");
  EXPECT_EQ(why.at("message").as_string(), "app id 0xbad is not pinned");
  EXPECT_EQ(why.at("json_pointer").as_string(), "");
  EXPECT_TRUE(why.at("about_backend").as_bool());
  const auto& bad_factors = bad.at("entities").as_array().at(0).at("factors").as_array();
  EXPECT_EQ(bad_factors[2].at("status").as_string(), "fail");
  EXPECT_FALSE(bad.at("entities").as_array().at(0).at("ok").as_bool());

  const auto& totals = status.at("totals").as_object();
  EXPECT_EQ(totals.at("attestations").at("trusted").as_uint64(), 1u);
  EXPECT_EQ(totals.at("attestations").at("refused").as_uint64(), 1u);
  EXPECT_EQ(totals.at("attestations").at("by_outcome").at("app_id").as_uint64(), 1u);
}

TEST(StatusBoard, ATrustedKeyPastItsTrustedUntilIsExpired) {
  status_board board(config(), t0);
  const auto trusted = appraisal_of();
  board.record_attestation(describe_attestation("good.completions.near.ai", fp_a, &trusted, std::nullopt, t0,
                                                t0 + seconds{3600}));
  EXPECT_FALSE(status_json(board.snapshot(t0 + seconds{3600})).at("backends").at(0).at("expired").as_bool());
  EXPECT_TRUE(status_json(board.snapshot(t0 + seconds{3601})).at("backends").at(0).at("expired").as_bool());
}

TEST(StatusBoard, AnAttestationWithoutReportHasNoEntitiesButItsFailure) {
  status_board board(config(), t0);
  const failure timeout{"attestation_timeout", failure_phase::exchange, "no report within 30000 ms", "", false};
  board.record_attestation(describe_attestation("slow.completions.near.ai", fp_a, nullptr, timeout, t0, std::nullopt));
  const auto b = status_json(board.snapshot(t0)).at("backends").at(0);
  EXPECT_EQ(b.at("verdict").as_string(), "refused");
  EXPECT_TRUE(b.at("report_form").is_null());
  EXPECT_TRUE(b.at("entities").as_array().empty());
  EXPECT_EQ(b.at("failure").at("phase").as_string(), "exchange");
  EXPECT_FALSE(b.at("failure").at("about_backend").as_bool());
}

TEST(StatusBoard, AFailureShowsItsDetailWithoutTheContextItsFieldsAlreadySay) {
  status_board board(config(), t0);
  const failure refused{"app_id", failure_phase::policy,
                        "attesting bad.completions.near.ai: workload policy 'near': app_id: app-id 0xbad is not pinned",
                        "", true};
  board.record_attestation(describe_attestation("bad.completions.near.ai", fp_a, nullptr, refused, t0, std::nullopt));
  const auto why = status_json(board.snapshot(t0)).at("backends").at(0).at("failure");
  EXPECT_EQ(why.at("code").as_string(), "app_id");
  EXPECT_EQ(why.at("message").as_string(), "app-id 0xbad is not pinned");
}

TEST(StatusBoard, ALaterAttestationOfTheSameKeyReplacesItsRecord) {
  status_board board(config(), t0);
  const auto refused = appraisal_of("app_id");
  board.record_attestation(describe_attestation("d.completions.near.ai", fp_a, &refused, refused.first_failure, t0, {}));
  const auto trusted = appraisal_of();
  board.record_attestation(describe_attestation("d.completions.near.ai", fp_a, &trusted, std::nullopt,
                                                t0 + seconds{40}, t0 + seconds{3640}));
  const auto s = board.snapshot(t0 + seconds{41});
  ASSERT_EQ(s.backends.size(), 1u);
  EXPECT_TRUE(s.backends[0].trusted);
  EXPECT_EQ(s.attestations_refused, 1u);
  EXPECT_EQ(s.attestations_trusted, 1u);
}

TEST(StatusBoard, KeysAndDomainsAreBoundedOldestFirst) {
  status_board board(config(), t0, 2, 2);
  const auto trusted = appraisal_of();
  for (const char* key : {"a", "b", "c"}) {
    board.record_attestation(describe_attestation(key, fp_a, &trusted, std::nullopt, t0, t0 + seconds{60}));
    board.record_domain_failure(key, 502, failure_record{"backend_unreachable", "connect", "refused", "", false}, t0);
  }
  const auto s = board.snapshot(t0);
  ASSERT_EQ(s.backends.size(), 2u);
  EXPECT_EQ(s.backends[0].verdict_key, "b");
  EXPECT_EQ(s.backends[1].verdict_key, "c");
  ASSERT_EQ(s.domain_failures.size(), 2u);
  EXPECT_EQ(s.domain_failures[0].domain, "b");
}

TEST(StatusBoard, DomainFailuresKeepTheLastOneAndCount) {
  status_board board(config(), t0);
  board.record_domain_failure("x.completions.near.ai", 502, {"backend_unreachable", "connect", "refused", "", false},
                              t0);
  board.record_domain_failure("x.completions.near.ai", 504, {"connect_timeout", "connect", "slow", "", false},
                              t0 + seconds{9});
  const auto status = status_json(board.snapshot(t0 + seconds{10}));
  const auto& f = status.at("domain_failures").as_array().at(0);
  EXPECT_EQ(f.at("domain").as_string(), "x.completions.near.ai");
  EXPECT_EQ(f.at("code").as_string(), "connect_timeout");
  EXPECT_EQ(f.at("status").as_uint64(), 504u);
  EXPECT_EQ(f.at("at").as_string(), "2025-10-09T08:53:29Z");
  EXPECT_EQ(f.at("count").as_uint64(), 2u);
}

TEST(StatusBoard, DiscoveryKeepsTheLastGoodListAfterAFailedRefresh) {
  status_board board(config(), t0);
  EXPECT_FALSE(board.discovery().usable);
  board.record_discovery_fetch(true, 3, 7, "", t0);
  board.record_discovery_fetch(false, 0, 0, "connection refused", t0 + seconds{300});
  const auto d = status_json(board.snapshot(t0 + seconds{301})).at("discovery");
  EXPECT_TRUE(d.at("usable").as_bool());
  EXPECT_EQ(d.at("url").as_string(), "https://completions.near.ai/endpoints");
  EXPECT_EQ(d.at("domains").as_uint64(), 3u);
  EXPECT_EQ(d.at("models").as_uint64(), 7u);
  EXPECT_EQ(d.at("fetches").as_uint64(), 2u);
  EXPECT_EQ(d.at("fetched_at").as_string(), "2025-10-09T08:58:20Z");
  EXPECT_EQ(d.at("last_success_at").as_string(), "2025-10-09T08:53:20Z");
  EXPECT_EQ(d.at("last_error").as_string(), "connection refused");
}

TEST(StatusBoard, ConfigurationIsReportedUnderItsNames) {
  status_board board(config(), t0);
  board.listening_on("127.0.0.1:41234");
  const auto c = status_json(board.snapshot(t0)).at("configuration");
  EXPECT_EQ(c.at("listen").as_string(), "127.0.0.1:41234");
  EXPECT_EQ(c.at("backend").as_string(), "direct");
  EXPECT_TRUE(c.at("gateway_host").is_null());
  EXPECT_EQ(c.at("e2ee").as_string(), "on");
  EXPECT_EQ(c.at("verify_signatures").as_string(), "check");
  EXPECT_EQ(c.at("signing_algo").as_string(), "ed25519");
  EXPECT_EQ(c.at("allow_domains").as_array().at(0).as_string(), "*.completions.near.ai");
  EXPECT_EQ(c.at("attestation_ttl_seconds").as_int64(), 3600);
  EXPECT_EQ(c.at("negative_ttl_seconds").as_int64(), 30);
  EXPECT_TRUE(c.at("webpki").as_bool());
  EXPECT_TRUE(c.at("nras").as_bool());
  EXPECT_EQ(c.at("policy").as_string(), "nearai");
}

TEST(StatusBoard, TextFromBackendsIsValidUtf8InTheJson) {
  status_board board(config(), t0);
  auto refused = appraisal_of("app_id");
  refused.entities[0].factors[2].detail = std::string("bad \xff byte \"quoted\"\n");
  board.record_attestation(describe_attestation("d", fp_a, &refused, refused.first_failure, t0, std::nullopt));
  const std::string text = render_status_json(board.snapshot(t0));
  const auto parsed = json::parse(text);  // throws on invalid JSON
  const auto detail = parsed.at("backends").at(0).at("entities").at(0).at("factors").at(2).at("detail").as_string();
  EXPECT_EQ(std::string(detail), "bad \xef\xbf\xbd byte \"quoted\"\n");
}

TEST(StatusBoard, RequestsAreCountedByRouteStatusAndCode) {
  status_board board(config(), t0);
  board.count_request(route_class::chat, 200, "");
  board.count_request(route_class::chat, 200, "");
  board.count_request(route_class::chat, 502, "app_id");
  board.count_request(route_class::other, 403, "domain_not_allowed");
  board.count_request(route_class::chat, 0, "client_closed");
  board.count_request(route_class::chat, 200, "cut_short");
  board.count_forwarded();
  const auto s = board.snapshot(t0);
  EXPECT_EQ(s.requests_answered, 6u);
  EXPECT_EQ((s.requests.at(request_series{route_class::chat, 200, ""})), 2u);
  EXPECT_EQ((s.requests.at(request_series{route_class::chat, 502, "app_id"})), 1u);
  // Only the proxy's error answers are refusals.
  EXPECT_EQ(s.refused.size(), 2u);
  EXPECT_EQ(s.refused.at("app_id"), 1u);
  EXPECT_EQ(s.refused.at("domain_not_allowed"), 1u);
  const auto totals = status_json(s).at("totals");
  EXPECT_EQ(totals.at("requests").as_uint64(), 6u);
  EXPECT_EQ(totals.at("forwarded").as_uint64(), 1u);
  EXPECT_EQ(totals.at("refused").at("app_id").as_uint64(), 1u);
}

TEST(StatusBoard, CodesAreReducedToABoundedVocabulary) {
  EXPECT_EQ(bounded_code("fingerprint_mismatch"), "fingerprint_mismatch");
  EXPECT_EQ(bounded_code("Fingerprint"), "other");
  EXPECT_EQ(bounded_code("a b"), "other");
  EXPECT_EQ(bounded_code("quote\"x"), "other");
  EXPECT_EQ(bounded_code(std::string(65, 'a')), "other");
  EXPECT_EQ(bounded_code(""), "other");

  status_board board(config(), t0);
  for (std::size_t i = 0; i < status_board::max_outcomes + 10; ++i) {
    board.count_request(route_class::chat, 502, "code_" + std::to_string(i));
  }
  const auto s = board.snapshot(t0);
  EXPECT_LE(s.refused.size(), status_board::max_outcomes + 1);
  EXPECT_EQ(s.refused.at("other"), 10u);
}

TEST(StatusBoard, RoutesAreAFixedSet) {
  EXPECT_EQ(classify_route("/v1/chat/completions"), route_class::chat);
  EXPECT_EQ(classify_route("/v1/completions"), route_class::completions);
  EXPECT_EQ(classify_route("/v1/embeddings"), route_class::embeddings);
  EXPECT_EQ(classify_route("/v1/models"), route_class::models);
  EXPECT_EQ(classify_route("/v1/signature/chatcmpl-1"), route_class::signature);
  EXPECT_EQ(classify_route("/_proxy/status"), route_class::proxy);
  EXPECT_EQ(classify_route("/_proxy"), route_class::proxy);
  EXPECT_EQ(classify_route("/_proxyfoo"), route_class::other);
  EXPECT_EQ(classify_route("/v1/chat/completions/x"), route_class::other);
  EXPECT_EQ(classify_route("/anything"), route_class::other);
}

TEST(StatusBoard, StreamsAreCountedWhileTheirScopeLives) {
  status_board board(config(), t0);
  {
    stream_scope one(&board);
    stream_scope two(&board);
    EXPECT_EQ(board.snapshot(t0).active_streams, 2u);
  }
  EXPECT_EQ(board.snapshot(t0).active_streams, 0u);
  stream_scope none(nullptr);  // no board: nothing to count
}

TEST(StatusBoard, HistogramBucketsAreUpperBoundsInclusive) {
  histogram h({0.1, 1});
  h.observe(0.1);
  h.observe(0.5);
  h.observe(7);
  EXPECT_EQ(h.counts, (std::vector<std::uint64_t>{1, 1, 1}));
  EXPECT_EQ(h.count, 3u);
  EXPECT_DOUBLE_EQ(h.sum, 7.6);
}

// ---------------------------------------------------------------------------------------
// Prometheus text

TEST(Prometheus, FamiliesHaveHelpAndTypeAndTheCountersTheirSamples) {
  status_board board(config(), t0);
  board.count_request(route_class::chat, 200, "");
  board.count_request(route_class::chat, 502, "app_id");
  board.count_collateral_fetch(true);
  board.count_collateral_fetch(false);
  board.count_nras_fetch(nras_fetch::attest, true);
  board.count_nras_fetch(nras_fetch::keys, false);
  board.add_bytes_to_client(123);
  board.add_bytes_to_backend(45);
  board.count_signature("valid");
  auto refused = appraisal_of("app_id");
  auto record = describe_attestation("d", fp_a, &refused, refused.first_failure, t0, std::nullopt);
  record.duration = std::chrono::milliseconds(30);
  record.appraisal_time = std::chrono::microseconds(400);
  board.record_attestation(record);
  const std::string text = render_prometheus(board.snapshot(t0, live_gauges{3, 1, 2, 1}));

  for (const char* family : {"requests_total", "attestations_total", "attestation_duration_seconds",
                             "appraisal_duration_seconds", "upstream_connections_open", "upstream_connections_pooled",
                             "upstream_connections_created_total", "collateral_fetches_total",
                             "collateral_fetch_failures_total", "nras_fetches_total", "nras_fetch_failures_total",
                             "relayed_bytes_total", "active_streams", "client_connections_open"}) {
    const std::string name = std::string("verified_proxy_") + family;
    EXPECT_NE(text.find("# HELP " + name + " "), std::string::npos) << name;
    EXPECT_NE(text.find("# TYPE " + name + " "), std::string::npos) << name;
  }
  EXPECT_NE(text.find("# TYPE verified_proxy_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE verified_proxy_attestation_duration_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_requests_total{route=\"chat\",status=\"200\",code=\"\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("verified_proxy_requests_total{route=\"chat\",status=\"502\",code=\"app_id\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("verified_proxy_attestations_total{outcome=\"app_id\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_attestation_duration_seconds_bucket{le=\"0.025\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_attestation_duration_seconds_bucket{le=\"0.05\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_attestation_duration_seconds_bucket{le=\"+Inf\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_attestation_duration_seconds_sum 0.03\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_attestation_duration_seconds_count 1\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_appraisal_duration_seconds_bucket{le=\"0.0005\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_collateral_fetch_failures_total 1\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_nras_fetch_failures_total{kind=\"keys\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_relayed_bytes_total{direction=\"to_client\"} 123\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_relayed_bytes_total{direction=\"to_backend\"} 45\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_client_connections_open 3\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_upstream_connections_open 2\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_signatures_total{verdict=\"valid\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_build_info{version=\"0.1.0\"} 1\n"), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
}

TEST(Prometheus, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value(R"(a\b"c)"), R"(a\\b\"c)");
  EXPECT_EQ(escape_label_value("line\nbreak"), "line\\nbreak");
  EXPECT_EQ(escape_label_value("\xff"), "\xef\xbf\xbd");

  auto c = config();
  c.version = "1.0 \"beta\"\n";
  status_board board(c, t0);
  const std::string text = render_prometheus(board.snapshot(t0));
  EXPECT_NE(text.find("verified_proxy_build_info{version=\"1.0 \\\"beta\\\"\\n\"} 1\n"), std::string::npos) << text;
}

TEST(Prometheus, HistogramBucketsAreCumulative) {
  status_board board(config(), t0);
  const auto trusted = appraisal_of();
  for (int ms : {1, 20, 20, 2000, 60000}) {
    auto r = describe_attestation("k" + std::to_string(ms), fp_a, &trusted, std::nullopt, t0, t0);
    r.duration = std::chrono::milliseconds(ms);
    board.record_attestation(r);
  }
  const std::string text = render_prometheus(board.snapshot(t0));
  EXPECT_NE(text.find("verified_proxy_attestation_duration_seconds_bucket{le=\"0.005\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_attestation_duration_seconds_bucket{le=\"0.025\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_attestation_duration_seconds_bucket{le=\"2.5\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_attestation_duration_seconds_bucket{le=\"30\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_attestation_duration_seconds_bucket{le=\"+Inf\"} 5\n"), std::string::npos);
  EXPECT_NE(text.find("verified_proxy_attestation_duration_seconds_count 5\n"), std::string::npos);
}

}  // namespace
}  // namespace vp::observe
