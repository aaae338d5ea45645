#pragma once
// The software a simulated CVM claims to run, measured the way dstack measures it
// (docs/nearai-attestation.md §1.4, §4.3-4.6): an app_compose manifest, a dstack event
// log whose replay gives RTMR0-3, MRCONFIGID = 0x01 ‖ sha256(app_compose) ‖ zeros, and
// the `info` object a guest agent reports. Everything is deterministic (derived from
// fixed labels, the domain and the instance index), so a policy written for one run of
// the simulator pins the next run too. Pure: no I/O.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "sim/options.hpp"
#include "tdx/quote.hpp"

namespace vp::sim {

/// dstack runtime events (docs §4.3): IMR 3, digest recomputable from name and payload.
inline constexpr std::uint32_t runtime_event_type = 0x08000001;

/// One event log entry as NEAR's reports carry it.
struct log_event {
  std::uint32_t imr = 0;  ///< zero-based RTMR index
  std::uint32_t event_type = 0;
  sha384_digest digest{};
  std::string event;  ///< runtime event name; "" for boot events
  bytes payload;
};

/// V1 runtime event digest: SHA-384(le32(event_type) ‖ ":" ‖ name ‖ ":" ‖ payload).
sha384_digest runtime_event_digest(std::string_view name, byte_view payload);

/// RTMR replay (§4.3): every register starts at 48 zero bytes; for each event in order
/// RTMR[imr] = SHA-384(RTMR[imr] ‖ digest). Events with imr > 3 are ignored.
std::array<tdx::measurement, 4> replay_rtmrs(const std::vector<log_event>& events);

/// The deployment-wide part of the workload: one app, one OS image, one KMS.
struct workload_identity {
  std::string app_name = "dstack-nvidia-sim-0.5.5";
  std::string app_compose;      ///< exact manifest text (hashed byte for byte)
  sha256_digest compose_hash{};  ///< sha256(app_compose)
  bytes app_id;                 ///< 20 bytes
  sha256_digest os_image_hash{};
  bytes key_provider_id;        ///< DER SubjectPublicKeyInfo of the (synthetic) KMS root key
  std::string key_provider_info;  ///< {"name":"kms","id":"<hex>"}: the key-provider payload, byte for byte
  sha256_digest mr_kms{};
  tdx::measurement mr_td{};
  tdx::measurement mr_config_id{};  ///< 0x01 ‖ compose_hash ‖ 15 zero bytes
  std::size_t num_gpus = 8;       ///< GPUs the CVM is configured with (vm_config.num_gpus)
  std::string vm_config;          ///< JSON text, as info.vm_config carries it
  std::vector<log_event> boot_events;  ///< IMR 0-2 (firmware, kernel, initrd)
};

/// The simulator's fixed workload, for CVMs configured with `num_gpus` GPUs.
workload_identity make_workload_identity(std::size_t num_gpus = 8);

/// The simulated gateway's workload (cloud-api in its own CVM, docs/gpu-signatures-e2ee.md
/// §5): another app (id, name and compose), booted from another OS image and firmware, with
/// no GPUs; the same KMS. Deterministic, like make_workload_identity().
workload_identity make_gateway_workload_identity();

/// info.vm_config for a CVM booted from `os_image_hash` with `num_gpus` GPUs. The count
/// is what the CVM was configured with, whatever evidence it sends: the verifier compares
/// the evidence against it (docs/gpu-signatures-e2ee.md §1.4 L15).
std::string vm_config_text(const sha256_digest& os_image_hash, std::size_t num_gpus);

/// `w` as a CVM tampered with `how` claims it (foreign_*: another identity, measured
/// consistently; changed_compose: the manifest as served). altered_event changes no
/// identity: it is applied to the served event log.
workload_identity tampered(workload_identity w, workload_tampering how);

/// What differs between the CVMs of one deployment: the instance id, and therefore
/// RTMR3.
struct instance_workload {
  bytes instance_id;  ///< 20 bytes, derived from the domain and the index
  sha256_digest device_id{};
  std::vector<log_event> event_log;  ///< boot events, then the runtime events (IMR 3)
  std::array<tdx::measurement, 4> rtmrs{};  ///< replay_rtmrs(event_log)
};

/// The event log of instance `index` of `domain`: boot events, then system-preparing,
/// app-id, compose-hash, instance-id, boot-mr-done, mr-kms, os-image-hash, key-provider,
/// storage-fs, system-ready (NEAR's dstack 0.5.x sequence).
instance_workload make_instance_workload(const workload_identity& workload, std::string_view domain,
                                         std::size_t index);

/// `instance`'s event log and RTMRs rebuilt for the workload `w` (same instance and
/// device ids).
instance_workload remeasured(const workload_identity& w, instance_workload instance);

/// The event log as NEAR's JSON array: {imr, event_type, digest, event, event_payload}.
boost::json::array event_log_json(const std::vector<log_event>& events);

/// The dstack guest agent's `info` object (§1.4) for one instance; `app_cert` is the PEM
/// the instance presents.
boost::json::object info_json(const workload_identity& workload, const instance_workload& instance,
                              std::string_view app_cert);

}  // namespace vp::sim
