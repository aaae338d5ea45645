#pragma once
// The real NEAR AI captures (../shared/testdata/nearai/<capture>/) as the attestation
// tests use them: the report body, the client nonce, the TLS peer key where recorded and
// expected.json. Only call after VP_REQUIRE_SHARED_TESTDATA().

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "support/testdata.hpp"

namespace vp::test::nearai {

inline const std::vector<std::string>& capture_names() {
  static const std::vector<std::string> names = {"direct-2026-03-22-ecdsa", "direct-2026-04-24-ed25519",
                                                 "direct-2026-06-29-ed25519", "gateway-2026-04-24",
                                                 "gateway-2026-06-29"};
  return names;
}

/// gtest parameter name for a capture ("direct_2026_03_22_ecdsa").
inline std::string param_name(const testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

inline boost::json::value parse_json_or_fail(const std::string& text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  EXPECT_FALSE(ec) << ec.message();
  return v;
}

inline bytes hex_or_fail(std::string_view text) {
  auto decoded = from_hex(text);
  EXPECT_TRUE(decoded.has_value()) << "not hex: " << text;
  return decoded.value_or(bytes{});
}

inline std::string str(const boost::json::value& v) { return std::string(v.as_string()); }

struct capture {
  std::string name;
  std::filesystem::path dir;  ///< relative to the shared testdata directory
  std::string body;           ///< report.json, byte-exact
  boost::json::object request;
  boost::json::object expected;
  bytes nonce;                              ///< request.json nonce_hex
  std::optional<sha256_digest> peer_spki_sha256;  ///< SHA-256(peer_spki.der) where recorded
  std::int64_t verify_at = 0;

  const boost::json::array& attestations() const { return expected.at("attestations").as_array(); }

  /// The SPKI digest the client would see for the attestation `entry` (an element of
  /// expected.json's attestations): the recorded peer key for the attestation the
  /// client's own connection terminates at (direct top level, gateway_attestation);
  /// otherwise — no key recorded, or a model CVM behind the gateway, whose TLS key the
  /// client never sees — the attested fingerprint of that entry.
  bytes live_spki_for(const boost::json::object& entry) const {
    const std::string pointer = str(entry.at("json_pointer"));
    const bool client_facing = pointer.empty() || pointer == "/gateway_attestation";
    if (client_facing && peer_spki_sha256) return bytes(peer_spki_sha256->begin(), peer_spki_sha256->end());
    return hex_or_fail(str(entry.at("tls_cert_fingerprint")));
  }
};

inline capture load_capture(const std::string& name) {
  capture c;
  c.name = name;
  c.dir = std::filesystem::path("nearai") / name;
  c.body = read_shared(c.dir / "report.json");
  c.request = parse_json_or_fail(read_shared(c.dir / "request.json")).as_object();
  c.expected = parse_json_or_fail(read_shared(c.dir / "expected.json")).as_object();
  c.nonce = hex_or_fail(str(c.request.at("nonce_hex")));
  EXPECT_EQ(str(c.request.at("nonce_hex")), str(c.expected.at("nonce_hex")));
  c.verify_at = c.expected.at("verify_at_unix").as_int64();
  if (std::filesystem::exists(*shared_testdata_dir() / c.dir / "peer_spki.der")) {
    const std::string der = read_shared(c.dir / "peer_spki.der");
    c.peer_spki_sha256 = crypto::sha256(as_bytes(der));
    EXPECT_EQ(to_hex(*c.peer_spki_sha256), str(c.request.at("peer_spki_sha256_hex")));
  } else {
    EXPECT_TRUE(c.request.at("peer_spki_sha256_hex").is_null());
  }
  return c;
}

/// The report body with `edit` applied to the attestation object at `pointer`
/// (re-serialised: fine for fields that are not hashed byte-exactly).
template <class Edit>
std::string edited_body(const std::string& body, std::string_view pointer, Edit edit) {
  boost::json::value doc = parse_json_or_fail(body);
  boost::json::object& target = pointer.empty() ? doc.as_object() : doc.at_pointer(pointer).as_object();
  edit(target);
  return boost::json::serialize(doc);
}

}  // namespace vp::test::nearai
