#pragma once
// NVIDIA GPU attestation evidence as NEAR's model CVMs report it (`nvidia_payload`), and
// its local verification: the checks L1-L12 and L15 of docs/gpu-signatures-e2ee.md §1.4,
// stricter than NVIDIA's, teep's and NEAR's verifiers where they differ.
//
// The prompt, the KV cache and the answer live in GPU memory: a CVM whose GPUs are not
// genuine NVIDIA parts in confidential-computing mode, or whose evidence is replayed,
// must not pass. Each GPU proves itself with an SPDM 1.1 MEASUREMENTS response signed by
// a device key (ECDSA P-384) whose 5-certificate chain ends at NVIDIA's Device Identity
// CA, over a request that carries the client's nonce (freshness).
//
// Pure and synchronous: no I/O, no clock reads (`now` is given), no exceptions on
// untrusted input. Every length is bounds-checked before it is used.

#include <boost/system/result.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "crypto/ossl.hpp"

namespace vp::gpu {

/// Bounds on untrusted input (§1.4 L1): NEAR hosts carry 8 GPUs; a certificate chain is
/// ~5 KiB and an evidence blob ~4 KiB before base64.
inline constexpr std::size_t max_gpus = 16;
inline constexpr std::size_t max_entry_field_size = 64 * 1024;
inline constexpr std::size_t max_payload_size = 2 * 1024 * 1024;

/// Which local check failed (§1.4). The spellings of to_string() are stable: they appear
/// in the factor detail and the proxy's error message.
enum class check {
  payload,          ///< L1: not a JSON string holding {arch, nonce, evidence_list}, or over a bound
  payload_nonce,    ///< L2: the payload's nonce is not the client's
  arch,             ///< L3: an architecture other than HOPPER, or entries disagreeing
  chain,            ///< L4-L6: not 5 certificates, not NVIDIA's root, a bad link, a CA missing, expired, not P-384
  evidence_format,  ///< L7-L8: the SPDM request / response is not what GET_MEASUREMENTS returns
  spdm_nonce,       ///< L9: the SPDM request carried another nonce (replayed evidence)
  signature,        ///< L10: the device key did not sign the evidence
  fwid,             ///< L11: the firmware the GPU reports is not the one its certificate names
  versions,         ///< L12: driver or VBIOS version missing or not printable
  count,            ///< L15: fewer or more GPUs than the CVM was configured with
};
std::string_view to_string(check c) noexcept;

struct failure {
  std::optional<std::size_t> gpu;  ///< the evidence_list index; nullopt: the payload as a whole
  gpu::check check = check::payload;
  std::string message;

  /// "GPU 3: signature: …" / "payload_nonce: …".
  std::string describe() const;
};

template <class T>
using result = boost::system::result<T, failure>;

[[noreturn]] void throw_exception_from_error(const failure& f, const boost::source_location& loc);

// ---------------------------------------------------------------------------------------
// The payload (§1.1)

struct payload_entry {
  std::string arch;
  /// The decoded `certificate`: PEM text, possibly followed by NUL padding (C++ SDK form).
  std::string certificate_pem;
  /// The decoded `evidence`: SPDM request ‖ response ‖ signature.
  bytes evidence;
  /// The per-entry nonce of the C++ SDK form, when present.
  std::optional<sha256_digest> nonce;
};

struct nvidia_payload {
  std::string arch;
  sha256_digest nonce{};
  std::vector<payload_entry> entries;
};

/// Parses the decoded `nvidia_payload` string (L1, L3; the per-entry nonce must equal the
/// top-level one). An empty `evidence_list` is accepted here: whether no GPU evidence is
/// acceptable is the policy's decision.
result<nvidia_payload> parse_payload(std::string_view json_text);

// ---------------------------------------------------------------------------------------
// SPDM 1.1 GET_MEASUREMENTS request ‖ MEASUREMENTS response (§1.2, DSP0274 1.1 §10.11)

inline constexpr std::size_t spdm_request_size = 37;
inline constexpr std::size_t spdm_signature_size = 96;  ///< ECDSA P-384 r ‖ s

struct measurement_block {
  std::uint8_t index = 0;
  std::uint8_t value_type = 0;
  bytes value;
};

/// OpaqueData types read by the verifier (NVIDIA's OPAQUE_DATA_TYPES).
enum class opaque_type : std::uint16_t {
  driver_version = 3,
  vbios_version = 6,
  nvdec0_status = 11,
  fwid = 20,
};

struct spdm_evidence {
  sha256_digest request_nonce{};
  std::uint8_t request_param2 = 0;
  std::vector<measurement_block> blocks;
  /// The MeasurementRecord exactly as signed (its SHA-256 is what the measurement pin of
  /// §1.7 compares).
  bytes measurement_record;
  std::optional<std::string> driver_version;  ///< trailing NULs stripped
  std::optional<bytes> vbios_version;         ///< the raw 8 bytes
  std::optional<bytes> fwid;
  std::optional<std::uint8_t> nvdec0_status;
  /// evidence[0 : size − 96] and the raw signature.
  byte_view signed_bytes;
  byte_view signature;
};

/// Parses `evidence` strictly (L7, L8): request version 0x11, code 0xE0, signature
/// requested, all blocks (0xFF); response version 0x11, code 0x60, at least one block,
/// every block a DMTF measurement (specification 1) whose sizes agree, opaque data made of
/// whole TLVs, a 96-byte signature and nothing after it. The views point into `evidence`.
/// The error message names the offset.
boost::system::result<spdm_evidence, std::string> parse_spdm(byte_view evidence);

/// The VBIOS version string of NVIDIA's verifiers ("96.00.CF.00.02" from
/// 00 cf 00 96 02 00 00 00); nullopt unless 8 bytes.
std::optional<std::string> format_vbios_version(byte_view raw);

// ---------------------------------------------------------------------------------------
// Local verification (§1.3, §1.4)

/// The NVIDIA Device Identity CA every GPU chain must end at (compared byte for byte).
struct trust_anchor {
  crypto::x509_ptr root;
  bytes root_der;
};

/// The pinned NVIDIA Device Identity CA (serial 2d3670b1ca100411c1fec0e82a065b54,
/// SHA-256(DER) 102bf659…7b48), compiled in.
const trust_anchor& nvidia_device_identity_ca();

/// Another root (a PEM file: tests and the simulator), replacing the compiled-in one.
boost::system::result<trust_anchor, std::string> load_trust_anchor(std::string_view pem);

/// One GPU that passed L4-L12.
struct verified_gpu {
  std::size_t index = 0;
  std::string arch;
  std::string driver_version;  ///< "570.172.08"
  std::string vbios_version;   ///< "96.00.CF.00.02"
  /// CN of the per-device BROM certificate ("GH100 A01 GSP BROM").
  std::string hwmodel;
  /// The leaf certificate's serial number in decimal: NRAS's `ueid` for this GPU.
  std::string ueid;
  bytes fwid;
  std::vector<measurement_block> measurements;
  sha256_digest measurement_record_sha256{};
  std::optional<std::uint8_t> nvdec0_status;
  /// DER of the 5 certificates, leaf first (revocation looks at 1..3).
  std::vector<bytes> chain_der;
};

/// Verifies every GPU of `payload` against the client's `nonce` as of `now` (L2, L4-L12)
/// and, when `expected_gpus` is given (info.vm_config.num_gpus), their number (L15). The
/// first failing GPU, in list order, is the error.
result<std::vector<verified_gpu>> verify(const nvidia_payload& payload, const sha256_digest& nonce,
                                         const trust_anchor& anchor, unix_time now,
                                         std::optional<std::size_t> expected_gpus);

/// info.vm_config.num_gpus of a dstack info object's vm_config text; nullopt when absent
/// or not a non-negative integer.
std::optional<std::size_t> configured_gpu_count(std::string_view vm_config_json);

}  // namespace vp::gpu
