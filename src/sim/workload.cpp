#include "sim/workload.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <utility>

#include "core/hex.hpp"
#include "crypto/digest.hpp"

namespace vp::sim {
namespace {

namespace json = boost::json;

/// Deterministic pseudo-measurements: the simulator's values are labels, not real
/// images, but they must be stable across runs (a policy file pins them).
sha256_digest label_sha256(std::string_view label) { return crypto::sha256(as_bytes(label)); }
sha384_digest label_sha384(std::string_view label) { return crypto::sha384(as_bytes(label)); }

bytes to_bytes(byte_view b) { return bytes(b.begin(), b.end()); }
bytes to_bytes(std::string_view s) { return to_bytes(as_bytes(s)); }

/// A boot event (IMR 0-2): EFI/TCG types whose digests verifiers take as logged.
log_event boot_event(std::uint32_t imr, std::uint32_t type, std::string_view payload) {
  log_event e;
  e.imr = imr;
  e.event_type = type;
  e.payload = to_bytes(payload);
  e.digest = crypto::sha384(e.payload);
  return e;
}

log_event runtime_event(std::string name, bytes payload) {
  log_event e;
  e.imr = 3;
  e.event_type = runtime_event_type;
  e.digest = runtime_event_digest(name, payload);
  e.event = std::move(name);
  e.payload = std::move(payload);
  return e;
}

/// A docker compose manifest shaped like NEAR's launcher compose (manifest_version 2,
/// pretty-printed with four spaces, as dstack writes it).
constexpr std::string_view app_compose_text = R"({
    "manifest_version": 2,
    "name": "dstack-nvidia-sim-0.5.5",
    "runner": "docker-compose",
    "docker_compose_file": "services:\n  inference-proxy:\n    image: verified-proxy-sim/inference-proxy@sha256:5d3c9a2b8f1e4d7c6b5a49382716f5e4d3c2b1a09f8e7d6c5b4a392817f6e5d4\n    restart: unless-stopped\n  nginx:\n    image: nginx@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0\n    ports:\n      - \"443:443\"\n    restart: unless-stopped\n",
    "kms_enabled": true,
    "gateway_enabled": true,
    "local_key_provider_enabled": false,
    "key_provider_id": "",
    "public_logs": false,
    "public_sysinfo": true,
    "allowed_envs": [
        "MODEL_NAME",
        "HOSTNAME"
    ],
    "no_instance_id": false,
    "secure_time": false
})";

/// cloud-api's compose, shaped like NEAR's gateway manifest (no GPUs, its own services).
constexpr std::string_view gateway_compose_text = R"({
    "manifest_version": 2,
    "name": "cloud-api-sim",
    "runner": "docker-compose",
    "docker_compose_file": "services:\n  cloud-api:\n    image: verified-proxy-sim/cloud-api@sha256:9a8b7c6d5e4f30211f0e9d8c7b6a59483726150f9e8d7c6b5a4938271605f4e3\n    environment:\n      - TLS_CERT_PATH=/etc/letsencrypt/live/cloud-api.near.ai/fullchain.pem\n    restart: unless-stopped\n  nginx:\n    image: nginx@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0\n    ports:\n      - \"443:443\"\n    restart: unless-stopped\n",
    "kms_enabled": true,
    "gateway_enabled": false,
    "local_key_provider_enabled": false,
    "key_provider_id": "",
    "public_logs": false,
    "public_sysinfo": true,
    "allowed_envs": [
        "DATABASE_URL",
        "HOSTNAME"
    ],
    "no_instance_id": false,
    "secure_time": false
})";

}  // namespace

std::string_view to_string(workload_tampering t) noexcept {
  switch (t) {
    case workload_tampering::none: return "none";
    case workload_tampering::altered_event: return "altered_event";
    case workload_tampering::changed_compose: return "changed_compose";
    case workload_tampering::foreign_app_id: return "foreign_app_id";
    case workload_tampering::foreign_os_image: return "foreign_os_image";
    case workload_tampering::foreign_kms: return "foreign_kms";
    case workload_tampering::foreign_mrtd: return "foreign_mrtd";
  }
  return "unknown";
}

std::string vm_config_text(const sha256_digest& os_image_hash, std::size_t num_gpus) {
  return R"({"spec_version":1,"os_image_hash":")" + to_hex(os_image_hash) +
         R"(","cpu_count":8,"memory_size":34359738368,"qemu_version":"9.2.1","pci_hole64_size":1125899906842624,)"
         R"("hugepages":false,"num_gpus":)" + std::to_string(num_gpus) +
         R"(,"num_nvswitches":0,"hotplug_off":true,"image":"dstack-nvidia-sim-0.5.5"})";
}

workload_identity tampered(workload_identity w, workload_tampering how) {
  switch (how) {
    case workload_tampering::foreign_app_id: {
      const auto app = label_sha256("another app-id");
      w.app_id.assign(app.begin(), app.begin() + 20);
      break;
    }
    case workload_tampering::foreign_os_image:
      w.os_image_hash = label_sha256("another os-image");
      w.vm_config = vm_config_text(w.os_image_hash, w.num_gpus);
      break;
    case workload_tampering::foreign_kms: {
      const auto x = label_sha256("another kms root x");
      std::copy(x.begin(), x.end(), w.key_provider_id.end() - 64);
      w.key_provider_info = R"({"name":"kms","id":")" + to_hex(w.key_provider_id) + R"("})";
      break;
    }
    case workload_tampering::foreign_mrtd:
      w.mr_td = label_sha384("another MRTD");
      break;
    case workload_tampering::changed_compose:
      // The manifest as served; MRCONFIGID and the compose-hash event keep the measured one.
      w.app_compose.replace(w.app_compose.find("\"public_logs\": false"), 21, "\"public_logs\": true ");
      break;
    case workload_tampering::none:
    case workload_tampering::altered_event:
      break;
  }
  return w;
}

sha384_digest runtime_event_digest(std::string_view name, byte_view payload) {
  const std::uint32_t type = runtime_event_type;
  const std::array<std::uint8_t, 4> le = {static_cast<std::uint8_t>(type), static_cast<std::uint8_t>(type >> 8),
                                          static_cast<std::uint8_t>(type >> 16),
                                          static_cast<std::uint8_t>(type >> 24)};
  const std::string_view colon = ":";
  return crypto::sha384({le, as_bytes(colon), as_bytes(name), as_bytes(colon), payload});
}

std::array<tdx::measurement, 4> replay_rtmrs(const std::vector<log_event>& events) {
  std::array<tdx::measurement, 4> rtmr{};
  for (const auto& e : events) {
    if (e.imr > 3) continue;
    rtmr[e.imr] = crypto::sha384({rtmr[e.imr], e.digest});
  }
  return rtmr;
}

workload_identity make_workload_identity(std::size_t num_gpus) {
  workload_identity w;
  w.num_gpus = num_gpus;
  w.app_compose = std::string(app_compose_text);
  w.compose_hash = crypto::sha256(as_bytes(w.app_compose));
  const auto app = label_sha256("verified-proxy-sim app-id");
  w.app_id.assign(app.begin(), app.begin() + 20);
  w.os_image_hash = label_sha256("verified-proxy-sim os-image dstack-nvidia-sim-0.5.5");
  // The shape of a DER P-256 SubjectPublicKeyInfo (the real KMS id is one); the point
  // itself is a label hash, nobody uses it as a key.
  w.key_provider_id = from_hex("3059301306072a8648ce3d020106082a8648ce3d03010703420004").value();
  const auto x = label_sha256("verified-proxy-sim kms root x");
  const auto y = label_sha256("verified-proxy-sim kms root y");
  w.key_provider_id.insert(w.key_provider_id.end(), x.begin(), x.end());
  w.key_provider_id.insert(w.key_provider_id.end(), y.begin(), y.end());
  w.key_provider_info = R"({"name":"kms","id":")" + to_hex(w.key_provider_id) + R"("})";
  w.mr_kms = label_sha256("verified-proxy-sim mr-kms");
  w.mr_td = label_sha384("verified-proxy-sim MRTD");
  w.mr_config_id[0] = 0x01;
  std::copy(w.compose_hash.begin(), w.compose_hash.end(), w.mr_config_id.begin() + 1);
  w.vm_config = vm_config_text(w.os_image_hash, w.num_gpus);

  // Firmware (IMR 0), boot loader and kernel (IMR 1), command line and initrd (IMR 2),
  // with the event types of NEAR's logs.
  w.boot_events = {
      boot_event(0, 0x8000000b, "sim EFI_HANDOFF_TABLES2 TdxTable"),
      boot_event(0, 0x8000000a, "sim EFI_PLATFORM_FIRMWARE_BLOB2 TDVF"),
      boot_event(0, 0x80000001, "sim EFI_VARIABLE_DRIVER_CONFIG SecureBoot"),
      boot_event(0, 0x80000001, "sim EFI_VARIABLE_DRIVER_CONFIG PK"),
      boot_event(0, 0x80000001, "sim EFI_VARIABLE_DRIVER_CONFIG KEK"),
      boot_event(0, 0x4, std::string_view("\0\0\0\0", 4)),
      boot_event(0, 0xa, "ACPI DATA"),
      boot_event(1, 0x80000003, "sim EFI_BOOT_SERVICES_APPLICATION vmlinuz"),
      boot_event(1, 0x80000007, "Calling EFI Application from Boot Option"),
      boot_event(1, 0x4, std::string_view("\0\0\0\0", 4)),
      boot_event(2, 0x6, "sim LOADED_IMAGE::LoadOptions console=ttyS0 dstack.sim=1"),
      boot_event(2, 0x6, "sim Linux initrd"),
      boot_event(1, 0x80000007, "Exit Boot Services Invocation"),
      boot_event(1, 0x80000007, "Exit Boot Services Returned with Success"),
  };
  return w;
}

workload_identity make_gateway_workload_identity() {
  workload_identity w = make_workload_identity(0);
  w.app_name = "dstack-sim-0.5.4";
  w.app_compose = std::string(gateway_compose_text);
  w.compose_hash = crypto::sha256(as_bytes(w.app_compose));
  const auto app = label_sha256("verified-proxy-sim gateway app-id");
  w.app_id.assign(app.begin(), app.begin() + 20);
  w.os_image_hash = label_sha256("verified-proxy-sim os-image dstack-sim-0.5.4");
  w.mr_td = label_sha384("verified-proxy-sim gateway MRTD");
  w.mr_config_id = {};
  w.mr_config_id[0] = 0x01;
  std::copy(w.compose_hash.begin(), w.compose_hash.end(), w.mr_config_id.begin() + 1);
  w.vm_config = R"({"spec_version":1,"os_image_hash":")" + to_hex(w.os_image_hash) +
                R"(","cpu_count":4,"memory_size":8589934592,"qemu_single_pass_add_pages":true,"pic":true,)"
                R"("pci_hole64_size":0,"hugepages":false,"num_gpus":0,"num_nvswitches":0,"hotplug_off":false})";
  // Its own kernel and command line (RTMR1, RTMR2); the firmware events stay NEAR's shape.
  for (auto& e : w.boot_events) {
    if (e.imr == 0) continue;
    std::string payload(as_chars(e.payload));
    if (payload.starts_with("sim ")) e = boot_event(e.imr, e.event_type, "sim gateway " + payload.substr(4));
  }
  return w;
}

instance_workload make_instance_workload(const workload_identity& w, std::string_view domain, std::size_t index) {
  instance_workload out;
  const std::string label = "verified-proxy-sim instance " + std::string(domain) + "#" + std::to_string(index);
  const auto id = label_sha256(label);
  out.instance_id.assign(id.begin(), id.begin() + 20);
  out.device_id = label_sha256("verified-proxy-sim device " + std::to_string(index));
  return remeasured(w, std::move(out));
}

instance_workload remeasured(const workload_identity& w, instance_workload out) {
  out.event_log = w.boot_events;
  out.event_log.push_back(runtime_event("system-preparing", {}));
  out.event_log.push_back(runtime_event("app-id", w.app_id));
  out.event_log.push_back(runtime_event("compose-hash", to_bytes(w.compose_hash)));
  out.event_log.push_back(runtime_event("instance-id", out.instance_id));
  out.event_log.push_back(runtime_event("boot-mr-done", {}));
  out.event_log.push_back(runtime_event("mr-kms", to_bytes(w.mr_kms)));
  out.event_log.push_back(runtime_event("os-image-hash", to_bytes(w.os_image_hash)));
  out.event_log.push_back(runtime_event("key-provider", to_bytes(std::string_view(w.key_provider_info))));
  out.event_log.push_back(runtime_event("storage-fs", to_bytes(std::string_view("zfs"))));
  out.event_log.push_back(runtime_event("system-ready", {}));
  out.rtmrs = replay_rtmrs(out.event_log);
  return out;
}

json::array event_log_json(const std::vector<log_event>& events) {
  json::array out;
  out.reserve(events.size());
  for (const auto& e : events) {
    json::object entry;
    entry["imr"] = e.imr;
    entry["event_type"] = e.event_type;
    entry["digest"] = to_hex(e.digest);
    entry["event"] = e.event;
    entry["event_payload"] = to_hex(e.payload);
    out.emplace_back(std::move(entry));
  }
  return out;
}

json::object info_json(const workload_identity& w, const instance_workload& instance, std::string_view app_cert) {
  json::object tcb;
  tcb["mrtd"] = to_hex(w.mr_td);
  tcb["rtmr0"] = to_hex(instance.rtmrs[0]);
  tcb["rtmr1"] = to_hex(instance.rtmrs[1]);
  tcb["rtmr2"] = to_hex(instance.rtmrs[2]);
  tcb["rtmr3"] = to_hex(instance.rtmrs[3]);
  tcb["os_image_hash"] = to_hex(w.os_image_hash);
  tcb["compose_hash"] = to_hex(w.compose_hash);
  tcb["device_id"] = to_hex(instance.device_id);
  tcb["app_compose"] = w.app_compose;
  tcb["event_log"] = event_log_json(instance.event_log);

  json::object info;
  info["app_cert"] = app_cert;
  info["app_id"] = to_hex(w.app_id);
  info["app_name"] = w.app_name;
  info["compose_hash"] = to_hex(w.compose_hash);
  info["device_id"] = to_hex(instance.device_id);
  info["instance_id"] = to_hex(instance.instance_id);
  info["key_provider_info"] = w.key_provider_info;
  // dstack's aggregate of the measurement registers; only displayed by verifiers.
  info["mr_aggregated"] = to_hex(crypto::sha256({w.mr_td, instance.rtmrs[0], instance.rtmrs[1], instance.rtmrs[2],
                                                  instance.rtmrs[3]}));
  info["os_image_hash"] = to_hex(w.os_image_hash);
  info["tcb_info"] = std::move(tcb);
  info["vm_config"] = w.vm_config;
  return info;
}

}  // namespace vp::sim
