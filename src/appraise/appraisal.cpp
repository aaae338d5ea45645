#include "appraise/appraisal.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <set>

#include "core/hex.hpp"
#include "core/text.hpp"
#include "core/time.hpp"

namespace vp::appraise {

namespace {

using policy::factor_status;

policy::factor make_factor(std::string name, factor_status status, std::string detail) {
  return policy::factor{std::move(name), status, std::move(detail)};
}

bool is_binding(attest::errc kind) {
  return kind == attest::errc::missing_tls_fingerprint || kind == attest::errc::fingerprint_mismatch ||
         kind == attest::errc::report_data_binding || kind == attest::errc::nonce_mismatch;
}

/// The stable name of a rejected attestation's failed check: the quote verifier's spelling
/// when the quote was rejected ("tcb_revoked", "debug_td", …), the binding's otherwise.
std::string check_name(const attest::error& e) {
  return e.quote_error ? std::string(tdx::to_string(*e.quote_error)) : std::string(attest::to_string(e.kind));
}

/// The attestations `m` covers, connection-facing first.
std::vector<const attest::near_attestation*> covered(const attest::near_report_document& document, mode m) {
  std::vector<const attest::near_attestation*> out;
  if (const auto* facing = document.find(connection_facing_pointer(document.form))) out.push_back(facing);
  for (const auto& a : document.attestations) {
    const bool relied_on = m == mode::offline_all || a.role == attest::attestation_role::model;
    if (relied_on && std::find(out.begin(), out.end(), &a) == out.end()) out.push_back(&a);
  }
  return out;
}

struct entity_result {
  attested_entity entity;
  std::optional<failure> first_failure;
  bool nras_key_unknown = false;
};

class entity_appraisal {
 public:
  entity_appraisal(const attest::near_report_document& document, const attest::near_attestation& a,
                   const connection_facts& facts, const evidence_set& evidence, const policy::workload_policy* workload,
                   const tdx::trust_anchor& anchor, unix_time now, mode m)
      : document_(document),
        a_(a),
        facts_(facts),
        evidence_(evidence),
        workload_(workload),
        anchor_(anchor),
        now_(now),
        mode_(m) {
    out_.entity.json_pointer = a.json_pointer;
    out_.entity.role = a.role;
    out_.entity.connection_facing = a.json_pointer == connection_facing_pointer(document.form);
    out_.entity.keys.signing_algo = a.signing_algo;
    out_.entity.keys.signing_address = a.signing_address;
    out_.entity.keys.signing_public_key = a.signing_public_key;
    out_.entity.model_name = a.model_name;
  }

  entity_result run() && {
    if (verify_quote_and_binding() && workload_ != nullptr) {
      apply_policy(*workload_);
      if (a_.role == attest::attestation_role::model) apply_gpu_policy(workload_->gpu());
    }
    return std::move(out_);
  }

 private:
  void add(policy::factor f, std::string code, phase where, std::string message) {
    if (f.status == factor_status::fail && !out_.first_failure) {
      out_.first_failure = failure{std::move(code), where, std::move(message), a_.json_pointer,
                                   where != phase::collateral};
    }
    out_.entity.factors.push_back(std::move(f));
  }
  void fail_quote(std::string code, std::string detail, phase where = phase::quote) {
    add(make_factor("quote", factor_status::fail, code + ": " + detail), code, where, code + ": " + detail);
  }

  bool verify_quote_and_binding() {
    // A model CVM behind the gateway terminates no TLS with the client: its report_data
    // can only be checked against the fingerprint it attests itself (the gateway verified
    // that key on its own connection) and the client's nonce, which the gateway forwards.
    const bool behind_gateway = !out_.entity.connection_facing;
    // Without the key the report arrived over, report_data can still be checked against
    // the key the report names: it proves the nonce was answered, not over which
    // connection.
    const bool untied = !behind_gateway && !facts_.live_spki;
    if (untied && mode_ == mode::connection) {
      // A caller's mistake, not a verdict about the backend: fail closed, remember nothing.
      const std::string why = "the connection's TLS key was not given to the appraisal";
      out_.entity.factors.push_back(make_factor("binding", factor_status::fail, why));
      if (!out_.first_failure) {
        out_.first_failure = failure{"internal_error", phase::internal, why, a_.json_pointer, false};
      }
      return false;
    }
    sha256_digest live = facts_.live_spki.value_or(sha256_digest{});
    if ((behind_gateway || untied) && a_.tls_cert_fingerprint) live = *a_.tls_cert_fingerprint;

    const auto platform = tdx::identify_platform(a_.intel_quote);
    if (!platform) {
      fail_quote(std::string(tdx::to_string(platform.error().kind)), platform.error().message);
      return false;
    }
    const auto* entry = evidence_.find(*platform);
    if (entry == nullptr || !entry->prepared) {
      const std::string why = entry != nullptr && !entry->why.empty() ? entry->why : "no collateral was provided";
      fail_quote("collateral_unavailable",
                 "no collateral for platform " + to_hex_upper(platform->fmspc) + "/" +
                     std::string(tdx::to_string(platform->pck_ca)) + ": " + why,
                 phase::collateral);
      return false;
    }

    auto verdict = attest::verify_attestation(a_, facts_.nonce, live, *entry->prepared, anchor_, now_);
    if (!verdict) {
      const attest::error& e = verdict.error();
      const std::string code = check_name(e);
      if (is_binding(e.kind)) {
        // verify_attestation verifies the quote before it looks at report_data.
        add(make_factor("quote", factor_status::pass, "genuine Intel TDX quote (verified before the binding)"), {},
            phase::quote, {});
        add(make_factor("binding", factor_status::fail, code + ": " + e.message), code, phase::binding,
            code + ": " + e.message);
      } else {
        fail_quote(code, e.message);
      }
      return false;
    }

    const tdx::verified_quote& q = verdict->quote;
    add(make_factor("quote", factor_status::pass,
                    "genuine Intel TDX quote v" + std::to_string(q.quote_version) + ", FMSPC " + to_hex_upper(q.fmspc) +
                        ", collateral valid until " + format_rfc3339_utc(q.collateral_expires_at)),
        {}, phase::quote, {});
    const std::string signer = std::string(attest::to_string(a_.signing_algo)) + " " +
                               attest::format_signing_address(a_.signing_algo, a_.signing_address);
    if (untied) {
      add(make_factor("binding", factor_status::skip,
                      "not tied to a TLS connection: the key the report arrived over is not known, so nothing shows "
                      "it came over the key it names (" +
                          to_hex(live) + "); report_data = SHA-256(" + signer + " ‖ that key) ‖ your nonce holds"),
          {}, phase::binding, {});
      out_.entity.keys.bound = true;
      out_.entity.verdict = std::move(*verdict);
      return true;
    }
    add(make_factor("binding", factor_status::pass,
                    behind_gateway
                        ? "report_data = SHA-256(" + signer + " ‖ its attested TLS fingerprint " + to_hex(live) +
                              ") ‖ your nonce (a model CVM behind the gateway: its TLS key is not visible to this "
                              "client)"
                        : "report_data = SHA-256(" + signer + " ‖ TLS SPKI fingerprint " + to_hex(live) +
                              ") ‖ your nonce, and the TLS key it arrived over is the attested one"),
        {}, phase::binding, {});
    out_.entity.keys.bound = true;
    out_.entity.verdict = std::move(*verdict);
    return true;
  }

  void apply_policy(const policy::workload_policy& workload) {
    const std::string name = workload.name().empty() ? std::string("unnamed") : workload.name();
    const auto policy_message = [&](const policy::factor& f) {
      return where_prefix() + "workload policy '" + name + "': " + f.name + ": " + f.detail;
    };
    if (auto refused = policy::unpinned_role(workload, a_.role)) {
      const std::string message = policy_message(*refused) + " (the backend answered in the " +
                                  std::string(attest::to_string(document_.form)) + " form)";
      std::string code = refused->name;
      add(std::move(*refused), std::move(code), phase::policy, message);
    }
    auto report = policy::evaluate(workload, a_, *out_.entity.verdict, now_,
                                   facts_.routed_model ? std::optional<std::string_view>(*facts_.routed_model)
                                                       : std::nullopt);
    for (auto& f : report.factors) {
      std::string code = f.name;
      std::string message = policy_message(f);
      add(std::move(f), std::move(code), phase::policy, std::move(message));
    }
  }

  /// "<pointer>: " for an attestation inside a gateway report: which of its CVMs failed
  /// is half of the refusal ("" for a direct report's only attestation).
  std::string where_prefix() const { return a_.json_pointer.empty() ? std::string() : a_.json_pointer + ": "; }

  void gpu_factor(std::string name, factor_status status, std::string detail, bool about_backend = true) {
    if (status == factor_status::fail && !out_.first_failure) {
      out_.first_failure = failure{name, phase::gpu, where_prefix() + name + ": " + detail, a_.json_pointer,
                                   about_backend};
    }
    out_.entity.factors.push_back(make_factor(std::move(name), status, std::move(detail)));
  }

  /// Skips the GPU factors after gpu_evidence, saying why.
  void skip_gpu_rest(const std::string& why) {
    for (const char* name : {"gpu_measurements", "gpu_revocation", "gpu_nras"}) {
      gpu_factor(name, factor_status::skip, why);
    }
  }

  /// info.vm_config.num_gpus: info is an object or a JSON string, vm_config a JSON string.
  std::optional<std::size_t> configured_gpus() const {
    const boost::json::value* info = a_.raw ? a_.raw->if_contains("info") : nullptr;
    if (info == nullptr) return std::nullopt;
    boost::json::value parsed;
    if (info->is_string()) {
      boost::system::error_code ec;
      parsed = boost::json::parse(info->as_string(), ec);
      if (ec) return std::nullopt;
      info = &parsed;
    }
    const auto* object = info->if_object();
    const auto* vm_config = object != nullptr ? object->if_contains("vm_config") : nullptr;
    if (vm_config == nullptr || !vm_config->is_string()) return std::nullopt;
    return gpu::configured_gpu_count(vm_config->as_string());
  }

  /// The GPU checks of docs/gpu-signatures-e2ee.md §1.4 on a model CVM whose quote, binding
  /// and workload passed: gpu_evidence (L1-L12, L15), gpu_measurements (L13),
  /// gpu_revocation (L14), gpu_nras (§2.3).
  void apply_gpu_policy(const policy::gpu_policy& rules) {
    const boost::json::value* raw = a_.raw ? a_.raw->if_contains("nvidia_payload") : nullptr;
    std::optional<gpu::nvidia_payload> payload;
    if (raw != nullptr && !raw->is_null()) {
      if (!raw->is_string()) {
        gpu_factor("gpu_evidence", factor_status::fail, "payload: nvidia_payload is not a JSON string");
        return skip_gpu_rest("the GPU evidence failed");
      }
      auto parsed = gpu::parse_payload(raw->as_string());
      if (!parsed) {
        gpu_factor("gpu_evidence", factor_status::fail, parsed.error().describe());
        return skip_gpu_rest("the GPU evidence failed");
      }
      if (!parsed->entries.empty()) payload = std::move(*parsed);
    }
    if (!payload) {
      // A CVM that leaves its GPUs out must not pass a policy that requires them: the
      // prompt lives in GPU memory (no silent downgrade).
      const std::string what = raw == nullptr || raw->is_null() ? "the report carries no nvidia_payload"
                                                                : "nvidia_payload lists no GPU";
      if (rules.required) {
        gpu_factor("gpu_evidence", factor_status::fail, what + ", and the policy requires GPU evidence");
      } else {
        gpu_factor("gpu_evidence", factor_status::skip, what + " (not required by the policy)");
      }
      return skip_gpu_rest("no GPU evidence");
    }

    const auto expected = configured_gpus();
    const gpu::trust_anchor& root = evidence_.gpu_root ? *evidence_.gpu_root : gpu::nvidia_device_identity_ca();
    auto verified = gpu::verify(*payload, facts_.nonce, root, now_, expected);
    if (!verified) {
      gpu_factor("gpu_evidence", factor_status::fail, verified.error().describe());
      return skip_gpu_rest("the GPU evidence failed");
    }
    const auto& gpus = *verified;
    for (const auto& g : gpus) {
      if (!rules.hwmodels.empty() &&
          std::find(rules.hwmodels.begin(), rules.hwmodels.end(), g.hwmodel) == rules.hwmodels.end()) {
        gpu_factor("gpu_evidence", factor_status::fail,
                   "GPU " + std::to_string(g.index) + ": hardware model \"" + g.hwmodel +
                       "\" is not one the policy accepts");
        return skip_gpu_rest("the GPU evidence failed");
      }
    }
    std::set<std::string> models, versions;
    for (const auto& g : gpus) {
      models.insert(g.hwmodel);
      versions.insert("driver " + g.driver_version + ", VBIOS " + g.vbios_version);
    }
    const auto joined = [](const std::set<std::string>& items) {
      std::string out;
      for (const auto& i : items) out += (out.empty() ? "" : "; ") + i;
      return out;
    };
    gpu_factor("gpu_evidence", factor_status::pass,
               std::to_string(gpus.size()) + " " + payload->arch + " GPU" + (gpus.size() == 1 ? "" : "s") + " (" +
                   joined(models) + "; " + joined(versions) +
                   "): each SPDM measurement response is signed by a device key certified by the NVIDIA Device "
                   "Identity CA, over your nonce; FWIDs match their certificates; " +
                   (expected ? "the count is info.vm_config.num_gpus"
                             : "the CVM reports no num_gpus to compare the count with"));

    if (rules.measurements.empty()) {
      gpu_factor("gpu_measurements", factor_status::skip, "not pinned by the policy (measurement record " +
                                                              to_hex(gpus.front().measurement_record_sha256) + ")");
    } else {
      const auto accepted = [&](const gpu::verified_gpu& g) {
        return std::any_of(rules.measurements.begin(), rules.measurements.end(), [&](const auto& m) {
          return m.driver_version == g.driver_version && text::ascii_iequals(m.vbios_version, g.vbios_version) &&
                 m.measurement_record_sha256 == g.measurement_record_sha256;
        });
      };
      const auto odd = std::find_if_not(gpus.begin(), gpus.end(), accepted);
      if (odd != gpus.end()) {
        gpu_factor("gpu_measurements", factor_status::fail,
                   "GPU " + std::to_string(odd->index) + ": driver " + odd->driver_version + ", VBIOS " +
                       odd->vbios_version + ", measurement record " + to_hex(odd->measurement_record_sha256) +
                       " is not a measurement set the policy accepts");
      } else {
        gpu_factor("gpu_measurements", factor_status::pass,
                   "every GPU's signed measurement record (" + to_hex(gpus.front().measurement_record_sha256) +
                       ") is one the policy pins");
      }
    }

    appraise_revocation(rules, gpus);

    appraise_nras(rules, gpus);
    out_.entity.gpus = std::move(*verified);
  }

  /// gpu_revocation (§1.5, L14): certificates 1..3 of every chain against the CRLs given;
  /// what nobody could check is "unchecked", and the policy says whether that is enough.
  void appraise_revocation(const policy::gpu_policy& rules, const std::vector<gpu::verified_gpu>& gpus) {
    const auto unchecked = [&](const std::string& why) {
      if (rules.accept_unchecked_revocation) {
        gpu_factor("gpu_revocation", factor_status::skip, "unchecked: " + why + " (the policy accepts this)");
      } else {
        gpu_factor("gpu_revocation", factor_status::fail,
                   "unchecked: " + why + ", and the policy requires a revocation check");
      }
    };
    if (!evidence_.gpu_crls || evidence_.gpu_crls->empty()) {
      return unchecked("no OCSP responses or CRLs for the GPU certificate chains are available to this verifier");
    }
    std::vector<X509_CRL*> crls;
    for (const auto& c : *evidence_.gpu_crls) crls.push_back(c.get());
    std::optional<std::string> first_unchecked;
    for (const auto& g : gpus) {
      const auto r = gpu::check_revocation(g, crls, now_);
      if (r.status == gpu::revocation_status::revoked) {
        return gpu_factor("gpu_revocation", factor_status::fail, "GPU " + std::to_string(g.index) + ": " + r.detail);
      }
      if (r.status == gpu::revocation_status::unchecked && !first_unchecked) {
        first_unchecked = "GPU " + std::to_string(g.index) + ": " + r.detail;
      }
    }
    if (first_unchecked) return unchecked(*first_unchecked);
    gpu_factor("gpu_revocation", factor_status::pass,
               "no certificate of the " + std::to_string(gpus.size()) +
                   " GPU chains is on its issuer's current CRL, and every one was checked");
  }

  /// gpu_nras (§2.3 J1-J10): NVIDIA's signed verdict on the same evidence, bound to the
  /// client's nonce and to each locally verified GPU (serial, driver, VBIOS).
  void appraise_nras(const policy::gpu_policy& rules, const std::vector<gpu::verified_gpu>& gpus) {
    if (rules.nras == policy::nras_requirement::off) {
      gpu_factor("gpu_nras", factor_status::skip, "NVIDIA's attestation service is not consulted (policy: off)");
      return;
    }
    const auto* entry = evidence_.find_nras(a_.json_pointer);
    std::string missing;
    if (entry == nullptr) {
      missing = "no answer from NVIDIA's attestation service was asked for";
    } else if (!entry->answer) {
      missing = entry->why.empty() ? "no answer from NVIDIA's attestation service" : entry->why;
    } else if (!evidence_.nras_keys) {
      missing = "NVIDIA's attestation service signing keys (JWKS) are not available";
    }
    if (!missing.empty()) {
      // Our source being unavailable is not a verdict about the backend: not remembered.
      if (rules.nras == policy::nras_requirement::required) {
        gpu_factor("gpu_nras", factor_status::fail, missing + ", and the policy requires NVIDIA's verdict", false);
      } else {
        gpu_factor("gpu_nras", factor_status::skip, missing + " (optional under the policy)");
      }
      return;
    }
    std::vector<gpu::nras::local_gpu> local;
    for (const auto& g : gpus) local.push_back({g.ueid, g.driver_version, g.vbios_version});
    gpu::nras::options options;
    options.require_key_pin = true;
    options.key_pins = evidence_.nras_key_pins;
    auto verdict = gpu::nras::verify_response(*entry->answer, *evidence_.nras_keys, facts_.nonce, local, now_, options);
    if (!verdict) {
      const auto& e = verdict.error();
      out_.nras_key_unknown = e.unknown_kid;
      gpu_factor("gpu_nras", factor_status::fail,
                 (e.gpu ? "GPU " + std::to_string(*e.gpu) + ": " : std::string()) + e.check + ": " + e.message,
                 !e.unknown_kid);
      return;
    }
    gpu_factor("gpu_nras", factor_status::pass,
               "NVIDIA's attestation service vouches for all " + std::to_string(verdict->gpus.size()) +
                   " GPUs (RIM measurements, OCSP, evidence signature), signed by " + verdict->kid +
                   " over your nonce, each token bound to its GPU's serial, driver and VBIOS; valid until " +
                   format_rfc3339_utc(verdict->expires));
    out_.entity.nras = std::move(*verdict);
  }

  const attest::near_report_document& document_;
  const attest::near_attestation& a_;
  const connection_facts& facts_;
  const evidence_set& evidence_;
  const policy::workload_policy* workload_;
  const tdx::trust_anchor& anchor_;
  unix_time now_;
  mode mode_;
  entity_result out_;
};

}  // namespace

void evidence_set::add(tdx::platform_id platform, std::shared_ptr<const tdx::prepared_collateral> prepared) {
  collateral.push_back({std::move(platform), std::move(prepared), {}});
}

void evidence_set::add_unavailable(tdx::platform_id platform, std::string why) {
  collateral.push_back({std::move(platform), nullptr, std::move(why)});
}

const evidence_set::nras_entry* evidence_set::find_nras(std::string_view json_pointer) const {
  for (const auto& e : nras) {
    if (e.json_pointer == json_pointer) return &e;
  }
  return nullptr;
}

const evidence_set::collateral_entry* evidence_set::find(const tdx::platform_id& platform) const {
  for (const auto& e : collateral) {
    if (e.platform.fmspc == platform.fmspc && e.platform.pck_ca == platform.pck_ca) return &e;
  }
  return nullptr;
}

bool attested_entity::ok() const {
  return verdict.has_value() && std::none_of(factors.begin(), factors.end(), [](const policy::factor& f) {
           return f.status == factor_status::fail;
         });
}

const attested_entity* appraisal::connection_entity() const {
  for (const auto& e : entities) {
    if (e.connection_facing) return &e;
  }
  return nullptr;
}

const attested_entity* appraisal::model_entity() const {
  for (const auto& e : entities) {
    if (e.role == attest::attestation_role::model) return &e;
  }
  return nullptr;
}

std::string_view connection_facing_pointer(attest::report_form form) noexcept {
  return form == attest::report_form::direct ? std::string_view() : std::string_view("/gateway_attestation");
}

evidence_needs needs(const attest::near_report_document& document, mode m) {
  evidence_needs out;
  for (const auto* a : covered(document, m)) {
    const auto platform = tdx::identify_platform(a->intel_quote);
    if (!platform) continue;  // appraise() reports it
    const bool seen = std::any_of(out.platforms.begin(), out.platforms.end(), [&](const tdx::platform_id& p) {
      return p.fmspc == platform->fmspc && p.pck_ca == platform->pck_ca;
    });
    if (!seen) out.platforms.push_back(*platform);
  }
  for (const auto* a : covered(document, m)) {
    if (a->role != attest::attestation_role::model || !a->raw) continue;
    const auto* payload = a->raw->if_contains("nvidia_payload");
    if (payload == nullptr || !payload->is_string()) continue;
    // Only evidence that lists GPUs is worth NVIDIA's time; appraise() judges the rest.
    const auto parsed = gpu::parse_payload(payload->as_string());
    if (!parsed || parsed->entries.empty()) continue;
    out.nras.push_back({a->json_pointer, std::string(payload->as_string())});
  }
  return out;
}

appraisal appraise(const attest::near_report_document& document, const connection_facts& facts,
                   const evidence_set& evidence, const policy::workload_policy* workload,
                   const tdx::trust_anchor& anchor, unix_time now, mode m) {
  appraisal out;
  out.form = document.form;
  const auto attestations = covered(document, m);
  if (document.find(connection_facing_pointer(document.form)) == nullptr) {
    out.first_failure = failure{std::string(attest::to_string(attest::errc::malformed_report)), phase::report,
                                "the report has no attestation at '" +
                                    std::string(connection_facing_pointer(document.form)) + "'",
                                std::string(connection_facing_pointer(document.form)), true};
    return out;
  }
  bool any_trusted = false;
  for (const auto* a : attestations) {
    auto r = entity_appraisal(document, *a, facts, evidence, workload, anchor, now, m).run();
    if (r.first_failure && !out.first_failure) out.first_failure = std::move(r.first_failure);
    out.nras_key_unknown = out.nras_key_unknown || r.nras_key_unknown;
    if (const auto& v = r.entity.verdict) {
      unix_time until = v->collateral_expires_at;
      if (workload != nullptr) {
        if (const auto ends = policy::tcb_acceptance_ends(*workload, v->quote); ends && *ends < until) until = *ends;
      }
      // NVIDIA's tokens live an hour: the GPUs' verdict is not relied on after them.
      if (r.entity.nras && r.entity.nras->expires < until) until = r.entity.nras->expires;
      if (!any_trusted || until < out.trusted_until) out.trusted_until = until;
      any_trusted = true;
    }
    out.entities.push_back(std::move(r.entity));
  }
  return out;
}

failure report_failure(const attest::error& e) {
  const std::string code(attest::to_string(e.kind));
  return failure{code, phase::report, code + ": " + e.message, {}, true};
}

}  // namespace vp::appraise
