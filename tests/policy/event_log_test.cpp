// Event-log parsing, RTMR replay and runtime-event digests (v1 and the canonical-JSON v2
// form), on hand-built logs and on every real NEAR capture.

#include "policy/event_log.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "attest/near_report.hpp"
#include "attest/nearai_captures.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "policy/synthetic_cvm.hpp"
#include "support/testdata.hpp"

namespace vp::policy {
namespace {

namespace json = boost::json;
using test::nearai::str;

json::object runtime_entry(std::string_view name, std::string_view payload_hex) {
  const bytes payload = from_hex(payload_hex).value();
  return json::object{{"imr", 3},
                      {"event_type", 0x08000001},
                      {"digest", to_hex(test::synthetic::v1_digest(name, payload))},
                      {"event", name},
                      {"event_payload", payload_hex}};
}

event_log_result<std::vector<tdx_event>> parse_one(const json::object& entry) {
  return parse_event_log(json::array{entry}, "/event_log");
}

TEST(EventLogParse, DecodesEveryField) {
  json::object e = runtime_entry("app-id", "2c0a");
  e["version"] = 1;
  e["preimage"] = "00ff";
  e["unknown_field"] = true;
  const auto events = parse_one(e);
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 1u);
  const tdx_event& ev = events->front();
  EXPECT_EQ(ev.imr, 3u);
  EXPECT_EQ(ev.event_type, dstack_runtime_event_type);
  EXPECT_TRUE(ev.is_runtime());
  EXPECT_EQ(ev.name, "app-id");
  EXPECT_EQ(to_hex(ev.payload), "2c0a");
  EXPECT_EQ(ev.digest, test::synthetic::v1_digest("app-id", from_hex("2c0a").value()));
  EXPECT_EQ(ev.version, runtime_digest_version::v1);
  ASSERT_TRUE(ev.preimage);
  EXPECT_EQ(to_hex(*ev.preimage), "00ff");

  e["version"] = 2;
  e["event_type"] = 0x80000001u;  // as Boost.JSON may hold it: uint64 above int range is fine
  const auto v2 = parse_one(e);
  ASSERT_TRUE(v2) << v2.error().message;
  EXPECT_EQ(v2->front().version, runtime_digest_version::v2);
  EXPECT_FALSE(v2->front().is_runtime());
}

TEST(EventLogParse, EveryFieldRuleNamesTheEntryAndField) {
  const json::object good = runtime_entry("app-id", "2c0a");
  struct case_t {
    const char* field;
    json::value value;  // null: erase the field
    const char* needle;
  };
  const std::vector<case_t> cases = {
      {"imr", nullptr, "/event_log/0/imr is missing"},
      {"imr", 4, "/event_log/0/imr is 4"},
      {"imr", -1, "/event_log/0/imr must be an unsigned 32-bit integer"},
      {"imr", "3", "/event_log/0/imr must be an unsigned 32-bit integer, got string"},
      {"event_type", 0x100000000LL, "/event_log/0/event_type must be an unsigned 32-bit integer"},
      {"digest", nullptr, "/event_log/0/digest is missing"},
      {"digest", json::string(94, 'a'), "must be 96 hex digits (SHA-384), got 94"},
      {"digest", json::string(96, 'g'), "/event_log/0/digest is not hex"},
      {"event", nullptr, "/event_log/0/event is missing"},
      {"event", 7, "/event_log/0/event must be a string, got int64"},
      {"event", json::string(max_event_name_size + 1, 'x'), "over the limit of 256"},
      {"event_payload", nullptr, "/event_log/0/event_payload is missing"},
      {"event_payload", "abc", "/event_log/0/event_payload is not hex"},
      {"version", 3, "/event_log/0/version must be 1 or 2, got 3"},
      {"version", "2", "/event_log/0/version must be 1 or 2, got string"},
      {"preimage", 5, "/event_log/0/preimage must be a string"},
      {"preimage", "zz", "/event_log/0/preimage is not hex"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.field) + " = " + json::serialize(c.value));
    json::object e = good;
    if (c.value.is_null()) {
      e.erase(c.field);
    } else {
      e[c.field] = c.value;
    }
    const auto r = parse_one(e);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().message;
  }
  const auto not_object = parse_event_log(json::array{good, 5}, "/x");
  ASSERT_FALSE(not_object);
  EXPECT_NE(not_object.error().message.find("/x/1 must be an object, got int64"), std::string::npos);

  json::object huge = good;
  huge["event_payload"] = std::string(2 * max_event_payload_size + 2, 'a');
  const auto too_big = parse_one(huge);
  ASSERT_FALSE(too_big);
  EXPECT_NE(too_big.error().message.find("over the limit"), std::string::npos);
}

TEST(RuntimeEventDigest, V1IsTypeColonNameColonPayload) {
  const bytes payload = {0xde, 0xad, 0xbe, 0xef};
  const bytes pre = runtime_event_preimage("app-id", payload, runtime_digest_version::v1);
  EXPECT_EQ(to_hex(pre), "01000008" + to_hex(as_bytes(":app-id:")) + "deadbeef");
  EXPECT_EQ(runtime_event_digest("app-id", payload, runtime_digest_version::v1),
            test::synthetic::v1_digest("app-id", payload));
}

// dstack's own vectors (cc-eventlog runtime_events.rs): RFC 8785 canonical JSON.
TEST(RuntimeEventDigest, V2IsCanonicalJson) {
  const auto text = [](std::string_view name, const bytes& payload) {
    const bytes pre = runtime_event_preimage(name, payload, runtime_digest_version::v2);
    return std::string(pre.begin(), pre.end());
  };
  EXPECT_EQ(text("compose-hash", {0xab, 0xcd}), R"({"name":"compose-hash","payload":"abcd","type":134217729})");
  EXPECT_EQ(text("", {}), R"({"name":"","payload":"","type":134217729})");
  EXPECT_EQ(text("event\"with\\special\nchars", {0xff}),
            R"({"name":"event\"with\\special\nchars","payload":"ff","type":134217729})");
  EXPECT_EQ(text("\x08\x0c\n\r\t\x01\x1f", {}), R"({"name":"\b\f\n\r\t\u0001\u001f","payload":"","type":134217729})");
  // Non-ASCII, '/' and DEL are written as they are.
  EXPECT_EQ(text("测试/\x7f", {0xAB, 0xCD, 0xEF}), "{\"name\":\"测试/\x7f\",\"payload\":\"abcdef\",\"type\":134217729}");
  const bytes payload = {1, 2, 3};
  EXPECT_EQ(runtime_event_digest("x", payload, runtime_digest_version::v2),
            crypto::sha384(as_bytes(R"({"name":"x","payload":"010203","type":134217729})")));
  EXPECT_NE(runtime_event_digest("x", payload, runtime_digest_version::v2),
            runtime_event_digest("x", payload, runtime_digest_version::v1));
}

TEST(EventLogReplay, ExtendsEachRegisterInOrderFromZero) {
  const test::synthetic_cvm cvm;
  const json::array log = cvm.event_log();
  const auto events = parse_event_log(log, "/event_log");
  ASSERT_TRUE(events) << events.error().message;
  EXPECT_EQ(replay_rtmrs(*events), test::synthetic::replay(log));

  // By hand for one register: RTMR2 = SHA-384(0^48 ‖ d) for its single event.
  const tdx::measurement zero{};
  const tdx::measurement d = crypto::sha384(as_bytes("Linux initrd"));
  EXPECT_EQ(replay_rtmrs(*events)[2], crypto::sha384({zero, d}));
  EXPECT_EQ(replay_rtmrs({})[0], zero);

  // Order matters within a register, not across registers.
  auto swapped = *events;
  std::swap(swapped[0], swapped[1]);
  EXPECT_NE(replay_rtmrs(swapped)[0], replay_rtmrs(*events)[0]);
  auto interleaved = *events;
  std::swap(interleaved[2], interleaved[3]);  // imr 0 and imr 1
  EXPECT_EQ(replay_rtmrs(interleaved), replay_rtmrs(*events));
}

TEST(RuntimeDigests, RecomputedFromNameAndPayload) {
  const test::synthetic_cvm cvm;
  auto events = parse_event_log(cvm.event_log(), "/event_log").value();
  EXPECT_TRUE(check_runtime_digests(events).empty());

  // Payload changed, digest kept: the digest no longer describes the event.
  const std::size_t app_id = 7;
  ASSERT_EQ(events[app_id].name, "app-id");
  events[app_id].payload.back() ^= 1;
  auto mismatches = check_runtime_digests(events);
  ASSERT_EQ(mismatches.size(), 1u);
  EXPECT_EQ(mismatches[0].index, app_id);
  EXPECT_EQ(mismatches[0].name, "app-id");
  EXPECT_EQ(mismatches[0].logged, events[app_id].digest);
  EXPECT_EQ(mismatches[0].computed, runtime_event_digest("app-id", events[app_id].payload, runtime_digest_version::v1));

  // Boot events keep their stored digests: nothing to recompute.
  events = parse_event_log(cvm.event_log(), "/event_log").value();
  events[0].payload.push_back(0);
  EXPECT_TRUE(check_runtime_digests(events).empty());
}

TEST(RuntimeDigests, V2EventsAndTheirPreimage) {
  const bytes payload = {0xab, 0xcd};
  tdx_event e;
  e.imr = 3;
  e.event_type = dstack_runtime_event_type;
  e.name = "compose-hash";
  e.payload = payload;
  e.version = runtime_digest_version::v2;
  e.digest = crypto::sha384(as_bytes(R"({"name":"compose-hash","payload":"abcd","type":134217729})"));
  std::vector<tdx_event> log{e};
  EXPECT_TRUE(check_runtime_digests(log).empty());

  // A v2 digest read as v1 does not match (the version field decides the scheme).
  log[0].version = runtime_digest_version::v1;
  EXPECT_EQ(check_runtime_digests(log).size(), 1u);

  // A logged preimage must be the one the name and payload give.
  log[0].version = runtime_digest_version::v2;
  log[0].preimage = runtime_event_preimage(e.name, payload, runtime_digest_version::v2);
  EXPECT_TRUE(check_runtime_digests(log).empty());
  log[0].preimage->push_back(' ');
  const auto m = check_runtime_digests(log);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_TRUE(m[0].preimage_mismatch);
}

class EventLogCapture : public testing::TestWithParam<std::string> {};

TEST_P(EventLogCapture, ReplaysToExpectedRegistersWithRecomputedRuntimeDigests) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto c = test::nearai::load_capture(GetParam());
  const auto doc = attest::parse_report_document(c.body);
  ASSERT_TRUE(doc) << doc.error().message;
  for (const auto& entry_value : c.attestations()) {
    const json::object& e = entry_value.as_object();
    const auto* a = doc->find(str(e.at("json_pointer")));
    ASSERT_NE(a, nullptr);
    SCOPED_TRACE(c.name + " " + a->json_pointer);
    ASSERT_TRUE(a->event_log);
    const json::object& expected = e.at("event_log").as_object();
    EXPECT_EQ(a->event_log->encoding == attest::json_encoding::json_string ? "json-string" : "array",
              str(expected.at("encoding")));
    const auto events = parse_event_log(*a->event_log->entries, a->json_pointer + "/event_log");
    ASSERT_TRUE(events) << events.error().message;
    EXPECT_EQ(static_cast<std::int64_t>(events->size()), expected.at("entries").as_int64());
    const auto rtmr = replay_rtmrs(*events);
    for (std::size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(to_hex(rtmr[i]), str(expected.at("replayed").at("rtmr" + std::to_string(i))));
      EXPECT_EQ(to_hex(rtmr[i]), str(e.at("quote").at("rtmr" + std::to_string(i))));
    }
    EXPECT_TRUE(check_runtime_digests(*events).empty());
    std::vector<std::string> names;
    for (const auto& ev : *events) {
      if (ev.is_runtime()) names.push_back(ev.name);
    }
    const auto& expected_names = expected.at("runtime_events").as_array();
    ASSERT_EQ(names.size(), expected_names.size());
    for (std::size_t i = 0; i < names.size(); ++i) EXPECT_EQ(names[i], str(expected_names[i]));
  }
}

INSTANTIATE_TEST_SUITE_P(SharedVectors, EventLogCapture, testing::ValuesIn(test::nearai::capture_names()),
                         test::nearai::param_name);

}  // namespace
}  // namespace vp::policy
