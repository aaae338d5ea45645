#pragma once
// Who the workload is (docs/nearai-attestation.md §4.4, §4.6): the app manifest bound by
// MRCONFIGID and the RTMR3 compose-hash event, and the app id, instance id, OS image and
// KMS identity taken from RTMR3 runtime events — only from a log whose replay matched the
// verified quote, and only from events dstack's boot wrote before the first `system-ready`
// (after it, the application itself may extend RTMR3 with events of any name) —
// cross-checked with the unauthenticated `info` object and compared with the policy's
// allowlists.

#include <boost/system/result.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "attest/near_report.hpp"
#include "core/bytes.hpp"
#include "policy/event_log.hpp"
#include "policy/factor.hpp"
#include "tdx/quote.hpp"

namespace vp::policy {

/// Allowed values of each measurement / identity. An empty list means "not pinned": any
/// value is accepted (the consistency checks still run).
struct workload_allowlists {
  std::vector<bytes> mrseam;           ///< 48 bytes each (TDX module measurement)
  std::vector<bytes> mrtd;             ///< 48 bytes each (initial TD memory: firmware)
  std::vector<bytes> rtmr0;            ///< 48 bytes each (firmware configuration, ACPI)
  std::vector<bytes> rtmr1;            ///< 48 bytes each (kernel, boot loader)
  std::vector<bytes> rtmr2;            ///< 48 bytes each (kernel command line, initrd)
  std::vector<bytes> os_image_hash;    ///< 32 bytes each (dstack OS image)
  std::vector<bytes> app_id;           ///< 20 bytes each (dstack app id)
  std::vector<bytes> key_provider_id;  ///< DER SPKI of the KMS root key (matched under provider "kms" only)
  std::vector<bytes> compose_hash;     ///< 32 bytes each (SHA-256 of app_compose)

  friend bool operator==(const workload_allowlists&, const workload_allowlists&) = default;
};

/// The identity a dstack CVM reports in its key-provider event: {"name":…,"id":<hex>}.
struct key_provider_identity {
  std::string name;  ///< "kms" for a dstack KMS
  bytes id;          ///< the KMS root key's DER SubjectPublicKeyInfo
};

/// Parses a key-provider JSON text. `strict` (the measured event payload) also requires
/// the text to be exactly the compact serialisation dstack writes, so that no other
/// parser can read a different name or id out of the same measured bytes (duplicate
/// keys, escapes). Errors: a sentence naming what is wrong.
boost::system::result<key_provider_identity, std::string> parse_key_provider(std::string_view json_text,
                                                                             bool strict);

/// MRCONFIGID as dstack sets it: 0x01 ‖ SHA-256(app_compose) ‖ 15 zero bytes.
tdx::measurement expected_mr_config_id(const sha256_digest& compose_hash);

/// The runtime events (type 0x08000001, RTMR3) named `name`, in log order.
std::vector<const tdx_event*> rtmr3_events(std::span<const tdx_event> events, std::string_view name);

/// Appends, in this order, the factors compose_hash, mrconfigid, app_id, instance_id,
/// os_image_hash and key_provider for `attestation` whose verified TD report is `td`.
/// `verified_events`: the parsed event log when its replay matched the quote and every
/// runtime digest recomputed, else nullptr (the event-derived factors are then skipped:
/// nothing an unverified log says is used).
void append_workload_factors(const workload_allowlists& allowlists, const attest::near_attestation& attestation,
                             const tdx::td_report& td, const std::vector<tdx_event>* verified_events,
                             std::vector<factor>& out);

/// Whether `value` is in `list` (byte-exact).
bool allowlisted(const std::vector<bytes>& list, byte_view value);

}  // namespace vp::policy
