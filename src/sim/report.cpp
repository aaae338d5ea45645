#include "sim/report.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

#include "attest/near_report.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"

namespace vp::sim {
namespace {

namespace json = boost::json;

bytes random_bytes(std::size_t n) {
  bytes out(n);
  if (::RAND_bytes(out.data(), static_cast<int>(n)) != 1) throw std::runtime_error("verified-proxy-sim: RAND_bytes failed");
  return out;
}

/// The report_data a simulated CVM's quote carries (§1.8): the TLS form
/// SHA256(identity ‖ fingerprint) ‖ nonce, else identity zero-padded ‖ nonce. Computed here
/// on its own, not with the verifier's function: the simulator is the tests' independent
/// oracle, so a bug in the verifier must not be mirrored.
std::array<std::uint8_t, 64> bound_report_data(byte_view identity, const sha256_digest& fingerprint,
                                               bool include_tls_fingerprint,
                                               const std::array<std::uint8_t, 32>& nonce) {
  std::array<std::uint8_t, 64> report_data{};
  if (include_tls_fingerprint) {
    bytes preimage(identity.begin(), identity.end());
    preimage.insert(preimage.end(), fingerprint.begin(), fingerprint.end());
    const sha256_digest prefix = crypto::sha256(preimage);
    std::copy(prefix.begin(), prefix.end(), report_data.begin());
  } else {
    std::copy_n(identity.begin(), std::min<std::size_t>(identity.size(), 32), report_data.begin());
  }
  std::copy(nonce.begin(), nonce.end(), report_data.begin() + 32);
  return report_data;
}

}  // namespace

std::optional<report_query> parse_report_query(std::string_view target, std::string& error) {
  const auto url = boost::urls::parse_origin_form(target);
  if (!url) {
    error = "Invalid request target";
    return std::nullopt;
  }
  report_query q;
  for (const auto& param : url->params()) {
    const std::string value = param.has_value ? std::string(param.value) : std::string();
    if (param.key == "nonce") {
      const auto decoded = from_hex(value);
      if (!decoded) {
        error = "Nonce must be hex-encoded";
        return std::nullopt;
      }
      if (decoded->size() != 32) {
        error = "Nonce must be 32 bytes";
        return std::nullopt;
      }
      std::array<std::uint8_t, 32> nonce{};
      std::copy(decoded->begin(), decoded->end(), nonce.begin());
      q.nonce = nonce;
    } else if (param.key == "signing_algo") {
      const auto named = attest::signing_algorithm_named(value);
      if (!named) {
        error = "Unsupported signing algorithm: " + value;
        return std::nullopt;
      }
      q.signing_algo = *named;
    } else if (param.key == "include_tls_fingerprint") {
      if (value != "true" && value != "false") {
        error = "include_tls_fingerprint must be true or false";
        return std::nullopt;
      }
      q.include_tls_fingerprint = value == "true";
    }
    // model, signing_address and anything else: ignored, as inference-proxy ignores model.
  }
  return q;
}

signing_identity random_signing_identity() {
  auto ecdsa = crypto::secp256k1::generate();
  auto ed25519 = crypto::ed25519::generate();
  if (!ecdsa || !ed25519) throw std::runtime_error("verified-proxy-sim: cannot generate signing keys");
  const auto address = crypto::secp256k1::ethereum_address(ecdsa->public_key);
  if (!address) throw std::runtime_error("verified-proxy-sim: cannot derive the signing address");
  signing_identity id;
  id.ecdsa = *ecdsa;
  id.ed25519 = *ed25519;
  id.ecdsa_address.assign(address->begin(), address->end());
  id.ed25519_key.assign(ed25519->public_key.begin(), ed25519->public_key.end());
  return id;
}

byte_view signing_identity::address(attest::signing_algorithm algo) const {
  return algo == attest::signing_algorithm::ecdsa ? byte_view(ecdsa_address) : byte_view(ed25519_key);
}

byte_view signing_identity::public_key(attest::signing_algorithm algo) const {
  return algo == attest::signing_algorithm::ecdsa ? byte_view(ecdsa.public_key) : byte_view(ed25519.public_key);
}

byte_view signing_identity::secret(attest::signing_algorithm algo) const {
  return algo == attest::signing_algorithm::ecdsa ? byte_view(ecdsa.secret) : byte_view(ed25519.seed);
}

std::array<std::uint8_t, 32> random_report_nonce() {
  const bytes random = random_bytes(32);
  std::array<std::uint8_t, 32> nonce{};
  std::copy(random.begin(), random.end(), nonce.begin());
  return nonce;
}

std::optional<std::string> make_nvidia_payload(const report_subject& subject, const std::array<std::uint8_t, 32>& nonce,
                                               const backend_faults& faults) {
  if (faults.gpu_missing_payload) return std::nullopt;
  if (subject.gpus == 0) {
    // A CVM without GPUs: NEAR's shape with nothing listed.
    json::object nvidia;
    nvidia["arch"] = "HOPPER";
    nvidia["evidence_list"] = json::array();
    nvidia["nonce"] = to_hex(nonce);
    return json::serialize(nvidia);
  }
  // §1.1: NEAR collects the evidence of every GPU with the client's nonce, in one payload
  // whose top-level nonce is that nonce too.
  test::payload_spec spec;
  spec.nonce = nonce;
  spec.first_index = subject.first_gpu_index;
  spec.gpus.assign(subject.gpus, test::gpu_spec{});
  if (faults.gpu_fewer) spec.gpus.pop_back();  // info.vm_config.num_gpus still counts it
  test::gpu_nonce other = nonce;
  other[0] ^= 0x01;
  if (faults.gpu_payload_nonce) spec.nonce = other;  // a whole payload replayed from another request
  if (!spec.gpus.empty()) {
    // The faults hit the last GPU: a verifier that looks at GPU 0 only must not pass them.
    test::gpu_spec& last = spec.gpus.back();
    if (faults.gpu_wrong_nonce) last.spdm_nonce = other;
    if (faults.gpu_bad_signature) last.corrupt_signature = true;
    if (faults.gpu_foreign_root) last.foreign_root = true;
  }
  return subject.where->gpu_pki().payload(spec);
}

std::string make_report(const report_subject& subject, const report_query& query,
                        const std::array<std::uint8_t, 32>& nonce, const backend_faults& faults) {
  const byte_view identity = subject.keys->address(query.signing_algo);

  // wrong_fingerprint: a report relayed from a machine with another TLS key binds and
  // names that key, consistently; only the live SPKI of this connection tells.
  sha256_digest fingerprint = subject.spki_sha256;
  if (faults.wrong_fingerprint) fingerprint = crypto::sha256({as_bytes("another TLS key"), subject.spki_sha256});

  std::array<std::uint8_t, 64> report_data =
      bound_report_data(identity, fingerprint, query.include_tls_fingerprint, nonce);
  if (faults.wrong_nonce) report_data[63] ^= 0x01;

  // What this CVM claims to run: the deployment's workload unless tampered with.
  const auto tampering = faults.tampered_workload;
  const workload_identity claimed = tampered(subject.where->workload(), tampering);
  instance_workload measured = tampering == workload_tampering::none ||
                                        tampering == workload_tampering::changed_compose ||
                                        tampering == workload_tampering::altered_event
                                    ? *subject.workload
                                    : remeasured(claimed, *subject.workload);
  if (tampering == workload_tampering::altered_event) {
    // A firmware event whose logged digest is not what was extended into RTMR0 (the RTMRs
    // stay those of the real log), in both copies of the log.
    measured.event_log.at(1).digest = crypto::sha384(as_bytes("another firmware blob"));
  }
  const bytes quote = subject.where->mint_quote(claimed.mr_td, measured.rtmrs, report_data, faults);
  const json::array events = event_log_json(measured.event_log);

  // Keys in inference-proxy's (alphabetical) order.
  json::object report;
  report["event_log"] = events;
  report["info"] = info_json(claimed, measured, subject.cert_pem);
  report["intel_quote"] = to_hex(quote);
  report["model_name"] = subject.model_name;
  if (auto nvidia = make_nvidia_payload(subject, nonce, faults)) {
    report["nvidia_payload"] = std::move(*nvidia);  // a JSON string, as NEAR sends it
  }
  report["request_nonce"] = to_hex(nonce);
  report["signing_address"] = attest::format_signing_address(query.signing_algo, identity);
  report["signing_algo"] = attest::to_string(query.signing_algo);
  // NEAR sends the key beside the address (§4.2, §4.3); nothing in the quote binds it, so
  // unbound_signing_key can swap it for another while report_data keeps the real address.
  const signing_identity& key_owner =
      faults.unbound_signing_key && subject.foreign_keys != nullptr ? *subject.foreign_keys : *subject.keys;
  report["signing_public_key"] = to_hex(key_owner.public_key(query.signing_algo));
  if (query.include_tls_fingerprint) report["tls_cert_fingerprint"] = to_hex(fingerprint);

  json::object full;
  json::array all;
  all.emplace_back(report);  // one element: a copy of the top level
  full["all_attestations"] = std::move(all);
  for (auto& [key, value] : report) full[key] = std::move(value);
  if (faults.oversized_attestation) full["padding"] = std::string(attest::max_report_body_size, 'x');
  return json::serialize(full);
}

boost::json::object make_gateway_attestation(const gateway_subject& subject, const report_query& query,
                                             const std::array<std::uint8_t, 32>& nonce, bool unbound_tls_key) {
  const byte_view identity = subject.keys->address(query.signing_algo);
  sha256_digest fingerprint = subject.spki_sha256;
  if (unbound_tls_key) fingerprint = crypto::sha256({as_bytes("another gateway TLS key"), subject.spki_sha256});

  const std::array<std::uint8_t, 64> report_data =
      bound_report_data(identity, fingerprint, query.include_tls_fingerprint, nonce);

  const workload_identity& w = *subject.workload;
  const bytes quote = subject.where->mint_quote(w.mr_td, w.mr_config_id, subject.instance->rtmrs, report_data, {});

  // cloud-api's field order (the 2026-06-29 capture).
  json::object out;
  out["signing_address"] = attest::format_signing_address(query.signing_algo, identity);
  out["signing_algo"] = attest::to_string(query.signing_algo);
  out["intel_quote"] = to_hex(quote);
  out["event_log"] = json::serialize(event_log_json(subject.instance->event_log));  // a JSON string (§1.5)
  out["report_data"] = to_hex(report_data);
  out["request_nonce"] = to_hex(nonce);
  out["info"] = info_json(w, *subject.instance, subject.cert_pem);
  // The dstack VPC the gateway reaches its providers through (informational, unbound).
  out["vpc"] = json::object{{"vpc_server_app_id", to_hex(crypto::sha256(as_bytes("verified-proxy-sim vpc server")))
                                                       .substr(0, 40)},
                            {"vpc_hostname", "cloud-api-sim.dstack.internal"}};
  if (query.include_tls_fingerprint) out["tls_cert_fingerprint"] = to_hex(fingerprint);
  return out;
}

}  // namespace vp::sim
