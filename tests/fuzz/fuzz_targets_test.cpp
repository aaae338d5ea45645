// A deterministic, bounded mutation run through the fuzz entry points on every
// `make test` (the open-ended libFuzzer runs are `make fuzz`). Mutations are seeded
// from real quotes, collateral and NEAR reports (when ../shared/testdata is present) and
// from the synthetic seeds built in code, so they reach deep into the parsers. Byte
// mutations test the JSON layer; JSON-aware mutations (a value replaced by another type,
// an extreme number, a bad hex string, a nested JSON text mutated in turn, a key
// removed) reach the field checks and what runs after them. A violated property aborts.

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <limits>
#include <random>

#include "attest/near_report.hpp"
#include "core/base64.hpp"
#include "crypto/x509.hpp"
#include "fuzz/fuzz_targets.hpp"
#include "gpu/evidence.hpp"
#include "policy/event_log.hpp"
#include "policy/policy.hpp"
#include "proxy/forwarding.hpp"
#include "proxy/routing.hpp"
#include "signature/response_signature.hpp"
#include "support/testdata.hpp"

namespace vp::fuzz {
namespace {

namespace json = boost::json;

using target_fn = void (*)(const std::uint8_t*, std::size_t);

std::string mutate(std::string input, std::mt19937& rng) {
  std::uniform_int_distribution<int> op(0, 4);
  const int rounds = std::uniform_int_distribution<int>(1, 8)(rng);
  for (int i = 0; i < rounds && !input.empty(); ++i) {
    const std::size_t pos = std::uniform_int_distribution<std::size_t>(0, input.size() - 1)(rng);
    switch (op(rng)) {
      case 0: input[pos] = static_cast<char>(rng()); break;                       // flip a byte
      case 1: input.resize(pos); break;                                           // truncate
      case 2: input.insert(pos, 1, static_cast<char>(rng())); break;              // insert
      case 3: input.erase(pos, std::min<std::size_t>(input.size() - pos, 16)); break;  // delete a run
      default: input[pos] = static_cast<char>(input[pos] ^ 0xff); break;
    }
  }
  return input;
}

void collect_values(json::value& v, std::vector<json::value*>& out) {
  out.push_back(&v);
  if (json::object* o = v.if_object()) {
    for (auto& kv : *o) collect_values(kv.value(), out);
  } else if (json::array* a = v.if_array()) {
    for (auto& e : *a) collect_values(e, out);
  }
}

std::string random_hex(std::mt19937& rng) {
  static constexpr std::size_t lengths[] = {0, 1, 2, 40, 42, 63, 64, 96, 128, 130};
  const std::size_t n = lengths[std::uniform_int_distribution<std::size_t>(0, std::size(lengths) - 1)(rng)];
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s.push_back("0123456789abcdefABCDEFxg"[rng() % 24]);
  return s;
}

// One JSON-aware mutation of `seed` (byte mutations when it is not JSON).
std::string mutate_json(const std::string& seed, std::mt19937& rng, int depth = 0) {
  json::error_code ec;
  json::value doc = json::parse(seed, ec);
  if (ec) return mutate(seed, rng);
  std::vector<json::value*> values;
  collect_values(doc, values);
  json::value& v = *values[std::uniform_int_distribution<std::size_t>(0, values.size() - 1)(rng)];
  switch (std::uniform_int_distribution<int>(0, 11)(rng)) {
    case 0: v = nullptr; break;
    case 1: v = std::uniform_int_distribution<int>(-2, 5)(rng); break;
    case 2: v = std::numeric_limits<std::uint64_t>::max(); break;
    case 3: v = 4294967296.5; break;
    case 4: v = random_hex(rng); break;
    case 5: v = json::serialize(v); break;  // the value as a JSON string, as the gateway sends some
    case 6:
      if (json::string* s = v.if_string(); s != nullptr && depth < 2) {
        // A string holding JSON (event_log, info, tcb_info, key_provider_info): mutate inside.
        v = mutate_json(std::string(*s), rng, depth + 1);
      } else {
        v = json::array{};
      }
      break;
    case 7: v = json::object{}; break;
    case 8:
      if (json::object* o = v.if_object(); o != nullptr && !o->empty()) {
        auto it = o->begin();
        std::advance(it, std::uniform_int_distribution<std::ptrdiff_t>(0, static_cast<std::ptrdiff_t>(o->size()) - 1)(rng));
        o->erase(it);
      } else if (json::array* a = v.if_array(); a != nullptr && !a->empty()) {
        a->push_back(json::value((*a)[rng() % a->size()]));  // a repeated entry
      }
      break;
    case 9:
      if (json::string* s = v.if_string(); s != nullptr && !s->empty()) {
        (*s)[rng() % s->size()] = "gG:\" \x01\xff"[rng() % 7];
      }
      break;
    case 10:
      if (json::string* s = v.if_string()) v = std::string(*s) + std::string(*s);
      break;
    default:
      if (json::string* s = v.if_string(); s != nullptr && !s->empty()) s->resize(rng() % s->size());
      break;
  }
  return json::serialize(doc);
}

// Runs `iterations` mutations of the seeds (alternating byte and JSON-aware mutations)
// through `target`; returns how many of the mutated inputs `accepted` says parse.
template <class Accepted>
std::size_t run_mutations(const std::vector<std::string>& seeds, target_fn target, int iterations,
                          bool json_aware, Accepted accepted) {
  std::mt19937 rng(20261125);
  std::size_t count = 0;
  for (int i = 0; i < iterations; ++i) {
    const std::string& seed = seeds[static_cast<std::size_t>(i) % seeds.size()];
    const std::string input = json_aware && i % 2 == 1 ? mutate_json(seed, rng) : mutate(seed, rng);
    target(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
    if (accepted(input)) ++count;
  }
  return count;
}

void run_mutations(const std::vector<std::string>& seeds, target_fn target, int iterations) {
  run_mutations(seeds, target, iterations, false, [](const std::string&) { return false; });
}

void run_seeds(const std::vector<std::string>& seeds, target_fn target) {
  for (const std::string& s : seeds) target(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

bool report_parses(const std::string& s) { return attest::parse_report_document(s).has_value(); }

bool payload_parses(const std::string& s) { return gpu::parse_payload(s).has_value(); }

// One mutation of the binary inside an nvidia_payload (JSON-aware mutations only reach
// the base64 text): an entry's certificate chain or SPDM evidence is decoded, mutated
// as bytes and encoded again, so that the DER and SPDM parsers and the checks behind
// them see near-valid input.
std::string mutate_gpu_entry(const std::string& seed, std::mt19937& rng) {
  json::error_code ec;
  json::value doc = json::parse(seed, ec);
  json::array* list = ec || !doc.is_object() ? nullptr : doc.as_object()["evidence_list"].if_array();
  if (list == nullptr || list->empty()) return mutate(seed, rng);
  json::object* entry = (*list)[rng() % list->size()].if_object();
  if (entry == nullptr) return mutate(seed, rng);
  json::value& field = (*entry)[rng() % 2 == 0 ? "certificate" : "evidence"];
  const json::string* text = field.if_string();
  const auto raw = text != nullptr ? base64_decode(*text) : std::nullopt;
  if (!raw) return mutate(seed, rng);
  std::string binary(raw->begin(), raw->end());
  auto ders = crypto::pem_certificate_ders(binary);
  if (ders && rng() % 4 != 0) {
    // Inside one certificate's DER rather than the PEM framing.
    bytes& der = (*ders)[rng() % ders->size()];
    const std::string changed = mutate(std::string(der.begin(), der.end()), rng);
    der.assign(changed.begin(), changed.end());
    binary.clear();
    for (const bytes& d : *ders) {
      binary += "-----BEGIN CERTIFICATE-----\n";
      const std::string b64 = base64_encode(d);
      for (std::size_t at = 0; at < b64.size(); at += 64) binary += b64.substr(at, 64) + "\n";
      binary += "-----END CERTIFICATE-----\n";
    }
  } else {
    binary = mutate(std::move(binary), rng);
  }
  field = base64_encode(as_bytes(binary));
  return json::serialize(doc);
}

TEST(FuzzTargets, SurviveEmptyAndTinyInputs) {
  const std::uint8_t byte = 0;
  for (target_fn t : {quote_input, collateral_input, report_input, event_log_input, policy_input, routing_input,
                      http_request_input, http_response_input, gpu_payload_input, nras_input, signature_input,
                      sse_input, e2ee_fields_input, answer_input}) {
    t(&byte, 0);
    t(&byte, 1);
    t(nullptr, 0);
  }
}

TEST(FuzzTargets, SyntheticSeedsAreWellFormed) {
  // The seeds must get past the first checks, or the mutations only test the JSON layer.
  const auto reports = report_seeds();
  ASSERT_GE(reports.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    const auto doc = attest::parse_report_document(reports[i]);
    ASSERT_TRUE(doc) << i << ": " << doc.error().message;
    for (const auto& a : doc->attestations) {
      if (i == 3) continue;  // the required fields only
      ASSERT_TRUE(a.event_log && a.info && a.info->tcb_info && a.info->tcb_info->app_compose) << i;
      const auto events = policy::parse_event_log(*a.event_log->entries, "/event_log");
      ASSERT_TRUE(events) << events.error().message;
      EXPECT_TRUE(policy::check_runtime_digests(*events).empty()) << i;
    }
  }
  EXPECT_EQ(attest::parse_report_document(reports[2])->form, attest::report_form::gateway);
  EXPECT_EQ(attest::parse_report_document(reports[1])->attestations[0].event_log->encoding,
            attest::json_encoding::json_string);

  for (const std::string& p : policy_seeds()) EXPECT_TRUE(policy::parse_policy(p)) << p;
  // The built-in policy reads back as itself.
  const auto nearai = policy::parse_policy(policy::nearai_policy_json());
  ASSERT_TRUE(nearai) << nearai.error().message;
  EXPECT_EQ(*nearai, policy::nearai_policy());
  EXPECT_EQ(nearai->name(), "nearai");

  const auto logs = event_log_seeds();
  for (std::size_t i = 0; i < 2; ++i) {
    const auto v = json::parse(logs[i]);
    const auto events = policy::parse_event_log(v.as_array(), "");
    ASSERT_TRUE(events) << events.error().message;
    EXPECT_EQ(events->size(), 12u);
    EXPECT_TRUE(policy::check_runtime_digests(*events).empty());
  }
  EXPECT_TRUE(policy::parse_key_provider(logs[4], true));

  const auto routing = routing_seeds();
  std::string error;
  EXPECT_TRUE(proxy::parse_endpoints(routing[0], error)) << error;
  EXPECT_EQ(proxy::model_of_request(routing[1]), "zai-org/GLM-5-FP8");
  EXPECT_TRUE(proxy::parse_connect_to(routing[2], error)) << error;
  EXPECT_TRUE(proxy::parse_connect_to(routing[3], error)) << error;
  EXPECT_EQ(proxy::normalize_host(routing[4]), "glm-5.completions.near.ai");

  // And every seed passes its target's properties.
  run_seeds(reports, report_input);
  run_seeds(logs, event_log_input);
  run_seeds(policy_seeds(), policy_input);
  run_seeds(routing, routing_input);
}

TEST(FuzzTargets, QuoteParserSurvivesMutatedRealQuotes) {
  VP_REQUIRE_SHARED_TESTDATA();
  const std::vector<std::string> seeds = {test::read_shared("tdx/v4-phala-uptodate/quote.bin"),
                                          test::read_shared("tdx/v5-google-quote-phala-collateral-uptodate/quote.bin"),
                                          test::read_shared("tdx/sgx-v3-phala-config-and-sw-hardening/quote.bin")};
  run_mutations(seeds, quote_input, 3000);
}

TEST(FuzzTargets, CollateralParsersSurviveMutatedRealCollateral) {
  VP_REQUIRE_SHARED_TESTDATA();
  const std::vector<std::string> seeds = {test::read_shared("tdx/v4-phala-uptodate/collateral.json"),
                                          test::read_shared("nearai/direct-2026-06-29-ed25519/pcs/tcb_info.json"),
                                          test::read_shared("nearai/direct-2026-06-29-ed25519/pcs/qe_identity.json")};
  run_mutations(seeds, collateral_input, 600);
}

TEST(FuzzTargets, ReportChecksSurviveMutatedSyntheticReports) {
  const std::size_t accepted = run_mutations(report_seeds(), report_input, 1500, true, report_parses);
  // Enough mutated reports parse for the event-log, key-provider and evaluation checks
  // behind the parser to run on them.
  EXPECT_GT(accepted, 200u);
}

TEST(FuzzTargets, ReportChecksSurviveMutatedRealReports) {
  VP_REQUIRE_SHARED_TESTDATA();
  std::vector<std::string> seeds;
  for (const char* capture : {"direct-2026-03-22-ecdsa", "direct-2026-04-24-ed25519", "direct-2026-06-29-ed25519",
                              "gateway-2026-04-24", "gateway-2026-06-29"}) {
    seeds.push_back(test::read_shared(std::string("nearai/") + capture + "/report.json"));
  }
  run_seeds(seeds, report_input);
  const std::size_t accepted = run_mutations(seeds, report_input, 60, true, report_parses);
  EXPECT_GT(accepted, 5u);
}

TEST(FuzzTargets, EventLogChecksSurviveMutations) {
  run_mutations(event_log_seeds(), event_log_input, 1500, true, [](const std::string&) { return false; });
}

TEST(FuzzTargets, PolicyParserSurvivesMutations) {
  const std::size_t accepted = run_mutations(policy_seeds(), policy_input, 1500, true,
                                             [](const std::string& s) { return policy::parse_policy(s).has_value(); });
  EXPECT_GT(accepted, 100u);
}

TEST(FuzzTargets, HttpRequestParsingSurvivesMutations) {
  run_seeds(http_request_seeds(), http_request_input);
  run_mutations(http_request_seeds(), http_request_input, 3000, false, [](const std::string&) { return false; });
}

TEST(FuzzTargets, HttpResponseParsingSurvivesMutations) {
  run_seeds(http_response_seeds(), http_response_input);
  run_mutations(http_response_seeds(), http_response_input, 3000, false, [](const std::string&) { return false; });
}

TEST(FuzzTargets, RoutingParsersSurviveMutations) {
  run_mutations(routing_seeds(), routing_input, 3000, true, [](const std::string&) { return false; });
}

TEST(FuzzTargets, SignatureSeedsVerify) {
  // The signed seeds must verify, or the mutations never reach the expectations.
  const auto seeds = signature_seeds();
  std::size_t verified = 0;
  for (const auto& s : seeds) {
    const auto doc = signature::parse_signature_document(s);
    if (doc && signature::verify(*doc, {}).ok()) ++verified;
  }
  EXPECT_EQ(verified, 4u);
  run_seeds(seeds, signature_input);
}

TEST(FuzzTargets, SignatureChecksSurviveMutations) {
  const std::size_t accepted =
      run_mutations(signature_seeds(), signature_input, 3000, true,
                    [](const std::string& s) { return signature::parse_signature_document(s).has_value(); });
  EXPECT_GT(accepted, 100u);
}

TEST(FuzzTargets, AnswerInspectorSurvivesMutations) {
  run_seeds(answer_seeds(), answer_input);
  run_mutations(answer_seeds(), answer_input, 2000);
}

TEST(FuzzTargets, SseReaderSurvivesMutations) {
  run_seeds(sse_seeds(), sse_input);
  run_mutations(sse_seeds(), sse_input, 3000);
}

TEST(FuzzTargets, E2eeFieldTransformsSurviveMutations) {
  run_seeds(e2ee_fields_seeds(), e2ee_fields_input);
  run_mutations(e2ee_fields_seeds(), e2ee_fields_input, 300, true, [](const std::string&) { return false; });
}

TEST(FuzzTargets, GpuSeedsAreWellFormed) {
  const auto payloads = gpu_payload_seeds();
  ASSERT_GE(payloads.size(), 7u);
  // 1, 2 (C++ SDK form) and 8 GPUs, then three with one bad GPU each, then an empty list.
  const std::size_t gpus[] = {1, 2, 8, 2, 2, 2, 0};
  for (std::size_t i = 0; i < std::size(gpus); ++i) {
    const auto p = gpu::parse_payload(payloads[i]);
    ASSERT_TRUE(p) << i << ": " << p.error().describe();
    EXPECT_EQ(p->entries.size(), gpus[i]) << i;
    for (const auto& e : p->entries) EXPECT_TRUE(gpu::parse_spdm(e.evidence)) << i;
  }
  EXPECT_TRUE(gpu::parse_payload(payloads[1])->entries[0].nonce) << "the C++ SDK form repeats the nonce";
  run_seeds(payloads, gpu_payload_input);
  run_seeds(nras_seeds(), nras_input);
}

TEST(FuzzTargets, GpuPayloadChecksSurviveMutations) {
  // Byte, JSON-aware and in-entry binary mutations in turn; the 8-GPU seed is the most
  // expensive (8 chains, 8 signatures), so the small ones come first in the rotation.
  const auto seeds = gpu_payload_seeds();
  std::mt19937 rng(20261126);
  std::size_t parsed = 0;
  for (int i = 0; i < 600; ++i) {
    const std::string& seed = seeds[static_cast<std::size_t>(i) % seeds.size()];
    const std::string input = i % 3 == 0 ? mutate(seed, rng) : i % 3 == 1 ? mutate_json(seed, rng)
                                                                         : mutate_gpu_entry(seed, rng);
    gpu_payload_input(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
    if (payload_parses(input)) ++parsed;
  }
  // Enough mutated payloads parse for parse_spdm and verify to run on them.
  EXPECT_GT(parsed, 200u);
}

TEST(FuzzTargets, GpuPayloadChecksSurviveMutatedRealPayloads) {
  VP_REQUIRE_SHARED_TESTDATA();
  std::vector<std::string> seeds;
  for (const char* capture : {"direct-2026-03-22-ecdsa", "direct-2026-06-29-ed25519", "gateway-2026-06-29"}) {
    const json::value doc = json::parse(test::read_shared(std::string("nearai/") + capture + "/report.json"));
    const json::object* model = &doc.as_object();
    if (const auto* list = model->if_contains("model_attestations")) model = &list->as_array().at(0).as_object();
    seeds.emplace_back(model->at("nvidia_payload").as_string());
  }
  run_seeds(seeds, gpu_payload_input);
  std::mt19937 rng(20261127);
  for (int i = 0; i < 90; ++i) {
    const std::string input = mutate_gpu_entry(seeds[static_cast<std::size_t>(i) % seeds.size()], rng);
    gpu_payload_input(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
  }
}

TEST(FuzzTargets, NrasChecksSurviveMutations) {
  run_mutations(nras_seeds(), nras_input, 1500, true, [](const std::string&) { return false; });
}

}  // namespace
}  // namespace vp::fuzz
