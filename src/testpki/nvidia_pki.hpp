#pragma once
// A synthetic NVIDIA GPU PKI and evidence minter for tests and the simulator: a device
// identity chain shaped like NVIDIA's (5 P-384 certificates, leaf first, with the TCG DICE
// TcbInfo extension carrying the FWID), the `nvidia_payload` JSON NEAR puts into its
// reports, SPDM 1.1 GET_MEASUREMENTS ‖ MEASUREMENTS evidence signed by the leaf key, and a
// fake NRAS that answers with ES384 tokens like NVIDIA's
// (docs/gpu-signatures-e2ee.md §1.1-1.3, §2.1-2.3).
//
// Why it exists: the real captures (../shared/testdata) are absent from a fresh clone and
// cannot be edited without breaking NVIDIA's signatures. As in test_pki.hpp, every field
// is a spec value and every signature is recomputed after the spec is applied, so a test
// can violate ONE verification rule while all others still hold. The defaults are a
// healthy NEAR H100 host: 8 GPUs, driver 570.172.08, VBIOS 96.00.CF.00.02 and the 64
// measurement blocks observed on every NEAR GPU (§1.7, Appendix A), the 15 opaque TLVs of
// the real evidence in their order, so a default evidence is 4266 bytes like NEAR's.
//
// Formats are NVIDIA's exactly (byte layouts, JSON keys and key order, claim names);
// what differs on purpose: the keys and therefore the root, the CRL / OCSP URLs (".test"
// hosts, so nothing ever asks NVIDIA about a synthetic certificate), and the NRAS `kid`
// ("nv-eat-kid-test-…").
//
// Typical use:
//   static const vp::test::nvidia_test_pki gpu_pki;        // keys: once per suite
//   vp::test::payload_spec p{.nonce = client_nonce};
//   p.gpus[3].corrupt_signature = true;                     // one bad GPU
//   std::string nvidia_payload = gpu_pki.payload(p);        // a JSON string member of the report
//   static const vp::test::fake_nras_signer nras;
//   std::string answer = nras.answer(nvidia_payload, now);  // what POST /v3/attest/gpu returns
//
// Failures inside this library (OpenSSL refusing an operation, a payload it cannot parse)
// throw std::runtime_error: this is test-only code working on its own, trusted inputs.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "testpki/test_pki.hpp"

namespace vp::test {

/// The 32-byte client nonce NEAR passes to GPU evidence collection (§1.1).
using gpu_nonce = std::array<std::uint8_t, 32>;

/// One GPU's evidence and certificate chain (§1.2, §1.3). Defaults: a healthy NEAR H100.
struct gpu_spec {
  /// DRIVER_VERSION opaque TLV (type 3), written as ASCII with a trailing NUL.
  std::string driver_version = "570.172.08";
  /// VBIOS_VERSION opaque TLV (type 6): 8 bytes, "96.00.CF.00.02" (decoding in §1.2).
  std::array<std::uint8_t, 8> vbios = {0x00, 0xcf, 0x00, 0x96, 0x02, 0x00, 0x00, 0x00};
  /// SPDM measurement blocks 1..n (SHA-384 values). Empty: the 64 blocks observed on NEAR
  /// (default_measurements()); otherwise exactly these blocks (0 blocks is allowed, to
  /// violate "NumberOfBlocks ≥ 1").
  std::vector<std::array<std::uint8_t, 48>> measurements;
  /// Empty: 48 bytes derived from the GPU index. Goes into the leaf certificate's TcbInfo
  /// extension and into the FWID opaque TLV (type 20).
  bytes fwid;
  bool fwid_mismatch = false;      ///< the opaque FWID differs from the certificate's (flipped bit)
  bool corrupt_signature = false;  ///< flip a bit of the 96-byte SPDM signature
  /// The requester nonce in the GET_MEASUREMENTS request; nullopt: the payload nonce.
  std::optional<gpu_nonce> spdm_nonce;
  /// Chain to another root (other keys) with the same names, serials and extensions.
  bool foreign_root = false;
  /// The leaf certificate certifies a P-256 key (properly issued by the BROM): NVIDIA's
  /// device keys are P-384 (§1.4 L6). The evidence is still signed with the P-384 key.
  bool p256_leaf = false;
};

/// The decoded `nvidia_payload` (§1.1).
struct payload_spec {
  gpu_nonce nonce{};
  std::vector<gpu_spec> gpus = std::vector<gpu_spec>(8);
  /// The NVIDIA C++ SDK producer: per-entry "nonce" and 5 NUL bytes after the PEM chain.
  /// false: the Python nvtrust producer (no entry nonce, chain ends with a newline).
  bool sdk_producer = false;
  /// Top-level and per-entry "arch".
  std::string arch = "HOPPER";
  /// GPU i of `gpus` is the PKI's GPU first_index + i (its keys, serials and FWID): the
  /// simulator gives every CVM of a deployment its own GPUs.
  std::size_t first_index = 0;
};

/// The 64 SHA-384 measurement blocks identical on all 56 NEAR H100s (36 all-zero; their
/// MeasurementRecord hashes to SHA-256 53cc764a…, §1.7).
const std::vector<std::array<std::uint8_t, 48>>& default_measurements();

/// The VBIOS version string NVIDIA derives from the 8 opaque bytes (§1.2), e.g.
/// "96.00.CF.00.02".
std::string format_vbios_version(const std::array<std::uint8_t, 8>& vbios);

/// Device identity keys and CA certificates of one synthetic NVIDIA PKI: root "NVIDIA
/// Device Identity CA", "NVIDIA GH100 Identity", "NVIDIA GH100 Provisioner ICA 1" (plus a
/// foreign copy of the three), and per-GPU BROM and leaf keys made on first use. Create
/// one per test suite and share it: members are const and thread-safe (a mutex guards the
/// per-GPU cache, so a GPU index keeps its keys and certificates). Move-only.
class nvidia_test_pki {
 public:
  nvidia_test_pki();
  ~nvidia_test_pki();
  nvidia_test_pki(nvidia_test_pki&&) noexcept;
  nvidia_test_pki& operator=(nvidia_test_pki&&) noexcept;
  nvidia_test_pki(const nvidia_test_pki&) = delete;
  nvidia_test_pki& operator=(const nvidia_test_pki&) = delete;

  /// The trust anchor to pin (self-signed, P-384, valid 2021-11-05 → 9999-12-31T23:59:59Z).
  const std::string& root_pem() const;
  bytes root_der() const;
  /// The foreign root that `gpu_spec::foreign_root` chains to.
  bytes foreign_root_der() const;

  /// The `nvidia_payload` JSON text (compact, NEAR's key order), to be put into a report
  /// as a JSON string. GPU i of `spec.gpus` has index spec.first_index + i.
  std::string payload(const payload_spec& spec) const;
  /// One GPU's evidence: request (37 bytes) ‖ response ‖ signature (96 bytes), with
  /// `nonce` the payload nonce.
  bytes evidence(const gpu_spec& spec, const gpu_nonce& nonce, std::size_t gpu_index) const;
  /// The PEM chain as the GPU reports it: leaf, BROM, Provisioner ICA, Identity, root.
  std::string certificate_chain_pem(const gpu_spec& spec, std::size_t gpu_index) const;
  /// The leaf certificate's serial number in decimal: NRAS's per-GPU `ueid` (§1.3).
  std::string leaf_serial_decimal(std::size_t gpu_index) const;
  /// The leaf's FWID when gpu_spec::fwid is empty.
  static bytes default_fwid(std::size_t gpu_index);

  /// Which CA signs a CRL (§1.5): the root's covers "NVIDIA GH100 Identity" (NVIDIA's
  /// l1-root.crl), the Identity's covers the Provisioner ICA (l2-gh100.crl), the
  /// Provisioner's covers BROM certificates (NVIDIA publishes none: OCSP only).
  enum class crl_issuer { root, identity, provisioner };
  /// A DER CRL (v2, SHA-384) of `issuer` listing the certificates `revoked` (DER, taken
  /// from this PKI's chains), valid [this_update, next_update]; `foreign_key` signs it
  /// with the foreign PKI's key of the same name (a forged CRL).
  bytes crl(crl_issuer issuer, const std::vector<bytes>& revoked, unix_time this_update, unix_time next_update,
            bool foreign_key = false) const;

 private:
  struct state;
  std::unique_ptr<state> s_;
};

/// How a fake NRAS answer deviates from a passing one (§2.3).
struct nras_spec {
  bool overall_result = true;  ///< x-nvidia-overall-att-result
  /// eat_nonce of every token; nullopt: the payload's "nonce" text.
  std::optional<gpu_nonce> eat_nonce;
  std::int64_t lifetime_seconds = 3600;  ///< exp − iat
  /// Swap the GPU-0 and GPU-1 tokens after submods is computed (digests then mismatch).
  bool swap_gpu_tokens = false;
  std::string measres = "success";  ///< every per-GPU token's measres
};

/// A fake NRAS: its own ES384 key, published in a JWKS whose x5c is (leaf, intermediate)
/// like NVIDIA's — leaf "NVIDIA Attestation Service GPU GH100" (P-384, signed
/// sha256WithRSA), intermediate "NVIDIA Attestation Service GPU Intermediate 004" (RSA-2048,
/// signed by a "NVIDIA Attestation Service CA 001" that is not in x5c). The JWKS holds a
/// second, unused key first, so that a verifier must look the `kid` up. Thread-safe, move-only.
class fake_nras_signer {
 public:
  /// The signing certificate (x5c[0]) is valid [not_before, not_after].
  explicit fake_nras_signer(unix_time not_before = utc_date(2025, 12, 8), unix_time not_after = utc_date(2029, 12, 8));
  ~fake_nras_signer();
  fake_nras_signer(fake_nras_signer&&) noexcept;
  fake_nras_signer& operator=(fake_nras_signer&&) noexcept;
  fake_nras_signer(const fake_nras_signer&) = delete;
  fake_nras_signer& operator=(const fake_nras_signer&) = delete;

  /// {"keys":[decoy, signer]}, each {"kty","crv","kid","x5c","x","y"} (§2.2).
  std::string jwks_json() const;
  const std::string& kid() const;
  /// SHA-256 of the intermediate's SubjectPublicKeyInfo, lower-case hex (the "nras-key-pin").
  std::string intermediate_spki_sha256_hex() const;
  /// The NRAS answer `[["JWT","<overall>"],{"GPU-0":"<jws>",…}]` for `payload_json`,
  /// issued at `now`. Parses the payload: its nonce, and per GPU the leaf serial (ueid),
  /// DRIVER_VERSION and VBIOS_VERSION from the evidence and chain.
  std::string answer(std::string_view payload_json, unix_time now, const nras_spec& spec = {}) const;

 private:
  struct state;
  std::unique_ptr<state> s_;
};

}  // namespace vp::test
