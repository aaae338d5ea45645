#include "app/verify_command.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>

#include "app/cli.hpp"
#include "app/config_file.hpp"
#include "app/factor_report.hpp"
#include "app/program.hpp"
#include "app/serve_command.hpp"
#include "core/hex.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "core/time.hpp"
#include "proxy/error_body.hpp"
#include "proxy/routing.hpp"
#include "server/backend_attestation.hpp"

namespace vp::app {
namespace po = boost::program_options;
namespace json = boost::json;
namespace asio = boost::asio;

namespace {

constexpr const char* usage =
    "Usage: verified-proxy verify DOMAIN [--model M] [--json] [--config FILE] [flags]\n"
    "       verified-proxy verify --gateway --model M [--json] [--config FILE] [flags]\n"
    "\n"
    "Attests a backend now, exactly as the proxy would before forwarding a request to it: a TLS connection\n"
    "(--connect-to, WebPKI), one attestation request on it with a fresh nonce, then its quotes, their binding to\n"
    "that connection, the workload policy and the GPU evidence. Nothing else is sent. It takes the flags and the\n"
    "config file of `verified-proxy serve`; the file's settings for listening, routing and serving are ignored.\n"
    "Prints what is proven and what is not, then every factor, or one JSON object with --json.\n"
    "\n"
    "DOMAIN is a model CVM's host (e.g. glm-5.completions.near.ai); --model checks its model_name. --gateway\n"
    "attests NEAR's gateway (--gateway-url) and the model CVM behind it that serves --model, asking with the API\n"
    "key in $NEARAI_API_KEY (the gateway answers attestation reports only to API keys).\n"
    "\n"
    "Exit status: 0 verified, 1 refused (the proxy would send nothing; its reason is printed), 2 usage error, or\n"
    "the backend cannot be reached (DNS, connect, TLS, timeout) or refuses the API key.\n";

/// The environment variable --gateway takes the API key from (as the README's examples).
constexpr const char* api_key_variable = "NEARAI_API_KEY";

struct verify_flags {
  po::options_description visible = options_group();
  po::options_description command_line = options_group();
  po::positional_options_description positional;
};

verify_flags verify_options() {
  verify_flags flags;
  auto own = options_group("verify options");
  own.add_options()
      ("help,h", "show this help")
      ("version", "print the version and exit")
      ("gateway", "attest NEAR's gateway (--gateway-url) and, behind it, the model CVM serving --model")
      ("model", po::value<std::string>()->value_name("M"),
       "the model: compared with the report's model_name; with --gateway, the model whose CVM is attested")
      ("json", "print one JSON object instead of the summary and the table");
  add_config_option(own);
  auto hidden = options_group();
  hidden.add_options()("domain", po::value<std::string>()->value_name("DOMAIN"), "the backend's host");
  flags.visible.add(own).add(backend_options());
  flags.command_line.add(flags.visible).add(hidden);
  flags.positional.add("domain", 1);
  return flags;
}

/// Restores the log level a command changed (the commands run in-process in tests).
class log_level_scope {
 public:
  explicit log_level_scope(log::level level) {
    for (const auto l : {log::level::debug, log::level::info, log::level::warn, log::level::error}) {
      if (log::enabled(l)) {
        saved_ = l;
        break;
      }
    }
    log::set_min_level(level);
  }
  ~log_level_scope() { log::set_min_level(saved_); }
  log_level_scope(const log_level_scope&) = delete;
  log_level_scope& operator=(const log_level_scope&) = delete;

 private:
  log::level saved_ = log::level::info;
};

/// No verdict could be had: the backend did not answer (or not in time), or it refused the
/// client's credential. Everything else the proxy would refuse is a verdict.
bool is_unreachable(const failure& f) {
  return f.phase == failure_phase::connect || f.phase == failure_phase::tls || f.code == "backend_unreachable" ||
         f.code.ends_with("_timeout") || f.code == "attestation_unauthorized" || f.code == "internal_error";
}

std::string connection_line(const server::attestation_outcome& o, const server::attestation_target& target) {
  std::string line = "Connection: " + target.backend_name();
  if (!o.dialled.empty()) line += " via " + o.dialled;
  if (o.live_spki) line += ", TLS key sha256 " + to_hex(*o.live_spki);
  if (o.attested.appraisal) line += ", nonce " + to_hex(o.attested.nonce);
  return line;
}

/// What the proxy would do, in one line.
std::string verdict_line(const server::attestation_outcome& o, const server::attestation_target& target) {
  if (o.refusal) return "Result: REFUSED: " + proxy::refusal_message(*o.refusal, target.backend_name());
  std::string line = "Result: VERIFIED: the proxy would forward requests to " + target.backend_name() +
                     " over this connection";
  if (o.attested.appraisal) {
    line += ", relying on this verdict until " + format_rfc3339_utc(o.attested.appraisal->trusted_until) +
            " (collateral, TCB grace window, NVIDIA's tokens) or for --attestation-ttl, whichever ends first";
  }
  return line;
}

json::object outcome_json(const server::attestation_outcome& o, const server::attestation_target& target) {
  json::object fields{{"backend", target.backend_name()},
                      {"domain", target.domain},
                      {"dialled", o.dialled},
                      {"tls_spki_sha256", o.live_spki ? json::value(to_hex(*o.live_spki)) : json::value(nullptr)},
                      {"nonce", o.attested.appraisal ? json::value(to_hex(o.attested.nonce)) : json::value(nullptr)}};
  if (target.model) fields["model"] = *target.model;
  if (o.refusal) {
    fields["refusal"] = json::object{{"code", o.refusal->code},
                                     {"phase", to_string(o.refusal->phase)},
                                     {"attestation", o.refusal->json_pointer},
                                     {"message", proxy::refusal_message(*o.refusal, target.backend_name())}};
  } else {
    fields["refusal"] = nullptr;
  }
  return fields;
}

int usage_error(std::ostream& err, const std::string& message) {
  err << "verify: " << message << "\n\n" << help_hint("verified-proxy verify") << '\n';
  return exit_usage;
}

}  // namespace

int verify_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const auto flags = verify_options();
  loaded_options loaded;
  try {
    loaded = load_options(flags.command_line, flags.positional, serve_options(), args);
  } catch (const po::error& e) {
    return usage_error(err, e.what());
  }
  const auto& vm = loaded.values;
  if (vm.count("help") != 0) {
    out << usage << '\n' << flags.visible;
    return exit_ok;
  }
  if (vm.count("version") != 0) {
    out << version_line("verified-proxy") << '\n';
    return exit_ok;
  }
  serve_settings settings;
  try {
    settings = read_backend_settings(vm);
  } catch (const po::error& e) {
    return usage_error(err, e.what());
  }

  server::attestation_target target;
  target.gateway = vm.count("gateway") != 0;
  if (vm.count("model") != 0) target.model = vm["model"].as<std::string>();
  if (target.gateway == (vm.count("domain") != 0)) {
    return usage_error(err, target.gateway ? "--gateway attests the gateway of --gateway-url: name no DOMAIN with it"
                                           : "name the backend: DOMAIN (a model CVM's host) or --gateway --model M");
  }
  if (target.gateway) {
    if (!target.model) return usage_error(err, "--gateway needs --model M: the gateway attests the CVM serving it");
    const char* key = std::getenv(api_key_variable);
    if (key == nullptr || *key == '\0') {
      return usage_error(err, std::string("--gateway needs your NEAR AI API key in $") + api_key_variable +
                                  ": the gateway answers attestation reports only to API keys");
    }
    target.domain = settings.proxy.gateway_host;
    target.authorization = std::string("Bearer ") + key;
  } else {
    const std::string named = vm["domain"].as<std::string>();
    const auto host = proxy::normalize_host(named);
    if (!host) return usage_error(err, "'" + text::printable_excerpt(named) + "' is not a host name");
    if (!proxy::domain_allowlist(settings.proxy.allow_domains).allows(*host)) {
      std::string patterns;
      for (const auto& p : settings.proxy.allow_domains) patterns += (patterns.empty() ? "" : ", ") + p;
      return usage_error(err, *host + " is not allowed by --allow-domain (" + patterns +
                                  "): the proxy never sends a request there" +
                                  (*host == settings.proxy.gateway_host ? "; the gateway is attested with --gateway"
                                                                        : ""));
    }
    target.domain = *host;
  }

  // The gate's own lines (attested …, attestation of … failed) would repeat the report.
  const log_level_scope quiet(log::level::error);
  asio::io_context ioc(1);
  const auto clock = std::make_shared<system_clock>();
  std::optional<backend_dependencies> dependencies;
  try {
    dependencies = load_backend_dependencies(ioc.get_executor(), settings, clock);
  } catch (const std::exception& e) {
    err << "verify: " << text::exception_text(e) << '\n';
    return exit_usage;
  }

  std::optional<server::attestation_outcome> outcome;
  std::string crashed;
  asio::co_spawn(ioc, server::attest_backend(ioc.get_executor(), settings.proxy, dependencies->dependencies, target),
                 [&](std::exception_ptr e, server::attestation_outcome o) {
                   if (e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& x) {
                       crashed = text::exception_text(x);
                     } catch (...) {
                       crashed = "unknown exception";
                     }
                   } else {
                     outcome = std::move(o);
                   }
                   // The collateral cache's refresh timers would keep the loop running.
                   ioc.stop();
                 });
  ioc.run();
  if (!outcome) {
    err << "verify: " << (crashed.empty() ? std::string("the attestation did not finish") : crashed) << '\n';
    return exit_usage;
  }

  const auto& o = *outcome;
  const bool as_json = vm.count("json") != 0;
  const unix_time now = clock->now();
  if (o.attested.appraisal && o.attested.document) {
    const report_view view{.document = *o.attested.document,
                           .appraisal = *o.attested.appraisal,
                           .policy = *dependencies->dependencies.policy,
                           .policy_name = policy_label(*dependencies->dependencies.policy, settings.policy_file),
                           .at = now,
                           .tls = tls_origin::live,
                           .connection = connection_line(o, target)};
    if (as_json) {
      auto result = report_json(view);
      result["ok"] = !o.refusal.has_value();
      for (auto& field : outcome_json(o, target)) result[field.key()] = field.value();
      out << json::serialize(result) << '\n';
    } else {
      print_report_table(out, view);
      out << shorten_hex(verdict_line(o, target)) << '\n';
    }
  } else if (as_json) {
    json::object result{{"ok", !o.refusal.has_value()}, {"factors", json::array()}};
    for (auto& field : outcome_json(o, target)) result[field.key()] = field.value();
    out << json::serialize(result) << '\n';
  } else {
    out << shorten_hex(connection_line(o, target)) << "\n\n"
        << shorten_hex(verdict_line(o, target)) << '\n';
  }
  if (!o.refusal) return exit_ok;
  return is_unreachable(*o.refusal) ? exit_usage : exit_rejected;
}

}  // namespace vp::app
