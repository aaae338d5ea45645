// The local GPU checks (docs/gpu-signatures-e2ee.md §1.4 L1-L12, L15) on the real NEAR
// captures at their capture time, and one rejection per check on the same real evidence
// altered in one place. The NVIDIA sample evidence is a second, independent real vector.

#include "gpu/evidence.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "attest/nearai_captures.hpp"
#include "core/hex.hpp"
#include "core/base64.hpp"
#include "crypto/digest.hpp"
#include "crypto/x509.hpp"
#include "support/testdata.hpp"

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

}  // namespace
}  // namespace vp::gpu
