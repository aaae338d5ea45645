#pragma once
// NVIDIA Remote Attestation Service (NRAS) answers: the JWKS and the detached EAT
// (`[["JWT", overall], {"GPU-0": token, …}]`), verified offline against the client's
// nonce and the locally verified GPU evidence. Pure: no I/O, no Asio; the caller fetches
// the JWKS and the NRAS answer. Check ids J1–J10 are those of
// docs/gpu-signatures-e2ee.md §2.3; tokens are JWS compact serialisations (RFC 7515
// §7.1) signed ES384 (RFC 7518 §3.4).

#include <array>
#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "crypto/ossl.hpp"

namespace vp::gpu::nras {

/// Why a JWKS or an NRAS answer was rejected.
struct failure {
  std::optional<std::size_t> gpu;  ///< the GPU index the failure is about, if any
  /// "J1".."J10" (§2.3), or "input" (shape, size, encoding), "jwks", "key_pin".
  std::string check;
  std::string message;
  /// The token's `kid` is not in the key set: the caller may refetch the JWKS once (keys
  /// rotate continuously, §2.2) and verify again.
  bool unknown_kid = false;
};

template <class T>
using result = boost::system::result<T, failure>;

/// For result<T>::value() on a failure (tests, tools): throws std::runtime_error.
[[noreturn]] void throw_exception_from_error(const failure& f, const boost::source_location& where);

/// One NRAS signing key: EC P-384 (the only kind NRAS uses and the only one accepted).
struct jwk {
  std::string kid;
  crypto::evp_pkey_ptr key;
  std::vector<bytes> x5c_der;  ///< the x5c chain as DER, leaf first (may be empty)
};

struct jwks {
  std::vector<jwk> keys;
  const jwk* find(std::string_view kid) const;
};

/// Parses `{"keys":[…]}` (RFC 7517 §5). Keys of another kty or curve are skipped (§5:
/// unknown key types are ignored); an EC P-384 key must be well formed: x, y base64url of
/// 48 bytes each on the curve, `use` "sig" and `alg` "ES384" where present, x5c standard
/// base64 DER whose first certificate carries the same public key. Duplicate kids, no
/// usable key, or more than 1 MiB reject the whole set.
result<jwks> parse_jwks(std::string_view json);

/// SHA-256 of the SubjectPublicKeyInfo of "NVIDIA Attestation Service GPU Intermediate
/// 004", the issuer of every NRAS signing certificate observed (§2.2).
inline constexpr std::array<std::string_view, 1> pinned_intermediate_spki_sha256 = {
    "fd32837f954e2c45db073105166dfe6985ae0480bb113fba63b091a75affe896"};

/// The "nras-key-pin" policy (§2.2): x5c[0] is issued and signed by x5c[1], both are
/// valid at `at`, and SHA-256(SPKI(x5c[1])) (lower-case hex) is one of `pins`. (x5c[0]'s
/// key equals the JWK's, which parse_jwks established.) Lets a cached or offline JWKS be
/// trusted without its TLS fetch.
bool key_chain_pinned(const jwk& key, unix_time at, const std::vector<std::string>& pins);
/// With NVIDIA's pinned intermediate.
bool key_chain_pinned(const jwk& key, unix_time at);

/// What the local GPU evidence says about GPU i (the J10 binding), filled by the local
/// verifier (§1.2, §1.3).
struct local_gpu {
  std::string ueid_decimal;    ///< leaf certificate serial number as a decimal integer
  std::string driver_version;  ///< DRIVER_VERSION opaque field, trailing NUL removed
  std::string vbios_version;   ///< VBIOS_VERSION formatted "96.00.CF.00.02"
};

struct options {
  std::chrono::seconds skew{60};  ///< tolerated clock difference for nbf and iat (J3)
  bool require_key_pin = false;   ///< also require key_chain_pinned at `now`
  /// The intermediates key_chain_pinned accepts (lower-case hex SHA-256 of the SPKI).
  std::vector<std::string> key_pins = {std::string(pinned_intermediate_spki_sha256[0])};
  std::vector<std::string> accepted_hwmodels = {"GH100"};
  std::string issuer = "https://nras.attestation.nvidia.com";
};

struct gpu_claims {
  std::size_t index = 0;
  std::string hwmodel, ueid, driver_version, vbios_version;
  unix_time expires;
};

struct verdict {
  std::string kid;      ///< the overall token's key id
  unix_time issued_at;  ///< the overall token's iat
  unix_time expires;    ///< the earliest exp over all tokens
  std::vector<gpu_claims> gpus;
};

/// Upper bounds on untrusted input.
inline constexpr std::size_t max_response_bytes = 1 << 20;
inline constexpr std::size_t max_token_bytes = 64 << 10;
inline constexpr std::size_t max_gpus = 16;

/// Verifies an NRAS answer body `[["JWT","<overall>"], {"GPU-0":"<jws>",…}]` against
/// `keys`, the client's 32-byte `nonce32`, the local evidence (`local[i]` is GPU-i) and
/// the time `now`: J1–J6 on the overall token, J8–J10 on every GPU token. Never throws.
result<verdict> verify_response(std::string_view response_body, const jwks& keys, byte_view nonce32,
                                const std::vector<local_gpu>& local, unix_time now, const options& opts = {});

}  // namespace vp::gpu::nras
