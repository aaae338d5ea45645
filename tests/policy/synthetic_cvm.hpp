#pragma once
// A synthetic dstack CVM for the workload-policy tests: an event log (boot events and
// dstack runtime events), an app manifest, info, and a quote minted by the test PKI whose
// RTMRs, MRCONFIGID and report_data are what that evidence implies. The digests and the
// replay here are computed independently of vp::policy (plain SHA-384 over the spec'd
// bytes), so the tests check the implementation rather than echo it. Stands alone: no
// ../shared data needed.

#include <boost/json.hpp>

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "core/bytes.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "tdx/quote.hpp"
#include "testpki/test_pki.hpp"

namespace vp::test {

namespace synthetic {

namespace json = boost::json;

template <std::size_t N>
std::array<std::uint8_t, N> filled(std::uint8_t b) {
  std::array<std::uint8_t, N> a{};
  a.fill(b);
  return a;
}

inline bytes filled_bytes(std::size_t n, std::uint8_t b) { return bytes(n, b); }

inline const sha256_digest& nonce() {
  static const auto n = filled<32>(0x11);
  return n;
}
inline const sha256_digest& tls_fingerprint() {
  static const auto f = filled<32>(0x22);
  return f;
}
inline const bytes& signing_address() {  // ed25519: the 32-byte public key
  static const bytes a(32, 0x33);
  return a;
}

/// SHA-384(le32(0x08000001) ‖ ":" ‖ name ‖ ":" ‖ payload), written out here.
inline tdx::measurement v1_digest(std::string_view name, byte_view payload) {
  const std::uint8_t type[4] = {0x01, 0x00, 0x00, 0x08};
  return crypto::sha384({byte_view(type), as_bytes(":"), as_bytes(name), as_bytes(":"), payload});
}

/// RTMR0-3 from an event log array (logged digests), written out here.
inline std::array<tdx::measurement, 4> replay(const json::array& log) {
  std::array<tdx::measurement, 4> rtmr{};
  for (const auto& v : log) {
    const auto& e = v.as_object();
    const auto imr = static_cast<std::size_t>(e.at("imr").as_int64());
    const auto digest = from_hex(e.at("digest").as_string()).value();
    rtmr[imr] = crypto::sha384({rtmr[imr], digest});
  }
  return rtmr;
}

inline json::object event(std::int64_t imr, std::int64_t type, std::string_view name, byte_view payload,
                          byte_view digest) {
  return json::object{{"imr", imr},
                      {"event_type", type},
                      {"digest", to_hex(digest)},
                      {"event", name},
                      {"event_payload", to_hex(payload)}};
}

}  // namespace synthetic

/// Edit the public members, then call report() / report_text().
class synthetic_cvm {
 public:
  std::string app_compose =
      "{\"manifest_version\":2,\"name\":\"test-app\",\"runner\":\"docker-compose\","
      "\"docker_compose_file\":\"services:\\n  app:\\n    image: example@sha256:ab\\n\"}";
  bytes app_id = synthetic::filled_bytes(20, 0xa1);
  bytes instance_id = synthetic::filled_bytes(20, 0xa2);
  bytes os_image_hash = synthetic::filled_bytes(32, 0xa3);
  bytes kms_id = synthetic::filled_bytes(91, 0xa4);  ///< stands for the KMS root key's DER SPKI
  std::string model_name = "test/model-7b";
  /// TD fields other than RTMRs, MRCONFIGID and report_data (those are derived).
  tdx::td_report td = default_td_report();
  /// The quote's PCK / platform (e.g. an OutOfDate PCESVN).
  quote_spec spec;

  std::string key_provider_payload() const { return "{\"name\":\"kms\",\"id\":\"" + to_hex(kms_id) + "\"}"; }
  sha256_digest compose_hash() const { return crypto::sha256(as_bytes(app_compose)); }

  /// Boot events (imr 0-2, stored digests) then dstack's RTMR3 sequence with v1 digests.
  boost::json::array event_log() const {
    namespace s = synthetic;
    boost::json::array log;
    const auto boot = [&](std::int64_t imr, std::int64_t type, std::string_view what) {
      log.push_back(s::event(imr, type, "", as_bytes(what), crypto::sha384(as_bytes(what))));
    };
    boot(0, 0x80000001, "TdxTable");
    boot(0, 0x0a, "ACPI DATA");
    boot(0, 4, "separator");
    boot(1, 0x80000007, "Calling EFI Application from Boot Option");
    boot(1, 4, "separator");
    boot(2, 6, "Linux initrd");
    const auto runtime = [&](std::string_view name, byte_view payload) {
      log.push_back(s::event(3, 0x08000001, name, payload, s::v1_digest(name, payload)));
    };
    const sha256_digest compose = compose_hash();
    runtime("system-preparing", {});
    runtime("app-id", app_id);
    runtime("compose-hash", compose);
    runtime("instance-id", instance_id);
    runtime("boot-mr-done", {});
    runtime("mr-kms", s::filled_bytes(32, 0xa5));
    runtime("os-image-hash", os_image_hash);
    runtime("key-provider", as_bytes(key_provider_payload()));
    runtime("system-ready", {});
    return log;
  }

  /// The attestation object (direct form) for `log`, with a quote whose RTMRs replay
  /// from `log`, MRCONFIGID = 01 ‖ SHA-256(app_compose), report_data bound to the
  /// synthetic signing address, TLS fingerprint and nonce.
  boost::json::object report(const test_pki& pki, const boost::json::array& log) const {
    namespace s = synthetic;
    quote_spec q = spec;
    q.td = td;
    q.td.rtmr = s::replay(log);
    q.td.mr_config_id = {};
    q.td.mr_config_id[0] = 0x01;
    const sha256_digest compose = compose_hash();
    std::copy(compose.begin(), compose.end(), q.td.mr_config_id.begin() + 1);
    const sha256_digest prefix = crypto::sha256({s::signing_address(), s::tls_fingerprint()});
    std::copy(prefix.begin(), prefix.end(), q.td.report_data.begin());
    std::copy(s::nonce().begin(), s::nonce().end(), q.td.report_data.begin() + 32);
    const bytes quote = pki.mint(q);

    boost::json::object tcb_info{{"mrtd", to_hex(q.td.mr_td)},
                                 {"rtmr0", to_hex(q.td.rtmr[0])},
                                 {"rtmr1", to_hex(q.td.rtmr[1])},
                                 {"rtmr2", to_hex(q.td.rtmr[2])},
                                 {"rtmr3", to_hex(q.td.rtmr[3])},
                                 {"os_image_hash", to_hex(os_image_hash)},
                                 {"compose_hash", to_hex(compose)},
                                 {"app_compose", app_compose},
                                 {"event_log", log}};
    boost::json::object info{{"app_id", to_hex(app_id)},
                             {"instance_id", to_hex(instance_id)},
                             {"app_name", "test-app"},
                             {"compose_hash", to_hex(compose)},
                             {"os_image_hash", to_hex(os_image_hash)},
                             {"key_provider_info", key_provider_payload()},
                             {"tcb_info", tcb_info}};
    return boost::json::object{{"model_name", model_name},
                               {"signing_address", to_hex(s::signing_address())},
                               {"signing_algo", "ed25519"},
                               {"signing_public_key", to_hex(s::signing_address())},
                               {"request_nonce", to_hex(s::nonce())},
                               {"intel_quote", to_hex(quote)},
                               {"event_log", log},
                               {"info", info},
                               {"tls_cert_fingerprint", to_hex(s::tls_fingerprint())}};
  }

  boost::json::object report(const test_pki& pki) const { return report(pki, event_log()); }

  /// A policy JSON text pinning exactly this CVM's values (model role).
  std::string pinning_policy() const {
    const auto replayed = synthetic::replay(event_log());
    boost::json::object model{{"mrseam", boost::json::array{to_hex(td.mr_seam)}},
                              {"mrtd", boost::json::array{to_hex(td.mr_td)}},
                              {"rtmr0", boost::json::array{to_hex(replayed[0])}},
                              {"rtmr1", boost::json::array{to_hex(replayed[1])}},
                              {"rtmr2", boost::json::array{to_hex(replayed[2])}},
                              {"os_image_hash", boost::json::array{to_hex(os_image_hash)}},
                              {"app_id", boost::json::array{to_hex(app_id)}},
                              {"key_provider_id", boost::json::array{to_hex(kms_id)}},
                              {"compose_hash", boost::json::array{to_hex(compose_hash())}}};
    return boost::json::serialize(boost::json::object{{"name", "synthetic"}, {"model", model}});
  }
};

}  // namespace vp::test
