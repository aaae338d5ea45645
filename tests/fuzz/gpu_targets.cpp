// The GPU entry points of fuzz_targets.hpp: NVIDIA evidence as a model CVM reports it
// (docs/gpu-signatures-e2ee.md §1.1-§1.4) and NRAS answers with their key set (§2.2-§2.3),
// all of it bytes from the network. The context they are checked against (roots, nonce,
// the local GPUs NRAS must agree with) is the synthetic NVIDIA PKI's, made once per
// process, plus the compiled-in NVIDIA root for real evidence.

#include <boost/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/file.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "fuzz/fuzz_targets.hpp"
#include "gpu/evidence.hpp"
#include "gpu/nras.hpp"
#include "testpki/nvidia_pki.hpp"

namespace vp::fuzz {
namespace {

namespace json = boost::json;

[[noreturn]] void gpu_property_failed(int line, const char* what) {
  std::fprintf(stderr, "%s:%d: fuzz property violated: %s\n", __FILE__, line, what);
  std::abort();
}
#define VP_GPU_ASSERT(cond)                             \
  do {                                                  \
    if (!(cond)) gpu_property_failed(__LINE__, #cond); \
  } while (false)

std::string_view text_of(const std::uint8_t* data, std::size_t size) {
  return size == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char*>(data), size);
}

// 2026-03-22T01:30:00Z: the first real capture's appraisal time, inside the validity of
// NVIDIA's device chains and of every synthetic certificate.
const unix_time appraisal_time = from_unix_seconds(1774143000);

/// The synthetic material, made once: 8-GPU and 1-GPU payloads, the fake NRAS's key set
/// and its answer for the 8-GPU payload at appraisal_time.
struct synthetic_context {
  test::nvidia_test_pki pki;
  test::fake_nras_signer nras;
  gpu::trust_anchor anchor;
  test::gpu_nonce nonce{};
  std::string payload8, payload1, payload_sdk;
  std::string jwks_text, answer;
  gpu::nras::jwks keys;
  std::vector<gpu::nras::local_gpu> local;

  synthetic_context() {
    for (std::size_t i = 0; i < nonce.size(); ++i) nonce[i] = static_cast<std::uint8_t>(0xC0 + i);
    auto root = gpu::load_trust_anchor(pki.root_pem());
    if (!root) std::abort();  // the synthetic PKI itself is broken
    anchor = std::move(*root);
    payload8 = pki.payload({.nonce = nonce});
    payload1 = pki.payload({.nonce = nonce, .gpus = std::vector<test::gpu_spec>(1)});
    payload_sdk = pki.payload({.nonce = nonce, .gpus = std::vector<test::gpu_spec>(2), .sdk_producer = true});
    jwks_text = nras.jwks_json();
    keys = gpu::nras::parse_jwks(jwks_text).value();
    answer = nras.answer(payload8, appraisal_time);
    const auto parsed = gpu::parse_payload(payload8).value();
    const auto verified = gpu::verify(parsed, sha256_of(nonce), anchor, appraisal_time, 8);
    if (!verified) std::abort();  // the synthetic PKI itself is broken
    for (const auto& g : *verified) local.push_back({g.ueid, g.driver_version, g.vbios_version});
  }
  static sha256_digest sha256_of(const test::gpu_nonce& n) {
    sha256_digest d{};
    std::copy(n.begin(), n.end(), d.begin());
    return d;
  }
};

const synthetic_context& context() {
  static const synthetic_context c;
  return c;
}

/// Everything verify() says, so that two calls can be compared.
std::string outcome(const gpu::result<std::vector<gpu::verified_gpu>>& r) {
  if (!r) return "fail " + r.error().describe();
  std::string out = "ok";
  for (const auto& g : *r) {
    out += "|" + std::to_string(g.index) + "," + g.arch + "," + g.driver_version + "," + g.vbios_version + "," +
           g.hwmodel + "," + g.ueid + "," + to_hex(g.fwid) + "," + to_hex(g.measurement_record_sha256) + "," +
           std::to_string(g.measurements.size()) + "," + std::to_string(g.nvdec0_status.value_or(0)) + "," +
           std::to_string(g.nvdec0_status.has_value());
    for (const bytes& der : g.chain_der) out += "," + to_hex(crypto::sha256(der));
  }
  return out;
}

void check_spdm(const gpu::payload_entry& entry) {
  const byte_view evidence = entry.evidence;
  const auto spdm = gpu::parse_spdm(evidence);
  if (!spdm) return;
  // The views lie inside the evidence: the signature is its last 96 bytes, what is signed
  // all the rest (L10).
  VP_GPU_ASSERT(spdm->signature.size() == gpu::spdm_signature_size);
  VP_GPU_ASSERT(spdm->signature.data() == evidence.data() + evidence.size() - gpu::spdm_signature_size);
  VP_GPU_ASSERT(spdm->signed_bytes.data() == evidence.data());
  VP_GPU_ASSERT(spdm->signed_bytes.size() + gpu::spdm_signature_size == evidence.size());
  VP_GPU_ASSERT(!spdm->blocks.empty() && spdm->blocks.size() <= 255);
  VP_GPU_ASSERT(spdm->measurement_record.size() < evidence.size());
  VP_GPU_ASSERT(spdm->request_param2 == 0xFF);
  std::size_t block_bytes = 0;
  for (const auto& b : spdm->blocks) block_bytes += 7 + b.value.size();
  VP_GPU_ASSERT(block_bytes == spdm->measurement_record.size());
  if (spdm->vbios_version) {
    const auto text = gpu::format_vbios_version(*spdm->vbios_version);
    VP_GPU_ASSERT(text.has_value() == (spdm->vbios_version->size() == 8));
  }
}

void check_verify(const gpu::nvidia_payload& p, const gpu::trust_anchor& anchor) {
  const auto first = gpu::verify(p, p.nonce, anchor, appraisal_time, p.entries.size());
  if (first) {
    VP_GPU_ASSERT(first->size() == p.entries.size());
    for (std::size_t i = 0; i < first->size(); ++i) {
      const auto& g = (*first)[i];
      VP_GPU_ASSERT(g.index == i && g.chain_der.size() == 5 && !g.driver_version.empty());
      VP_GPU_ASSERT(equal_bytes(g.chain_der[4], anchor.root_der));
    }
  } else if (first.error().gpu) {
    VP_GPU_ASSERT(*first.error().gpu < p.entries.size());
  }
  // The chain cache (warm now for the chains that passed) changes nothing.
  const auto second = gpu::verify(p, p.nonce, anchor, appraisal_time, p.entries.size());
  VP_GPU_ASSERT(outcome(first) == outcome(second));
  // Neither does the count, unless it differs (L15).
  const auto counted = gpu::verify(p, p.nonce, anchor, appraisal_time, p.entries.size() + 1);
  VP_GPU_ASSERT(!counted && counted.error().check == gpu::check::count);
}

/// The `nvidia_payload` strings of the real reports, when $VP_TESTDATA_DIR names the
/// shared vectors (tests/fuzz/run sets it).
std::vector<std::string> real_payloads() {
  std::vector<std::string> out;
  const char* dir = std::getenv("VP_TESTDATA_DIR");
  if (dir == nullptr || *dir == '\0') return out;
  std::error_code ec;
  for (const auto& capture : std::filesystem::directory_iterator(std::filesystem::path(dir) / "nearai", ec)) {
    const auto body = read_file(capture.path() / "report.json");
    if (!body) continue;
    json::error_code jec;
    const json::value doc = json::parse(*body, jec);
    const json::object* model = jec ? nullptr : doc.if_object();
    if (model == nullptr) continue;
    if (const json::value* list = model->if_contains("model_attestations"); list && list->is_array() &&
                                                                           !list->as_array().empty()) {
      model = list->as_array()[0].if_object();
    }
    const json::value* payload = model ? model->if_contains("nvidia_payload") : nullptr;
    if (payload != nullptr && payload->is_string()) out.emplace_back(payload->as_string());
  }
  return out;
}

}  // namespace

void gpu_payload_input(const std::uint8_t* data, std::size_t size) {
  const auto payload = gpu::parse_payload(text_of(data, size));
  if (!payload) {
    if (payload.error().gpu) VP_GPU_ASSERT(*payload.error().gpu < gpu::max_gpus);
    return;
  }
  // L1 and L3 hold for everything the parser accepts.
  VP_GPU_ASSERT(payload->arch == "HOPPER" && payload->entries.size() <= gpu::max_gpus);
  for (const auto& e : payload->entries) {
    VP_GPU_ASSERT(e.arch == payload->arch);
    VP_GPU_ASSERT(e.certificate_pem.size() <= gpu::max_entry_field_size);
    VP_GPU_ASSERT(e.evidence.size() <= gpu::max_entry_field_size);
    VP_GPU_ASSERT(!e.nonce || *e.nonce == payload->nonce);
    check_spdm(e);
  }
  check_verify(*payload, context().anchor);
  check_verify(*payload, gpu::nvidia_device_identity_ca());
}

void nras_input(const std::uint8_t* data, std::size_t size) {
  const synthetic_context& c = context();
  const std::string_view text = text_of(data, size);
  // "<jwks>\0<answer>": the key set and the answer mutated together; otherwise the input
  // is tried as either against the synthetic other half.
  const std::size_t nul = text.find('\0');
  const std::string_view jwks_text = nul == std::string_view::npos ? text : text.substr(0, nul);
  const std::string_view answer = nul == std::string_view::npos ? text : text.substr(nul + 1);
  const auto keys = gpu::nras::parse_jwks(jwks_text);
  if (keys) {
    VP_GPU_ASSERT(!keys->keys.empty());
    for (std::size_t i = 0; i < keys->keys.size(); ++i) {
      const auto& k = keys->keys[i];
      VP_GPU_ASSERT(k.key != nullptr && keys->find(k.kid) == &k);
      (void)gpu::nras::key_chain_pinned(k, appraisal_time);
    }
  }
  for (const gpu::nras::jwks* set : {&c.keys, keys ? &*keys : nullptr}) {
    if (set == nullptr) continue;
    const auto v = gpu::nras::verify_response(answer, *set, c.nonce, c.local, appraisal_time);
    if (v) {
      // J6, J10: one verified token per local GPU, in order.
      VP_GPU_ASSERT(v->gpus.size() == c.local.size());
      for (std::size_t i = 0; i < v->gpus.size(); ++i) {
        VP_GPU_ASSERT(v->gpus[i].index == i && v->gpus[i].ueid == c.local[i].ueid_decimal);
        VP_GPU_ASSERT(v->gpus[i].expires >= v->expires);
      }
      VP_GPU_ASSERT(set->find(v->kid) != nullptr && v->expires >= appraisal_time);
    } else {
      VP_GPU_ASSERT(!v.error().check.empty());
      if (v.error().gpu) VP_GPU_ASSERT(*v.error().gpu < gpu::nras::max_gpus);
    }
  }
}

std::vector<std::string> gpu_payload_seeds() {
  const synthetic_context& c = context();
  std::vector<std::string> out = {c.payload1, c.payload_sdk, c.payload8};
  // One failing GPU each: a bad signature, a foreign root, another FWID.
  test::payload_spec bad{.nonce = c.nonce, .gpus = std::vector<test::gpu_spec>(2)};
  bad.gpus[1].corrupt_signature = true;
  out.push_back(c.pki.payload(bad));
  bad.gpus[1] = {};
  bad.gpus[0].foreign_root = true;
  out.push_back(c.pki.payload(bad));
  bad.gpus[0] = {};
  bad.gpus[1].fwid_mismatch = true;
  out.push_back(c.pki.payload(bad));
  out.push_back(R"({"arch":"HOPPER","nonce":")" + std::string(64, 'a') + R"(","evidence_list":[]})");
  for (std::string& p : real_payloads()) out.push_back(std::move(p));
  return out;
}

std::vector<std::string> nras_seeds() {
  const synthetic_context& c = context();
  std::vector<std::string> out = {c.answer, c.jwks_text, c.jwks_text + '\0' + c.answer};
  test::nras_spec spec;
  spec.swap_gpu_tokens = true;
  out.push_back(c.nras.answer(c.payload8, appraisal_time, spec));
  spec = {};
  spec.overall_result = false;
  out.push_back(c.nras.answer(c.payload8, appraisal_time, spec));
  return out;
}

}  // namespace vp::fuzz
