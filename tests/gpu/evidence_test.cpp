// The local GPU checks (docs/gpu-signatures-e2ee.md §1.4 L1-L12, L15) on the real NEAR
// captures at their capture time, and one rejection per check on the same real evidence
// altered in one place. The NVIDIA sample evidence is a second, independent real vector.

#include "gpu/evidence.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <stdexcept>

#include <thread>

#include "attest/nearai_captures.hpp"
#include "core/hex.hpp"
#include "core/base64.hpp"
#include "crypto/digest.hpp"
#include "crypto/x509.hpp"
#include "gpu/chain_cache.hpp"
#include "support/testdata.hpp"
#include "testpki/nvidia_pki.hpp"
#include "testpki/nvidia_pki.hpp"

namespace vp::gpu {
namespace {

namespace json = boost::json;
using test::nearai::capture;

/// The model attestation's nvidia_payload text and info.vm_config of a capture.
struct capture_gpus {
  std::string payload_text;
  std::string vm_config;
  sha256_digest nonce{};
  unix_time at{};
};

capture_gpus gpus_of(const capture& c) {
  const json::value doc = test::nearai::parse_json_or_fail(c.body);
  const json::object* model = &doc.as_object();
  if (const auto* list = model->if_contains("model_attestations")) model = &list->as_array().at(0).as_object();
  capture_gpus out;
  out.payload_text = std::string(model->at("nvidia_payload").as_string());
  const json::value& info = model->at("info");
  const json::value info_object = info.is_string() ? test::nearai::parse_json_or_fail(std::string(info.as_string())) : info;
  out.vm_config = std::string(info_object.as_object().at("vm_config").as_string());
  std::copy(c.nonce.begin(), c.nonce.end(), out.nonce.begin());
  out.at = unix_time(std::chrono::seconds(c.verify_at));
  return out;
}

nvidia_payload parsed(const capture_gpus& g) {
  auto p = parse_payload(g.payload_text);
  EXPECT_TRUE(p) << (p ? "" : p.error().describe());
  return p ? std::move(*p) : nvidia_payload{};
}

std::string pem_of(const std::vector<bytes>& ders) {
  std::string pem;
  for (const auto& d : ders) {
    pem += "-----BEGIN CERTIFICATE-----\n";
    const std::string b64 = base64_encode(d);
    for (std::size_t i = 0; i < b64.size(); i += 64) pem += b64.substr(i, 64) + "\n";
    pem += "-----END CERTIFICATE-----\n";
  }
  return pem;
}

/// The check a verification failed with, or "" when it passed.
std::string failed_check(const result<std::vector<verified_gpu>>& r) {
  return r ? "" : std::string(to_string(r.error().check));
}

class GpuCapture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    VP_REQUIRE_SHARED_TESTDATA();
    gpus = gpus_of(test::nearai::load_capture(GetParam()));
    payload = parsed(gpus);
  }
  result<std::vector<verified_gpu>> run(const nvidia_payload& p) const {
    return verify(p, gpus.nonce, nvidia_device_identity_ca(), gpus.at, configured_gpu_count(gpus.vm_config));
  }
  capture_gpus gpus;
  nvidia_payload payload;
};

TEST_P(GpuCapture, EveryGpuPassesAtCaptureTime) {
  EXPECT_EQ(configured_gpu_count(gpus.vm_config), std::optional<std::size_t>(8));
  const auto r = run(payload);
  ASSERT_TRUE(r) << r.error().describe();
  ASSERT_EQ(r->size(), 8u);
  for (const auto& g : *r) {
    EXPECT_EQ(g.arch, "HOPPER");
    EXPECT_EQ(g.driver_version, "570.172.08");
    EXPECT_EQ(g.vbios_version, "96.00.CF.00.02");
    EXPECT_EQ(g.hwmodel, "GH100 A01 GSP BROM");
    EXPECT_EQ(g.measurements.size(), 64u);
    EXPECT_EQ(to_hex(g.measurement_record_sha256), "53cc764a223add58ec3bdee00c2a6a634c9e0f40254dc47493b753558207e44d")
        << "all 64 blocks are identical on every NEAR GPU (§1.7)";
    EXPECT_EQ(g.fwid.size(), 48u);
    EXPECT_EQ(g.chain_der.size(), 5u);
    EXPECT_FALSE(g.ueid.empty());
    EXPECT_EQ(g.nvdec0_status, std::optional<std::uint8_t>(0x55));
  }
}

TEST_P(GpuCapture, ABitOfOneGpusSignatureIsRejected) {
  payload.entries[3].evidence.back() ^= 0x01;
  const auto r = run(payload);
  EXPECT_EQ(failed_check(r), "signature");
  EXPECT_EQ(r.error().gpu, std::optional<std::size_t>(3));
}

TEST_P(GpuCapture, AByteOfASignedMeasurementIsRejected) {
  // Block 2's digest (non-zero on every NEAR GPU) starts at request 37 + header 8 + the
  // first block (55 bytes) + block 2's own 7-byte header.
  payload.entries[0].evidence[37 + 8 + 55 + 7] ^= 0x80;
  EXPECT_EQ(failed_check(run(payload)), "signature");
}

TEST_P(GpuCapture, AnotherSpdmNonceIsRejected) {
  payload.entries[5].evidence[4] ^= 0x01;
  const auto r = run(payload);
  EXPECT_EQ(failed_check(r), "spdm_nonce");
  EXPECT_EQ(r.error().gpu, std::optional<std::size_t>(5));
}

TEST_P(GpuCapture, AnotherPayloadNonceIsRejected) {
  auto other = gpus.nonce;
  other[31] ^= 0x01;
  EXPECT_EQ(failed_check(verify(payload, other, nvidia_device_identity_ca(), gpus.at, 8)), "payload_nonce");
}

TEST_P(GpuCapture, ACertificateSwappedForAnotherGpusIsRejected) {
  // GPU 1's leaf in GPU 0's chain: its issuer is GPU 1's BROM certificate.
  auto chain0 = crypto::pem_certificate_ders(payload.entries[0].certificate_pem).value();
  auto chain1 = crypto::pem_certificate_ders(payload.entries[1].certificate_pem).value();
  auto mixed = chain0;
  mixed[0] = chain1[0];
  payload.entries[0].certificate_pem = pem_of(mixed);
  EXPECT_EQ(failed_check(run(payload)), "chain");

  // GPU 1's whole (valid) chain with GPU 0's evidence: signed by another device key.
  payload.entries[0].certificate_pem = pem_of(chain1);
  EXPECT_EQ(failed_check(run(payload)), "signature");
}

TEST_P(GpuCapture, AnotherRootIsRejected) {
  // The real chain is sound, but the verifier's root is another one: nothing links to it.
  const auto chain = crypto::pem_certificate_ders(payload.entries[0].certificate_pem).value();
  const auto other_root = load_trust_anchor(pem_of({chain[3]}));
  ASSERT_TRUE(other_root);
  const auto r = verify(payload, gpus.nonce, *other_root, gpus.at, 8);
  EXPECT_EQ(failed_check(r), "chain");
  EXPECT_NE(r.error().message.find("pinned"), std::string::npos) << r.error().message;
}

TEST_P(GpuCapture, ARemovedEntryIsCountedAgainstTheConfiguredGpus) {
  payload.entries.pop_back();
  const auto r = run(payload);
  EXPECT_EQ(failed_check(r), "count");
  EXPECT_NE(r.error().message.find("7 GPUs"), std::string::npos) << r.error().message;
}

TEST_P(GpuCapture, AChangedFwidIsRejected) {
  // The FWID opaque TLV, found by its value.
  auto& evidence = payload.entries[2].evidence;
  const auto spdm = parse_spdm(evidence);
  ASSERT_TRUE(spdm && spdm->fwid);
  const bytes fwid = *spdm->fwid;
  const auto at = std::search(evidence.begin(), evidence.end(), fwid.begin(), fwid.end());
  ASSERT_NE(at, evidence.end());
  *at ^= 0x01;
  // The FWID is signed: the signature fails first, which is the stronger statement.
  EXPECT_EQ(failed_check(run(payload)), "signature");
}

INSTANTIATE_TEST_SUITE_P(SharedVectors, GpuCapture, ::testing::ValuesIn(test::nearai::capture_names()),
                         test::nearai::param_name);

TEST(GpuPayload, BothProducersAreRead) {
  VP_REQUIRE_SHARED_TESTDATA();
  // Python nvtrust (no entry nonce, plain PEM) and NVIDIA's C++ SDK (entry nonce, NUL padding).
  const auto python = parsed(gpus_of(test::nearai::load_capture("direct-2026-03-22-ecdsa")));
  const auto sdk = parsed(gpus_of(test::nearai::load_capture("direct-2026-06-29-ed25519")));
  ASSERT_EQ(python.entries.size(), 8u);
  ASSERT_EQ(sdk.entries.size(), 8u);
  EXPECT_FALSE(python.entries[0].nonce);
  EXPECT_TRUE(sdk.entries[0].nonce);
  EXPECT_EQ(sdk.entries[0].certificate_pem.back(), '\0');
}

TEST(GpuPayload, MalformedPayloadsAreRefusedWithTheirCheck) {
  const std::string nonce(64, 'a');
  const auto check_of = [](std::string_view text) {
    auto r = parse_payload(text);
    return r ? std::string() : std::string(to_string(r.error().check));
  };
  EXPECT_EQ(check_of("not json"), "payload");
  EXPECT_EQ(check_of("[]"), "payload");
  EXPECT_EQ(check_of(R"({"arch":"HOPPER","nonce":"ab"})"), "payload");
  EXPECT_EQ(check_of(R"({"arch":"HOPPER","nonce":")" + nonce + R"("})"), "payload") << "no evidence_list";
  EXPECT_EQ(check_of(R"({"arch":"BLACKWELL","nonce":")" + nonce + R"(","evidence_list":[]})"), "arch");
  EXPECT_EQ(check_of(R"({"arch":"HOPPER","nonce":")" + nonce + R"(","evidence_list":[]})"), "");
  EXPECT_EQ(check_of(R"({"arch":"HOPPER","nonce":")" + nonce +
                     R"(","evidence_list":[{"arch":"AMPERE","certificate":"","evidence":""}]})"),
            "arch");
  EXPECT_EQ(check_of(R"({"arch":"HOPPER","nonce":")" + nonce +
                     R"(","evidence_list":[{"arch":"HOPPER","certificate":"@@@@","evidence":""}]})"),
            "payload");
  EXPECT_EQ(check_of(R"({"arch":"HOPPER","nonce":")" + nonce +
                     R"(","evidence_list":[{"arch":"HOPPER","certificate":"","evidence":"","nonce":")" +
                     std::string(64, 'b') + R"("}]})"),
            "payload_nonce");
  std::string many = R"({"arch":"HOPPER","nonce":")" + nonce + R"(","evidence_list":[)";
  for (int i = 0; i < 17; ++i) many += std::string(i ? "," : "") + R"({"arch":"HOPPER","certificate":"","evidence":""})";
  EXPECT_EQ(check_of(many + "]}"), "payload");
}

TEST(GpuSpdm, EveryTruncationAndLengthLieIsRefusedWithoutReadingOutOfBounds) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto payload = parsed(gpus_of(test::nearai::load_capture("direct-2026-04-24-ed25519")));
  const bytes& real = payload.entries[0].evidence;
  ASSERT_TRUE(parse_spdm(real));
  for (std::size_t n = 0; n < real.size(); n += 7) {
    EXPECT_FALSE(parse_spdm(byte_view(real).first(n))) << "truncated to " << n;
  }
  bytes longer = real;
  longer.push_back(0);
  EXPECT_FALSE(parse_spdm(longer)) << "a byte after the signature";
  // Every single-byte change of the headers and length fields either parses or is refused
  // (never a crash); the ones that parse are caught by the signature.
  for (std::size_t i = 0; i < 48; ++i) {
    bytes changed = real;
    changed[i] ^= 0xff;
    (void)parse_spdm(changed);
  }
  bytes wrong_spec = real;
  wrong_spec[37 + 8 + 1] = 0x02;  // the first block's MeasurementSpecification
  EXPECT_FALSE(parse_spdm(wrong_spec));
  bytes no_signature_asked = real;
  no_signature_asked[2] = 0x00;
  EXPECT_FALSE(parse_spdm(no_signature_asked));
}

TEST(GpuVbios, VersionStringAsNvidiaFormatsIt) {
  const bytes raw = from_hex("00cf009602000000").value();
  EXPECT_EQ(format_vbios_version(raw), std::optional<std::string>("96.00.CF.00.02"));
  EXPECT_FALSE(format_vbios_version(byte_view(raw).first(7)));
}

TEST(GpuRoot, CompiledInRootIsNvidiasDeviceIdentityCa) {
  EXPECT_EQ(to_hex(crypto::sha256(nvidia_device_identity_ca().root_der)),
            "102bf659d5419614c9d8e6aecebc80454eb26b1df6a769ac720b9a690b167b48");
  if (!test::shared_testdata_dir()) GTEST_SKIP() << "shared test vectors not found: compared with the hash only";
  const auto file = load_trust_anchor(test::read_shared("nvidia/device_identity_root_ca.pem"));
  ASSERT_TRUE(file);
  EXPECT_EQ(file->root_der, nvidia_device_identity_ca().root_der);
}

TEST(GpuSample, NvidiasOwnSampleEvidenceVerifies) {
  VP_REQUIRE_SHARED_TESTDATA();
  std::string hex = test::read_shared("nvidia/hopperAttestationReport.txt");
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' ')) hex.pop_back();
  nvidia_payload p;
  p.arch = "HOPPER";
  const auto nonce = from_hex("931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb").value();
  std::copy(nonce.begin(), nonce.end(), p.nonce.begin());
  payload_entry e;
  e.arch = "HOPPER";
  e.certificate_pem = test::read_shared("nvidia/hopperCertChain.txt");
  e.evidence = from_hex(hex).value();
  p.entries.push_back(std::move(e));
  // NVIDIA's sample was signed in 2023; its chain is valid to 9999.
  const unix_time at(std::chrono::seconds(1'700'000'000));
  const auto r = verify(p, p.nonce, nvidia_device_identity_ca(), at, 1);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->at(0).driver_version, "550.90.07");
  EXPECT_EQ(r->at(0).vbios_version, "96.00.9F.00.01");
}

// ---------------------------------------------------------------------------------------
// The chain cache: a verification that uses it says exactly what one without it says.

const test::nvidia_test_pki& synthetic_pki() {
  static const test::nvidia_test_pki pki;
  return pki;
}

const trust_anchor& synthetic_root() {
  static const trust_anchor anchor = [] {
    auto a = load_trust_anchor(synthetic_pki().root_pem());
    EXPECT_TRUE(a) << (a ? "" : a.error());
    return a ? std::move(*a) : trust_anchor{};
  }();
  return anchor;
}

class GpuChainCache : public ::testing::Test {
 protected:
  void SetUp() override { chain_cache::clear(); }
  void TearDown() override { chain_cache::set_capacity(saved_capacity_); }

  static test::gpu_nonce client_nonce() {
    test::gpu_nonce n{};
    for (std::size_t i = 0; i < n.size(); ++i) n[i] = static_cast<std::uint8_t>(0x30 + i);
    return n;
  }
  static nvidia_payload mint(test::payload_spec spec) {
    spec.nonce = client_nonce();
    return parse_payload(synthetic_pki().payload(spec)).value();
  }
  static result<std::vector<verified_gpu>> run(const nvidia_payload& p, unix_time at = test::default_time,
                                               const trust_anchor& anchor = synthetic_root()) {
    return verify(p, p.nonce, anchor, at, p.entries.size());
  }
  /// Everything a verification says.
  static std::string outcome(const result<std::vector<verified_gpu>>& r) {
    if (!r) return r.error().describe();
    std::string out;
    for (const auto& g : *r) {
      out += std::to_string(g.index) + g.arch + g.driver_version + g.vbios_version + g.hwmodel + g.ueid +
             to_hex(g.fwid) + to_hex(g.measurement_record_sha256) + std::to_string(g.measurements.size()) +
             std::to_string(g.nvdec0_status.value_or(0)) + ";";
      for (const auto& der : g.chain_der) out += to_hex(crypto::sha256(der)) + ",";
    }
    return out;
  }
  /// What the same verification says with the cache off (which empties it).
  static std::string uncached_outcome(const nvidia_payload& p, unix_time at = test::default_time,
                                      const trust_anchor& anchor = synthetic_root()) {
    const std::size_t capacity = chain_cache::capacity();
    chain_cache::set_capacity(0);
    const auto r = run(p, at, anchor);
    chain_cache::set_capacity(capacity);
    return outcome(r);
  }

 private:
  std::size_t saved_capacity_ = chain_cache::capacity();
};

TEST_F(GpuChainCache, WarmVerificationSaysWhatColdSays) {
  const auto payload = mint({});
  const auto cold = run(payload);
  ASSERT_TRUE(cold) << cold.error().describe();
  EXPECT_EQ(chain_cache::size(), 8u) << "one chain per GPU";
  for (const auto& e : payload.entries) EXPECT_TRUE(chain_cache::contains(e.certificate_pem, synthetic_root()));
  const auto warm = run(payload);
  EXPECT_EQ(chain_cache::size(), 8u);
  EXPECT_EQ(outcome(warm), outcome(cold));
  EXPECT_EQ(outcome(warm), uncached_outcome(payload));
}

TEST_F(GpuChainCache, AChainThatFailedIsNeverCached) {
  // Another root at GPU 3: GPUs 0-2 pass (and are cached), GPU 3 fails L5.
  test::payload_spec spec;
  spec.gpus[3].foreign_root = true;
  const auto foreign = mint(spec);
  const auto first = run(foreign);
  ASSERT_EQ(failed_check(first), "chain");
  EXPECT_EQ(first.error().gpu, std::optional<std::size_t>(3));
  EXPECT_EQ(chain_cache::size(), 3u);
  EXPECT_FALSE(chain_cache::contains(foreign.entries[3].certificate_pem, synthetic_root()));
  EXPECT_EQ(outcome(run(foreign)), outcome(first));

  // A chain whose leaf is another GPU's: every certificate is genuine, one link is not.
  auto mixed = mint({});
  auto chain0 = crypto::pem_certificate_ders(mixed.entries[0].certificate_pem).value();
  chain0[0] = crypto::pem_certificate_ders(mixed.entries[1].certificate_pem).value()[0];
  mixed.entries[0].certificate_pem = pem_of(chain0);
  const auto linked = run(mixed);
  EXPECT_EQ(failed_check(linked), "chain");
  EXPECT_FALSE(chain_cache::contains(mixed.entries[0].certificate_pem, synthetic_root()));
  EXPECT_EQ(outcome(run(mixed)), outcome(linked));
  EXPECT_EQ(outcome(linked), uncached_outcome(mixed));

  // A chain not yet valid is not cached either, and passes once it is.
  const auto payload = mint({});
  const unix_time before = test::utc_date(2019, 1, 1);
  const auto early = run(payload, before);
  EXPECT_EQ(failed_check(early), "chain");
  EXPECT_FALSE(chain_cache::contains(payload.entries[0].certificate_pem, synthetic_root()));
  EXPECT_TRUE(run(payload)) << "valid at the default time";
}

TEST_F(GpuChainCache, ASignatureIsCheckedOnEveryCallEvenWithTheChainCached) {
  test::payload_spec spec;
  spec.gpus[5].corrupt_signature = true;
  const auto bad = mint(spec);
  ASSERT_TRUE(run(mint({})));
  // The chain of GPU 5 is sound and cached; its evidence signature is not, on any call.
  for (int i = 0; i < 2; ++i) {
    const auto r = run(bad);
    EXPECT_EQ(failed_check(r), "signature");
    EXPECT_EQ(r.error().gpu, std::optional<std::size_t>(5));
  }
}

TEST_F(GpuChainCache, ACachedChainUnderAnotherAnchorIsRejected) {
  const auto payload = mint({});
  const auto foreign_root = load_trust_anchor(pem_of({synthetic_pki().foreign_root_der()}));
  ASSERT_TRUE(foreign_root);
  for (const trust_anchor* other : {&nvidia_device_identity_ca(), &*foreign_root}) {
    ASSERT_TRUE(run(payload));
    EXPECT_FALSE(chain_cache::contains(payload.entries[0].certificate_pem, *other));
    const auto r = run(payload, test::default_time, *other);
    EXPECT_EQ(failed_check(r), "chain");
    EXPECT_NE(r.error().message.find("pinned"), std::string::npos) << r.error().message;
    EXPECT_EQ(outcome(r), uncached_outcome(payload, test::default_time, *other));
  }
}

TEST_F(GpuChainCache, ACachedChainOutsideItsValidityIsRejected) {
  const auto payload = mint({});
  // Before the leaf's notBefore, and after the last second of 9999 (every notAfter).
  for (const unix_time at : {test::utc_date(2019, 1, 1), test::utc_date(9999, 12, 31) + std::chrono::seconds(86400)}) {
    ASSERT_TRUE(run(payload));
    ASSERT_TRUE(chain_cache::contains(payload.entries[0].certificate_pem, synthetic_root()));
    const auto r = run(payload, at);
    EXPECT_EQ(failed_check(r), "chain");
    EXPECT_NE(r.error().message.find("is not valid at the appraisal time"), std::string::npos) << r.error().message;
    EXPECT_EQ(outcome(r), uncached_outcome(payload, at)) << "the same certificate named, the same message";
  }
  EXPECT_TRUE(run(payload)) << "and valid again at the default time";
}

TEST_F(GpuChainCache, TheKeyIsTheCertificatesNotTheirPemText) {
  auto payload = mint({});
  ASSERT_TRUE(run(payload));
  // The same DER in another PEM layout (no trailing newline, the C++ SDK's NUL padding).
  std::string pem = payload.entries[2].certificate_pem;
  while (!pem.empty() && pem.back() == '\n') pem.pop_back();
  pem += std::string(5, '\0');
  EXPECT_TRUE(chain_cache::contains(pem, synthetic_root()));
  // Another split of the same bytes is another chain.
  const auto ders = crypto::pem_certificate_ders(payload.entries[2].certificate_pem).value();
  bytes joined = ders[0];
  joined.insert(joined.end(), ders[1].begin(), ders[1].begin() + 10);
  bytes rest(ders[1].begin() + 10, ders[1].end());
  payload.entries[2].certificate_pem = pem_of({joined, rest, ders[2], ders[3], ders[4]});
  EXPECT_FALSE(chain_cache::contains(payload.entries[2].certificate_pem, synthetic_root()));
  const auto r = run(payload);
  EXPECT_EQ(failed_check(r), "chain");
  EXPECT_EQ(outcome(r), uncached_outcome(payload));
}

TEST_F(GpuChainCache, EvictionKeepsItWithinItsBound) {
  EXPECT_EQ(chain_cache::capacity(), chain_cache::default_capacity);
  chain_cache::set_capacity(3);
  const auto payload = mint({});
  const auto first = run(payload);
  ASSERT_TRUE(first) << first.error().describe();
  EXPECT_EQ(chain_cache::size(), 3u);
  // The least recently used go first: GPUs 5, 6 and 7 remain.
  EXPECT_FALSE(chain_cache::contains(payload.entries[4].certificate_pem, synthetic_root()));
  EXPECT_TRUE(chain_cache::contains(payload.entries[7].certificate_pem, synthetic_root()));
  EXPECT_EQ(outcome(run(payload)), outcome(first)) << "evicted chains are verified again";
  EXPECT_EQ(chain_cache::size(), 3u);
  chain_cache::set_capacity(1);
  EXPECT_EQ(chain_cache::size(), 1u);
  chain_cache::set_capacity(0);
  EXPECT_EQ(chain_cache::size(), 0u);
  EXPECT_EQ(outcome(run(payload)), outcome(first));
  EXPECT_EQ(chain_cache::size(), 0u) << "capacity 0: off";
}

TEST_F(GpuChainCache, ConcurrentVerificationsAgree) {
  const auto payload = mint({});
  test::payload_spec spec;
  spec.gpus[2].corrupt_signature = true;
  const auto bad = mint(spec);
  const std::string good_outcome = uncached_outcome(payload);
  const std::string bad_outcome = uncached_outcome(bad);
  chain_cache::set_capacity(6);  // evictions while the other thread reads
  std::vector<std::string> seen[2];
  std::thread threads[2];
  for (int t = 0; t < 2; ++t) {
    threads[t] = std::thread([&, t] {
      for (int i = 0; i < 3; ++i) {
        seen[t].push_back(outcome(run(payload)));
        seen[t].push_back(outcome(run(bad)));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& s : seen) {
    for (std::size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s[i], i % 2 == 0 ? good_outcome : bad_outcome) << i;
  }
  EXPECT_LE(chain_cache::size(), 6u);
}

}  // namespace
}  // namespace vp::gpu

// The same checks on synthetic evidence (src/testpki/nvidia_pki), which a fresh clone has
// too: what real evidence cannot be altered into without breaking its signature first.
namespace vp::gpu {
namespace {

struct synthetic_case {
  nvidia_payload payload;
  const trust_anchor& anchor;
};

synthetic_case synthetic(const test::gpu_spec& last_gpu, std::size_t gpus = 2) {
  test::payload_spec spec;
  spec.nonce.fill(0x5a);
  spec.gpus.resize(gpus);
  spec.gpus.back() = last_gpu;
  auto payload = parse_payload(synthetic_pki().payload(spec));
  if (!payload) throw std::runtime_error("synthetic evidence does not parse");
  return {std::move(*payload), synthetic_root()};
}

const unix_time synthetic_now = test::utc_date(2026, 6, 29);

TEST(GpuSynthetic, HealthyEvidencePasses) {
  const auto s = synthetic({});
  const auto r = verify(s.payload, s.payload.nonce, s.anchor, synthetic_now, 2);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->size(), 2u);
}

TEST(GpuSynthetic, MissingDriverVersionFailsVersions) {
  test::gpu_spec g;
  g.driver_version = "";
  const auto s = synthetic(g);
  const auto r = verify(s.payload, s.payload.nonce, s.anchor, synthetic_now, 2);
  EXPECT_EQ(failed_check(r), "versions");
  EXPECT_EQ(r.error().gpu, std::optional<std::size_t>(1));
}

TEST(GpuSynthetic, AChainIsCheckedAtTheAppraisalTime) {
  // The synthetic leaves, like NVIDIA's, are valid from 2020-10-17.
  const auto s = synthetic({});
  const auto r = verify(s.payload, s.payload.nonce, s.anchor, test::utc_date(2019, 1, 1), 2);
  EXPECT_EQ(failed_check(r), "chain");
  EXPECT_NE(r.error().message.find("not valid at the appraisal time"), std::string::npos) << r.error().message;
}

TEST(GpuSynthetic, FwidThatIsNotTheCertifiedOneFails) {
  test::gpu_spec g;
  g.fwid_mismatch = true;  // signed, but not the FWID the leaf certificate names
  const auto s = synthetic(g);
  EXPECT_EQ(failed_check(verify(s.payload, s.payload.nonce, s.anchor, synthetic_now, 2)), "fwid");
}

TEST(GpuSynthetic, ALeafThatIsNotP384Fails) {
  test::gpu_spec g;
  g.p256_leaf = true;
  const auto s = synthetic(g);
  const auto r = verify(s.payload, s.payload.nonce, s.anchor, synthetic_now, 2);
  EXPECT_EQ(failed_check(r), "chain");
  EXPECT_NE(r.error().message.find("P-384"), std::string::npos) << r.error().message;
}

TEST(GpuSynthetic, SpdmVersionsAndCodesAreChecked) {
  const auto s = synthetic({});
  const bytes& good = s.payload.entries[0].evidence;
  ASSERT_TRUE(parse_spdm(good));
  // Request version, request code, response version (37), response code (38).
  for (const std::size_t at : {std::size_t{0}, std::size_t{1}, std::size_t{37}, std::size_t{38}}) {
    bytes changed = good;
    changed[at] ^= 0x01;
    const auto r = parse_spdm(changed);
    ASSERT_FALSE(r) << "byte " << at;
    EXPECT_NE(r.error().find(at == 0 || at == 37 ? "version" : "code"), std::string::npos) << r.error();
  }
  bytes not_all_blocks = good;
  not_all_blocks[3] = 0x01;
  EXPECT_FALSE(parse_spdm(not_all_blocks));
}

}  // namespace
}  // namespace vp::gpu
