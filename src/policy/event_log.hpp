#pragma once
// The TDX event log of a dstack CVM (docs/nearai-attestation.md §4.3): typed events,
// replay of RTMR0-3, and recomputation of dstack runtime-event digests. Pure: JSON in,
// digests out; nothing here decides trust, the policy compares the results with the
// verified quote.

#include <boost/json/fwd.hpp>
#include <boost/system/result.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "tdx/quote.hpp"

namespace vp::policy {

/// Event type of dstack runtime events (not a TCG type), extended into RTMR3.
inline constexpr std::uint32_t dstack_runtime_event_type = 0x08000001;
/// Longest event name accepted.
inline constexpr std::size_t max_event_name_size = 256;
/// Largest event payload accepted, decoded (real boot events carry at most a few KB).
inline constexpr std::size_t max_event_payload_size = 1024 * 1024;

/// How a runtime event's digest is computed (dstack EventLogVersion).
enum class runtime_digest_version {
  v1 = 1,  ///< SHA-384(le32(type) ‖ ":" ‖ name ‖ ":" ‖ payload)
  v2 = 2,  ///< SHA-384(JCS {"name":…,"payload":<hex>,"type":134217729})
};

/// One entry of the event log.
struct tdx_event {
  std::uint32_t imr = 0;  ///< 0-3, the RTMR index (zero-based, unlike TCG PCRs)
  std::uint32_t event_type = 0;
  tdx::measurement digest{};  ///< the SHA-384 digest as logged
  std::string name;           ///< "event"; "" for boot events
  bytes payload;              ///< "event_payload", hex-decoded
  runtime_digest_version version = runtime_digest_version::v1;  ///< "version", absent = 1
  std::optional<bytes> preimage;  ///< "preimage" (dstack ≥ 0.5.6 for v2 events), hex-decoded

  bool is_runtime() const { return event_type == dstack_runtime_event_type; }
  friend bool operator==(const tdx_event&, const tdx_event&) = default;
};

/// Why an event log could not be read.
struct event_log_error {
  std::string message;  ///< names the entry index and field
};

template <class T>
using event_log_result = boost::system::result<T, event_log_error>;

/// Lets event_log_result<T>::value() report an error (tests and tools only).
[[noreturn]] void throw_exception_from_error(const event_log_error& e, const boost::source_location& loc);

/// Parses the entries of an event log array (near_event_log::entries). Each entry must
/// be an object with imr (integer 0-3), event_type (u32), digest (96 hex), event (string,
/// at most max_event_name_size), event_payload (hex, at most max_event_payload_size
/// decoded); version (1 or 2) and preimage (hex) are optional; other keys are ignored.
/// `json_pointer` (e.g. "/event_log") prefixes every message.
event_log_result<std::vector<tdx_event>> parse_event_log(const boost::json::array& entries,
                                                         std::string_view json_pointer);

/// The bytes a runtime event's digest is computed over: v1 le32(0x08000001) ‖ ":" ‖ name
/// ‖ ":" ‖ payload; v2 the RFC 8785 canonical JSON {"name":…,"payload":<lower-case
/// hex>,"type":134217729}.
bytes runtime_event_preimage(std::string_view name, byte_view payload, runtime_digest_version version);

/// SHA-384 of runtime_event_preimage().
tdx::measurement runtime_event_digest(std::string_view name, byte_view payload, runtime_digest_version version);

/// RTMR0-3 after replaying `events` in order from 48 zero bytes each:
/// RTMR[imr] = SHA-384(RTMR[imr] ‖ logged digest).
std::array<tdx::measurement, 4> replay_rtmrs(std::span<const tdx_event> events);

/// A runtime event whose logged digest (or preimage) is not what its name and payload give.
struct runtime_digest_mismatch {
  std::size_t index = 0;  ///< position in the log
  std::string name;
  tdx::measurement logged{};
  tdx::measurement computed{};
  bool preimage_mismatch = false;  ///< the logged preimage differs from the computed one
};

/// Recomputes the digest of every runtime event (event_type 0x08000001) and returns
/// those that do not match, in log order.
std::vector<runtime_digest_mismatch> check_runtime_digests(std::span<const tdx_event> events);

}  // namespace vp::policy
