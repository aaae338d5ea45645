#include "sim/sim_cli.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/program_options.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <fstream>
#include <iterator>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "app/flag_values.hpp"
#include "app/program.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "net/spawn.hpp"

namespace vp::sim {
namespace {

namespace po = boost::program_options;

template <class T>
T parse_number(std::string_view text, std::string_view what) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    throw std::invalid_argument(std::string(what) + ": '" + std::string(text) + "' is not a non-negative integer");
  }
  return value;
}

bool parse_bool(std::string_view name, const std::optional<std::string_view>& value) {
  if (!value || *value == "true" || *value == "1") return true;
  if (*value == "false" || *value == "0") return false;
  throw std::invalid_argument("--fault " + std::string(name) + ": expected true or false, got '" +
                              std::string(*value) + "'");
}

std::vector<std::string> split_models(std::string_view text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t comma = std::min(text.find(',', at), text.size());
    if (comma > at) out.emplace_back(text.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  if (!file) throw std::runtime_error("cannot write " + path.string());
}

std::string measurements_json(const simulator::measurements& m) {
  boost::json::object o;
  o["mrseam"] = m.mrseam;
  o["mrtd"] = m.mrtd;
  o["rtmr0"] = m.rtmr0;
  o["rtmr1"] = m.rtmr1;
  o["rtmr2"] = m.rtmr2;
  o["rtmr3_instance0"] = m.rtmr3;
  o["mr_config_id"] = m.mr_config_id;
  o["compose_hash"] = m.compose_hash;
  o["app_id"] = m.app_id;
  o["key_provider_id"] = m.key_provider;
  o["os_image_hash"] = m.os_image_hash;
  return boost::json::serialize(o) + "\n";
}

/// verified-proxy next to this program (both are built into build/src/), else the bare
/// name for $PATH.
std::string proxy_program(std::string_view program_path) {
  if (program_path.find('/') == std::string_view::npos) return "verified-proxy";
  const auto sibling = std::filesystem::path(program_path).parent_path() / "verified-proxy";
  std::error_code ec;
  // Absolute, like every path in config.toml: the command works from any directory.
  return std::filesystem::exists(sibling, ec) ? std::filesystem::absolute(sibling).string()
                                              : std::string("verified-proxy");
}

}  // namespace

void apply_fault(backend_faults& f, std::string_view spec) {
  const auto eq = spec.find('=');
  const std::string name(spec.substr(0, eq));
  const std::optional<std::string_view> value =
      eq == std::string_view::npos ? std::nullopt : std::optional<std::string_view>(spec.substr(eq + 1));
  // Fault delays keep their bare numbers in milliseconds (slow=100); a unit says otherwise (slow=2s).
  const auto millis = [&](std::string_view what) {
    if (!value) throw std::invalid_argument("--fault " + std::string(what) + " needs a value in milliseconds");
    const auto d = app::parse_duration(*value, std::chrono::milliseconds(1));
    if (!d) {
      throw std::invalid_argument("--fault " + std::string(what) + ": '" + std::string(*value) +
                                  "' is not milliseconds or a duration (e.g. 250, 250ms, 2s)");
    }
    return *d;
  };
  if (name == "wrong_fingerprint") f.wrong_fingerprint = parse_bool(name, value);
  else if (name == "wrong_nonce") f.wrong_nonce = parse_bool(name, value);
  else if (name == "untrusted_root") f.untrusted_root = parse_bool(name, value);
  else if (name == "revoked_pck") f.revoked_pck = parse_bool(name, value);
  else if (name == "out_of_date_tcb") f.out_of_date_tcb = parse_bool(name, value);
  else if (name == "debug_td") f.debug_td = parse_bool(name, value);
  else if (name == "tampered_workload") {
    using t = workload_tampering;
    bool known = false;
    for (const auto how : {t::none, t::altered_event, t::changed_compose, t::foreign_app_id, t::foreign_os_image,
                           t::foreign_kms, t::foreign_mrtd}) {
      if (value && *value == to_string(how)) {
        f.tampered_workload = how;
        known = true;
      }
    }
    if (!known) {
      throw std::invalid_argument(
          "--fault tampered_workload needs one of altered_event, changed_compose, foreign_app_id, "
          "foreign_os_image, foreign_kms, foreign_mrtd");
    }
  } else if (name == "hang") f.hang = parse_bool(name, value);
  else if (name == "disconnect_mid_stream") f.disconnect_mid_stream = parse_bool(name, value);
  else if (name == "oversized_attestation") f.oversized_attestation = parse_bool(name, value);
  else if (name == "close_delimited") f.close_delimited = parse_bool(name, value);
  else if (name == "huge_trailer_on_attestation") f.huge_trailer_on_attestation = parse_bool(name, value);
  else if (name == "huge_trailer_on_answers") f.huge_trailer_on_answers = parse_bool(name, value);
  else if (name == "extra_bytes_after_response") f.extra_bytes_after_response = parse_bool(name, value);
  else if (name == "second_response_appended") f.second_response_appended = parse_bool(name, value);
  else if (name == "unsolicited_after_attestation") f.unsolicited_after_attestation = parse_bool(name, value);
  else if (name == "head_with_body") f.head_with_body = parse_bool(name, value);
  else if (name == "gpu_wrong_nonce") f.gpu_wrong_nonce = parse_bool(name, value);
  else if (name == "gpu_bad_signature") f.gpu_bad_signature = parse_bool(name, value);
  else if (name == "gpu_foreign_root") f.gpu_foreign_root = parse_bool(name, value);
  else if (name == "gpu_missing_payload") f.gpu_missing_payload = parse_bool(name, value);
  else if (name == "gpu_fewer") f.gpu_fewer = parse_bool(name, value);
  else if (name == "gpu_payload_nonce") f.gpu_payload_nonce = parse_bool(name, value);
  else if (name == "signature_foreign_key") f.signature_foreign_key = parse_bool(name, value);
  else if (name == "signature_other_bytes") f.signature_other_bytes = parse_bool(name, value);
  else if (name == "signature_missing") f.signature_missing = parse_bool(name, value);
  else if (name == "e2ee_plaintext_response") f.e2ee_plaintext_response = parse_bool(name, value);
  else if (name == "e2ee_undecryptable_response") f.e2ee_undecryptable_response = parse_bool(name, value);
  else if (name == "unbound_signing_key") f.unbound_signing_key = parse_bool(name, value);
  else if (name == "unsolicited_while_idle") f.unsolicited_while_idle = millis("unsolicited_while_idle");
  else if (name == "rotate_every") {
    if (!value) throw std::invalid_argument("--fault rotate_every needs a request count (rotate_every=N)");
    f.rotate_every = parse_number<unsigned>(*value, "--fault rotate_every");
  } else if (name == "slow") f.answer_delay = millis("slow");
  else if (name == "attestation_delay") f.attestation_delay = millis("attestation_delay");
  else if (name.starts_with("nras_")) {
    throw std::invalid_argument("--fault " + name + ": NRAS faults are per deployment (one NRAS), not per instance");
  } else throw std::invalid_argument("--fault: unknown fault '" + name + "' (see --help)");
}

bool apply_nras_fault(nras_faults& f, std::string_view spec) {
  const auto eq = spec.find('=');
  const std::string name(spec.substr(0, eq));
  const std::optional<std::string_view> value =
      eq == std::string_view::npos ? std::nullopt : std::optional<std::string_view>(spec.substr(eq + 1));
  if (name == "nras_down") f.down = parse_bool(name, value);
  else if (name == "nras_verdict_false") f.verdict_false = parse_bool(name, value);
  else if (name == "nras_wrong_nonce") f.wrong_nonce = parse_bool(name, value);
  else if (name == "nras_expired") f.expired = parse_bool(name, value);
  else return false;
  return true;
}

std::string describe_faults(const backend_faults& f) {
  std::string out;
  const auto add = [&](bool on, std::string text) {
    if (on) out += (out.empty() ? "" : ", ") + text;
  };
  add(f.wrong_fingerprint, "wrong_fingerprint");
  add(f.wrong_nonce, "wrong_nonce");
  add(f.untrusted_root, "untrusted_root");
  add(f.revoked_pck, "revoked_pck");
  add(f.out_of_date_tcb, "out_of_date_tcb");
  add(f.debug_td, "debug_td");
  add(f.tampered_workload != workload_tampering::none,
      "tampered_workload=" + std::string(to_string(f.tampered_workload)));
  add(f.hang, "hang");
  add(f.disconnect_mid_stream, "disconnect_mid_stream");
  add(f.oversized_attestation, "oversized_attestation");
  add(f.close_delimited, "close_delimited");
  add(f.huge_trailer_on_attestation, "huge_trailer_on_attestation");
  add(f.huge_trailer_on_answers, "huge_trailer_on_answers");
  add(f.extra_bytes_after_response, "extra_bytes_after_response");
  add(f.second_response_appended, "second_response_appended");
  add(f.unsolicited_after_attestation, "unsolicited_after_attestation");
  add(f.head_with_body, "head_with_body");
  add(f.gpu_wrong_nonce, "gpu_wrong_nonce");
  add(f.gpu_bad_signature, "gpu_bad_signature");
  add(f.gpu_foreign_root, "gpu_foreign_root");
  add(f.gpu_missing_payload, "gpu_missing_payload");
  add(f.gpu_fewer, "gpu_fewer");
  add(f.gpu_payload_nonce, "gpu_payload_nonce");
  add(f.signature_foreign_key, "signature_foreign_key");
  add(f.signature_other_bytes, "signature_other_bytes");
  add(f.signature_missing, "signature_missing");
  add(f.e2ee_plaintext_response, "e2ee_plaintext_response");
  add(f.e2ee_undecryptable_response, "e2ee_undecryptable_response");
  add(f.unbound_signing_key, "unbound_signing_key");
  add(f.unsolicited_while_idle.count() != 0,
      "unsolicited_while_idle=" + std::to_string(f.unsolicited_while_idle.count()) + "ms");
  add(f.rotate_every != 0, "rotate_every=" + std::to_string(f.rotate_every));
  add(f.answer_delay.count() != 0, "slow=" + std::to_string(f.answer_delay.count()) + "ms");
  add(f.attestation_delay.count() != 0, "attestation_delay=" + std::to_string(f.attestation_delay.count()) + "ms");
  return out.empty() ? "none" : out;
}

void apply_gateway_fault(gateway_faults& f, std::string_view spec) {
  const auto eq = spec.find('=');
  const std::string name(spec.substr(0, eq));
  const std::optional<std::string_view> value =
      eq == std::string_view::npos ? std::nullopt : std::optional<std::string_view>(spec.substr(eq + 1));
  if (name == "unbound_tls_key") f.unbound_tls_key = parse_bool(name, value);
  else if (name == "model_other_nonce") f.model_other_nonce = parse_bool(name, value);
  else if (name == "model_fails_policy") f.model_fails_policy = parse_bool(name, value);
  else if (name == "strip_e2ee_headers") f.strip_e2ee_headers = parse_bool(name, value);
  else if (name == "impersonate_model") f.impersonate_model = parse_bool(name, value);
  else if (name == "no_pub_key_provider") {
    if (!value) throw std::invalid_argument("--gateway-fault no_pub_key_provider needs a request count (=N)");
    f.no_pub_key_provider = parse_number<unsigned>(*value, "--gateway-fault no_pub_key_provider");
  } else {
    throw std::invalid_argument("--gateway-fault: unknown gateway fault '" + name + "' (see --help)");
  }
}

std::string describe_gateway_faults(const gateway_faults& f) {
  std::string out;
  const auto add = [&](bool on, std::string text) {
    if (on) out += (out.empty() ? "" : ", ") + text;
  };
  add(f.unbound_tls_key, "unbound_tls_key");
  add(f.model_other_nonce, "model_other_nonce");
  add(f.model_fails_policy, "model_fails_policy");
  add(f.strip_e2ee_headers, "strip_e2ee_headers");
  add(f.impersonate_model, "impersonate_model");
  add(f.no_pub_key_provider != 0, "no_pub_key_provider=" + std::to_string(f.no_pub_key_provider));
  return out.empty() ? "none" : out;
}

std::string describe_nras_faults(const nras_faults& f) {
  std::string out;
  const auto add = [&](bool on, std::string_view text) {
    if (on) out += (out.empty() ? "" : ", ") + std::string(text);
  };
  add(f.down, "nras_down");
  add(f.verdict_false, "nras_verdict_false");
  add(f.wrong_nonce, "nras_wrong_nonce");
  add(f.expired, "nras_expired");
  return out.empty() ? "none" : out;
}

std::string shell_quote(std::string_view arg) {
  const bool plain = !arg.empty() && arg.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                           "0123456789_./:=@,+-%") == std::string_view::npos;
  if (plain) return std::string(arg);
  std::string out = "'";
  for (const char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

po::options_description sim_options() {
  auto deployment = app::options_group("Deployment");
  deployment.add_options()
      ("out", po::value<std::string>()->value_name("DIR"),
       "required: write root-ca.pem, upstream-ca.pem, nvidia-root-ca.pem, policy.json, config.toml, proxy-args.txt "
       "and measurements.json here")
      ("domain", po::value<std::vector<std::string>>()->value_name("NAME[=M,M]"),
       "a simulated domain (repeatable; default sim.completions.near.ai), optionally with its own models")
      ("instances", po::value<std::string>()->value_name("N"),
       "CVM instances behind each domain, round-robin per connection, 1-64 (default 1)")
      ("models", po::value<std::string>()->value_name("M,M"), "models of domains that name none (default sim-model)")
      ("gpus", po::value<std::string>()->value_name("N"),
       "NVIDIA H100 GPUs per CVM, 0-16 (default 8, like NEAR); each CVM has its own GPUs; 0: reports carry no GPU "
       "evidence")
      ("stream-tokens", po::value<std::string>()->value_name("N"),
       "SSE chunks per streaming answer, 1-100000 (default 16)")
      ("token-delay", po::value<std::string>()->value_name("DURATION"), "delay before each SSE chunk (default 0)")
      ("signature-delay", po::value<std::string>()->value_name("DURATION"),
       "a completion's signature can be fetched this long after its answer ended (default 0; NEAR stores it after "
       "the last byte, so a lookup can 404 at first)")
      ("token-delay-ms", po::value<std::string>()->value_name("MS"), "--token-delay, a bare number in milliseconds")
      ("signature-delay-ms", po::value<std::string>()->value_name("MS"),
       "--signature-delay, a bare number in milliseconds")
      ("export-backend-tls",
       "also write each instance's TLS key and certificate chain to DIR/backend-tls/DOMAIN-N.key.pem and "
       ".chain.pem, so that another TLS server (a benchmark's nginx) can present the key the instance's reports "
       "bind; test keys only, like every key here");

  auto ports = app::options_group("Ports (default: ephemeral; a fixed one is 1-65535)");
  ports.add_options()
      ("pccs-port", po::value<std::string>()->value_name("PORT"), "PCCS")
      ("endpoints-port", po::value<std::string>()->value_name("PORT"), "/endpoints server")
      ("backend-port", po::value<std::string>()->value_name("PORT"), "first backend; domain i listens on PORT+i")
      ("nras-port", po::value<std::string>()->value_name("PORT"), "fake NRAS");

  auto faults = app::options_group("Faults and the gateway");
  faults.add_options()
      ("fault", po::value<std::vector<std::string>>()->value_name("[INDEX:]NAME[=V]"),
       "a fault for every instance, or only for instance INDEX (repeatable; the faults are listed below)")
      ("gateway", "a simulated NEAR gateway (cloud-api, in a CVM of its own) in front of every domain: the gateway "
                  "form of /v1/attestation/report (API key required), the public /v1/models, "
                  "chat/completions/embeddings relayed to the model CVMs (X-Model-Pub-Key pins the replica), "
                  "/v1/signature/{id} with signature_kind")
      ("gateway-domain", po::value<std::string>()->value_name("HOST"),
       "the gateway's host (default cloud-api.near.ai; implies --gateway)")
      ("gateway-port", po::value<std::string>()->value_name("PORT"),
       "gateway port (default: ephemeral; implies --gateway)")
      ("gateway-fault", po::value<std::vector<std::string>>()->value_name("NAME[=V]"),
       "a gateway fault (repeatable; implies --gateway; listed below)");

  auto general = app::options_group("General");
  general.add_options()
      ("help,h", "show this help")
      ("version", "print the version and exit")
      ("log-format", po::value<std::string>()->value_name("FORMAT")->default_value("text"),
       "text or json, as verified-proxy's --log-format");

  auto all = app::options_group();
  all.add(deployment).add(ports).add(faults).add(general);
  return all;
}

namespace {

constexpr const char* sim_preamble =
    "verified-proxy-sim — a complete fake NEAR AI private-inference deployment on 127.0.0.1, for trying and\n"
    "testing verified-proxy offline: a PCCS with signed collateral, an /endpoints server and TLS backends\n"
    "that mint TDX quotes (from a test PKI) binding their TLS key, a signing address and the caller's nonce,\n"
    "with the signed evidence of their NVIDIA GPUs (a synthetic NVIDIA PKI) for the same nonce, and a fake\n"
    "NVIDIA Remote Attestation Service (NRAS). The backends speak NEAR's end-to-end encryption (X-Signing-Algo,\n"
    "X-Client-Pub-Key) and sign every completion with both keys (GET /v1/signature/{chat_id}).\n"
    "Everything is signed by keys generated at start-up: never trust its root CAs outside tests.\n"
    "\n"
    "Usage:\n"
    "  verified-proxy-sim --out DIR [--domain NAME[=MODEL,MODEL]]... [--instances N] [--models M,M]\n"
    "                     [--gpus N] [--stream-tokens N] [--token-delay DURATION] [--signature-delay DURATION]\n"
    "                     [--fault [INDEX:]NAME[=VALUE]]...\n"
    "                     [--pccs-port P] [--endpoints-port P] [--backend-port P] [--nras-port P]\n"
    "                     [--gateway [--gateway-domain HOST] [--gateway-port P] [--gateway-fault NAME[=V]]...]\n"
    "\n"
    "DURATION: 500ms, 10s, 5m, 1h (a bare number is seconds); MS: milliseconds, or a DURATION with its unit.\n";

constexpr const char* sim_fault_list =
    "\n"
    "Faults (--fault [INDEX:]NAME[=VALUE]):\n"
    "    Attestation and workload:\n"
    "      wrong_fingerprint       the report binds and names another TLS key\n"
    "      wrong_nonce             report_data carries another nonce\n"
    "      untrusted_root          the quote comes from a PKI the proxy does not trust\n"
    "      revoked_pck             the quote's PCK certificate is on the PCK CRL\n"
    "      out_of_date_tcb         Intel's TCB status for the platform is OutOfDate\n"
    "      debug_td                the TD runs with the DEBUG attribute\n"
    "      tampered_workload=HOW   the workload evidence lies: altered_event, changed_compose,\n"
    "                              foreign_app_id, foreign_os_image, foreign_kms, foreign_mrtd\n"
    "    Connections and framing:\n"
    "      rotate_every=N          new TLS key + certificate after every N ordinary requests\n"
    "      slow=MS                 wait MS before each ordinary answer\n"
    "      attestation_delay=MS    wait MS before each attestation answer\n"
    "      hang                    never answer ordinary requests\n"
    "      disconnect_mid_stream   drop the connection after half of a streaming answer\n"
    "      oversized_attestation   attestation report over 8MiB\n"
    "      close_delimited         answers end with the connection (no Content-Length, not chunked)\n"
    "      huge_trailer_on_attestation  the attestation answer ends with a 70,000-byte trailer field\n"
    "      huge_trailer_on_answers  ordinary answers end with a 70,000-byte trailer field\n"
    "      extra_bytes_after_response  garbage follows each ordinary answer\n"
    "      second_response_appended  a second, unasked response follows each ordinary answer\n"
    "      unsolicited_after_attestation  an unasked response follows the attestation answer\n"
    "      unsolicited_while_idle=MS  an unasked response MS after each ordinary answer\n"
    "      head_with_body          HEAD answers carry the GET body\n"
    "    GPU evidence (each breaks one check of the CVM's last GPU; the proxy's gpu_evidence factor fails):\n"
    "      gpu_wrong_nonce         its SPDM request carried another nonce (replayed evidence)\n"
    "      gpu_bad_signature       its SPDM signature is corrupted\n"
    "      gpu_foreign_root        its certificate chain ends at another root\n"
    "      gpu_missing_payload     the report has no nvidia_payload at all (fails a policy requiring GPUs)\n"
    "      gpu_fewer               evidence for one GPU fewer than info.vm_config.num_gpus\n"
    "      gpu_payload_nonce       the payload (nonce and SPDM requests) answers another nonce\n"
    "    Response signatures and end-to-end encryption:\n"
    "      signature_foreign_key   completions are signed by another key pair (the document names its address)\n"
    "      signature_other_bytes   the signed response hash is over other bytes (one byte flipped)\n"
    "      signature_missing       GET /v1/signature/{id} always answers 404\n"
    "      e2ee_plaintext_response  one covered answer field (content, text, embedding) is left in plaintext\n"
    "                              (a JSON answer's first choice, a stream's last chunk)\n"
    "      e2ee_undecryptable_response  that field is sealed to another key instead (it does not open)\n"
    "      unbound_signing_key     the report's signing_public_key is another key's (the address stays real)\n"
    "    NRAS, for the whole deployment (one NRAS; an INDEX: prefix is an error):\n"
    "      nras_down               POST /v3/attest/gpu answers 503\n"
    "      nras_verdict_false      the overall result is false (validly signed)\n"
    "      nras_wrong_nonce        the tokens are for another nonce (validly signed)\n"
    "      nras_expired            the tokens expire when issued (validly signed)\n"
    "\n"
    "Gateway faults (--gateway-fault NAME[=V]):\n"
    "      unbound_tls_key         gateway_attestation binds and names another TLS key than the live one\n"
    "      model_other_nonce       the model attestation was made for another nonce\n"
    "      model_fails_policy      the model attestation comes from a CVM measured as another app\n"
    "      strip_e2ee_headers      requests reach the model without their E2EE header fields\n"
    "      impersonate_model       the gateway answers itself, sealed to the client's key and signed\n"
    "                              (\"provider_tee\") by a key no model attestation carries\n"
    "      no_pub_key_provider=N   the next N requests with X-Model-Pub-Key answer 502 NoPubKeyProvider\n"
    "\n"
    "It writes verified-proxy's config file for the deployment (config.toml: root-ca, upstream-ca,\n"
    "nvidia-root-ca, pccs-url, endpoints-url, nras-url, nras-jwks-url, nras-key-pin, connect-to, allow-domain,\n"
    "with a gateway gateway-url, no-cache, policy), prints the command that runs the proxy with it\n"
    "(verified-proxy --config DIR/config.toml) and serves until SIGINT or SIGTERM. proxy-args.txt holds the\n"
    "same settings as flags, one per line.\n";

std::size_t count_flag(const po::variables_map& vm, const char* name, std::size_t min, std::size_t max) {
  return static_cast<std::size_t>(app::number_flag(vm, name, min, max));
}

/// The proxy flags as its config file: one key per flag, an array for the flags the proxy
/// takes more than once, true for a switch.
std::string proxy_config_toml(const std::vector<std::string>& flags, const std::filesystem::path& file) {
  static constexpr std::string_view repeatable[] = {"connect-to", "allow-domain", "nras-key-pin", "pccs-url"};
  toml::table table;
  for (std::size_t i = 0; i < flags.size(); ++i) {
    const std::string key = flags[i].substr(2);
    if (i + 1 == flags.size() || flags[i + 1].starts_with("--")) {
      table.insert_or_assign(key, true);
      continue;
    }
    const std::string& value = flags[++i];
    if (std::find(std::begin(repeatable), std::end(repeatable), key) == std::end(repeatable)) {
      table.insert_or_assign(key, value);
      continue;
    }
    if (!table.contains(key)) table.insert(key, toml::array{});
    table[key].as_array()->push_back(value);
  }
  std::ostringstream out;
  out << "# verified-proxy's configuration for the simulated deployment verified-proxy-sim serves (test keys:\n"
      << "# never trust them elsewhere). Run: verified-proxy --config " << file.string() << "\n\n"
      << table << "\n";
  return out.str();
}

}  // namespace

std::string sim_help() {
  std::ostringstream s;
  s << sim_preamble << sim_options() << sim_fault_list;
  return s.str();
}

sim_config parse_sim_args(const std::vector<std::string>& args) {
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(sim_options()).run(), vm);
  po::notify(vm);

  sim_config c;
  if (vm.count("help") != 0) {
    c.help = true;
    return c;
  }
  if (vm.count("version") != 0) {
    c.version = true;
    return c;
  }
  if (!log::parse_format(vm["log-format"].as<std::string>(), c.log_format)) {
    throw std::invalid_argument("--log-format must be text or json");
  }
  if (vm.count("out") == 0) throw std::invalid_argument("--out DIR is required");
  c.out = vm["out"].as<std::string>();
  c.export_backend_tls = vm.count("export-backend-tls") != 0;

  std::vector<std::string> default_models = {"sim-model"};
  if (vm.count("models") != 0) {
    default_models = split_models(vm["models"].as<std::string>());
    if (default_models.empty()) throw std::invalid_argument("--models: no model named");
  }
  const std::size_t instances = vm.count("instances") != 0 ? count_flag(vm, "instances", 1, 64) : 1;
  backend_faults all;
  std::vector<std::pair<std::size_t, std::string>> indexed;
  if (vm.count("fault") != 0) {
    for (const auto& spec : vm["fault"].as<std::vector<std::string>>()) {
      const auto colon = spec.find(':');
      if (colon == std::string::npos) {
        if (!apply_nras_fault(c.options.nras, spec)) apply_fault(all, spec);
        continue;
      }
      const auto index = parse_number<std::size_t>(std::string_view(spec).substr(0, colon), "--fault INDEX");
      if (index >= instances) {
        throw std::invalid_argument("--fault " + spec + ": there are only " + std::to_string(instances) +
                                    " instance(s), numbered from 0");
      }
      indexed.emplace_back(index, spec.substr(colon + 1));
    }
  }
  for (const auto& [index, spec] : indexed) {
    auto [it, fresh] = c.instance_faults.try_emplace(index, all);
    apply_fault(it->second, spec);
  }

  std::vector<std::string> domains = {"sim.completions.near.ai"};
  if (vm.count("domain") != 0) domains = vm["domain"].as<std::vector<std::string>>();
  c.options.domains.clear();
  for (const auto& spec : domains) {
    domain_options d;
    const auto eq = spec.find('=');
    d.domain = spec.substr(0, eq);
    d.models = eq == std::string::npos ? default_models : split_models(std::string_view(spec).substr(eq + 1));
    if (d.domain.empty() || d.domain.find_first_of(" /:") != std::string::npos) {
      throw std::invalid_argument("--domain '" + spec + "' is not a host name");
    }
    if (d.models.empty()) throw std::invalid_argument("--domain " + spec + ": no model named");
    for (const auto& other : c.options.domains) {
      if (other.domain == d.domain) throw std::invalid_argument("--domain " + d.domain + " given twice");
    }
    d.instances = instances;
    d.faults = all;
    c.options.domains.push_back(std::move(d));
  }
  if (vm.count("stream-tokens") != 0) {
    c.options.stream_tokens = static_cast<unsigned>(count_flag(vm, "stream-tokens", 1, max_stream_tokens));
  }
  for (const auto& [name, ms_name, target] :
       {std::tuple{"token-delay", "token-delay-ms", &c.options.token_delay},
        std::tuple{"signature-delay", "signature-delay-ms", &c.options.signature_delay}}) {
    if (vm.count(name) != 0 && vm.count(ms_name) != 0) {
      throw std::invalid_argument("--" + std::string(name) + " and --" + ms_name + " say the same: give one");
    }
    if (vm.count(name) != 0) *target = app::duration_flag(vm, name);
    if (vm.count(ms_name) != 0) *target = app::duration_flag(vm, ms_name, std::chrono::milliseconds(1));
  }
  if (vm.count("pccs-port") != 0) c.options.pccs_port = app::port_flag(vm, "pccs-port", false);
  if (vm.count("endpoints-port") != 0) c.options.endpoints_port = app::port_flag(vm, "endpoints-port", false);
  if (vm.count("nras-port") != 0) c.options.nras_port = app::port_flag(vm, "nras-port", false);
  if (vm.count("backend-port") != 0) {
    c.options.first_backend_port = app::port_flag(vm, "backend-port", false);
    if (c.options.first_backend_port + c.options.domains.size() - 1 > 65535) {
      throw std::invalid_argument("--backend-port " + std::to_string(c.options.first_backend_port) + ": the " +
                                  std::to_string(c.options.domains.size()) + " domains need the ports up to " +
                                  std::to_string(c.options.first_backend_port + c.options.domains.size() - 1) +
                                  ", beyond 65535");
    }
  }
  if (vm.count("gpus") != 0) c.options.gpus = count_flag(vm, "gpus", 0, max_gpus_per_cvm);
  if (vm.count("gateway") + vm.count("gateway-domain") + vm.count("gateway-port") + vm.count("gateway-fault") != 0) {
    gateway_options g;
    if (vm.count("gateway-domain") != 0) {
      g.domain = vm["gateway-domain"].as<std::string>();
      if (g.domain.empty() || g.domain.find_first_of(" /:") != std::string::npos) {
        throw std::invalid_argument("--gateway-domain '" + g.domain + "' is not a host name");
      }
    }
    for (const auto& d : c.options.domains) {
      if (d.domain == g.domain) throw std::invalid_argument("--gateway-domain " + g.domain + " is a model domain too");
    }
    if (vm.count("gateway-fault") != 0) {
      for (const auto& spec : vm["gateway-fault"].as<std::vector<std::string>>()) apply_gateway_fault(g.faults, spec);
    }
    if (vm.count("gateway-port") != 0) c.options.gateway_port = app::port_flag(vm, "gateway-port", false);
    c.options.gateway = std::move(g);
  }
  return c;
}

void wait_for_termination_signal() {
  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([](const boost::system::error_code&, int) {});
  net::run_contained(io, "simulator event loop");
}

int run_sim(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, std::string_view program_path,
            const std::function<void(simulator&)>& wait) {
  sim_config config;
  try {
    config = parse_sim_args(args);
  } catch (const std::exception& e) {
    err << "verified-proxy-sim: " << e.what() << "\n\n" << app::help_hint("verified-proxy-sim") << '\n';
    return 2;
  }
  if (config.help) {
    out << sim_help();
    return 0;
  }
  if (config.version) {
    out << app::version_line("verified-proxy-sim") << '\n';
    return 0;
  }
  log::set_format(config.log_format);

  try {
    simulator sim(config.options);
    for (const auto& d : config.options.domains) {
      for (const auto& [index, faults] : config.instance_faults) sim.set_faults(d.domain, index, faults);
    }
    std::vector<std::string> flags = sim.write_proxy_files(config.out);
    flags.insert(flags.end(), {"--policy", sim.write_policy_file(config.out).string()});
    std::string args_file;
    for (const auto& f : flags) args_file += f + "\n";
    write_file(config.out / "proxy-args.txt", args_file);
    const auto config_file = std::filesystem::absolute(config.out / "config.toml");
    write_file(config_file, proxy_config_toml(flags, config_file));
    write_file(config.out / "measurements.json", measurements_json(sim.measured()));
    std::vector<std::filesystem::path> exported;
    if (config.export_backend_tls) {
      for (const auto& d : config.options.domains) {
        for (std::size_t i = 0; i < d.instances; ++i) {
          exported.push_back(sim.write_backend_tls(config.out, d.domain, i).first);
        }
      }
    }
    if (config.options.gateway) {
      write_file(config.out / "gateway-measurements.json", measurements_json(sim.gateway_measured()));
    }

    out << "verified-proxy-sim: a simulated NEAR AI deployment on 127.0.0.1 (test keys: never trust them elsewhere)\n"
        << "  PCCS        " << sim.pccs_url() << "\n"
        << "  endpoints   " << sim.endpoints_url() << "\n"
        << "  NRAS        " << sim.nras_url() << " (keys " << sim.nras_jwks_url()
        << ", faults: " << describe_nras_faults(config.options.nras) << ")\n"
        << "  GPUs        " << config.options.gpus << " per CVM"
        << (config.options.gpus == 0 ? " (no GPU evidence)" : " (NVIDIA H100, synthetic device PKI)") << "\n";
    for (const auto& d : config.options.domains) {
      std::string models;
      for (const auto& m : d.models) models += (models.empty() ? "" : ",") + m;
      out << "  backend     " << d.domain << " -> 127.0.0.1:" << sim.backend_port(d.domain) << " (" << d.instances
          << (d.instances == 1 ? " instance" : " instances") << ", models " << models << ")\n";
      for (std::size_t i = 0; i < d.instances; ++i) {
        const auto it = config.instance_faults.find(i);
        const backend_faults& f = it != config.instance_faults.end() ? it->second : d.faults;
        out << "    instance " << i << "  SPKI sha256 " << sim.spki_sha256_hex(d.domain, i).substr(0, 16)
            << "…  faults: " << describe_faults(f) << "\n";
      }
    }
    if (config.options.gateway) {
      out << "  gateway     " << sim.gateway_domain() << " -> 127.0.0.1:" << sim.gateway_port() << " (its own CVM, "
          << "signing ed25519 " << sim.gateway_signing_address("ed25519").substr(0, 16) << "…)\n"
          << "    SPKI sha256 " << sim.gateway_spki_sha256_hex().substr(0, 16)
          << "…  faults: " << describe_gateway_faults(config.options.gateway->faults) << "\n";
    }
    const auto dir = std::filesystem::absolute(config.out);
    out << "  wrote       " << (dir / "root-ca.pem").string() << " (quote trust anchor, --root-ca)\n"
        << "              " << (dir / "upstream-ca.pem").string() << " (backend TLS CA, --upstream-ca)\n"
        << "              " << (dir / "nvidia-root-ca.pem").string() << " (GPU evidence root, --nvidia-root-ca)\n"
        << "              " << (dir / "policy.json").string() << " (workload policy pinning it, --policy)\n"
        << "              " << config_file.string() << " (verified-proxy's config file for it, --config)\n"
        << "              " << (dir / "proxy-args.txt").string() << " (the same settings as flags, one per line)\n"
        << "              " << (dir / "measurements.json").string() << " (what the quotes measure)\n";
    for (const auto& key : exported) {
      out << "              " << key.string() << " (an instance's TLS key, its chain beside it; test key only)\n";
    }
    out
        << (config.options.gateway ? "              " + (dir / "gateway-measurements.json").string() +
                                         " (what the gateway's quotes measure)\n"
                                   : std::string())
        << "\nCheck a backend first, as the proxy would before a request (exit 0 verified, 1 refused):\n  "
        << shell_quote(proxy_program(program_path)) << " verify --config " << shell_quote(config_file.string()) << " "
        << config.options.domains.front().domain << " --model "
        << shell_quote(config.options.domains.front().models.front())
        << "\n\nRun the proxy against it (from any directory; on 127.0.0.1:8080, --port changes that):\n  "
        << shell_quote(proxy_program(program_path)) << " --config " << shell_quote(config_file.string());
    const std::string model = config.options.domains.front().models.front();
    out << "\n\nThen, for example:\n"
        << "  curl -s http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \\\n"
        << "    -d " << shell_quote(R"({"model":")" + model + R"(","messages":[{"role":"user","content":"Hello"}]})")
        << "\n\nServing until Ctrl-C (SIGINT) or SIGTERM.\n"
        << std::flush;
    wait(sim);
    sim.stop();
    out << "verified-proxy-sim: stopped\n" << std::flush;
    return 0;
  } catch (const std::exception& e) {
    err << "verified-proxy-sim: cannot start: " << text::exception_text(e) << "\n";
    return 1;
  }
}

}  // namespace vp::sim
