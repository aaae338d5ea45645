// verified-proxy-sim's command line and its OpenAI-shaped answers.

#include "sim/sim_cli.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "app/program.hpp"
#include "core/file.hpp"
#include "core/hex.hpp"
#include "crypto/x509.hpp"
#include "sim/openai.hpp"
#include "support/help_layout.hpp"

namespace vp::sim {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

TEST(SimCli, DefaultsAreOneDomainOneInstance) {
  const sim_config c = parse_sim_args({"--out", "sim-out/x"});
  EXPECT_EQ(c.out, "sim-out/x");
  ASSERT_EQ(c.options.domains.size(), 1u);
  EXPECT_EQ(c.options.domains[0].domain, "sim.completions.near.ai");
  EXPECT_EQ(c.options.domains[0].models, std::vector<std::string>{"sim-model"});
  EXPECT_EQ(c.options.domains[0].instances, 1u);
  EXPECT_EQ(c.options.stream_tokens, 16u);
  EXPECT_EQ(c.options.gpus, 8u);  // like NEAR's hosts
  EXPECT_TRUE(c.instance_faults.empty());
}

TEST(SimCli, GpusAndGpuAndNrasFaults) {
  const sim_config c = parse_sim_args({"--out", "d", "--gpus", "2", "--instances", "2", "--nras-port", "8120",
                                       "--fault", "gpu_fewer", "--fault", "1:gpu_bad_signature", "--fault",
                                       "nras_verdict_false", "--fault", "nras_expired=true"});
  EXPECT_EQ(c.options.gpus, 2u);
  EXPECT_EQ(c.options.nras_port, 8120);
  EXPECT_TRUE(c.options.domains[0].faults.gpu_fewer);
  EXPECT_FALSE(c.options.domains[0].faults.gpu_bad_signature);
  EXPECT_TRUE(c.instance_faults.at(1).gpu_bad_signature);
  EXPECT_TRUE(c.instance_faults.at(1).gpu_fewer);
  EXPECT_TRUE(c.options.nras.verdict_false);
  EXPECT_TRUE(c.options.nras.expired);
  EXPECT_FALSE(c.options.nras.down);
  EXPECT_EQ(describe_nras_faults(c.options.nras), "nras_verdict_false, nras_expired");
  EXPECT_EQ(describe_faults(c.instance_faults.at(1)), "gpu_bad_signature, gpu_fewer");
  EXPECT_EQ(parse_sim_args({"--out", "d", "--gpus", "0"}).options.gpus, 0u);
  EXPECT_THROW(parse_sim_args({"--out", "d", "--gpus", "17"}), std::logic_error);
  // One NRAS per deployment: not per instance.
  EXPECT_THROW(parse_sim_args({"--out", "d", "--instances", "2", "--fault", "1:nras_down"}), std::invalid_argument);

  backend_faults f;
  for (const char* name : {"gpu_wrong_nonce", "gpu_bad_signature", "gpu_foreign_root", "gpu_missing_payload",
                           "gpu_fewer", "gpu_payload_nonce"}) {
    apply_fault(f, name);
    EXPECT_NE(describe_faults(f).find(name), std::string::npos) << name;
    EXPECT_NE(sim_help().find(name), std::string::npos) << name;
  }
  for (const char* name : {"signature_foreign_key", "signature_other_bytes", "signature_missing",
                           "e2ee_plaintext_response", "e2ee_undecryptable_response", "unbound_signing_key"}) {
    backend_faults one;
    apply_fault(one, name);
    EXPECT_EQ(describe_faults(one), name);
    EXPECT_NE(sim_help().find(name), std::string::npos) << name;
  }
  EXPECT_EQ(parse_sim_args({"--out", "d", "--signature-delay-ms", "250"}).options.signature_delay,
            std::chrono::milliseconds(250));
  EXPECT_EQ(parse_sim_args({"--out", "d"}).options.signature_delay, std::chrono::milliseconds(0));
  nras_faults n;
  for (const char* name : {"nras_down", "nras_verdict_false", "nras_wrong_nonce", "nras_expired"}) {
    EXPECT_TRUE(apply_nras_fault(n, name));
    EXPECT_NE(describe_nras_faults(n).find(name), std::string::npos) << name;
    EXPECT_NE(sim_help().find(name), std::string::npos) << name;
  }
  EXPECT_FALSE(apply_nras_fault(n, "hang"));
  EXPECT_THROW(apply_nras_fault(n, "nras_down=maybe"), std::invalid_argument);
}

TEST(SimCli, ParsesEveryFlag) {
  const sim_config c = parse_sim_args({"--out", "d", "--domain", "a.completions.near.ai", "--domain",
                                       "b.completions.near.ai=m1,m2", "--instances", "3", "--models", "x,y",
                                       "--stream-tokens", "4", "--token-delay-ms", "25", "--fault", "wrong_nonce",
                                       "--fault", "2:rotate_every=5", "--fault", "1:slow=100", "--pccs-port", "8101",
                                       "--endpoints-port", "8102", "--backend-port", "8110"});
  ASSERT_EQ(c.options.domains.size(), 2u);
  EXPECT_EQ(c.options.domains[0].models, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(c.options.domains[1].domain, "b.completions.near.ai");
  EXPECT_EQ(c.options.domains[1].models, (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ(c.options.domains[1].instances, 3u);
  EXPECT_TRUE(c.options.domains[1].faults.wrong_nonce);
  EXPECT_EQ(c.options.stream_tokens, 4u);
  EXPECT_EQ(c.options.token_delay, 25ms);
  EXPECT_EQ(c.options.pccs_port, 8101);
  EXPECT_EQ(c.options.endpoints_port, 8102);
  EXPECT_EQ(c.options.first_backend_port, 8110);
  ASSERT_EQ(c.instance_faults.size(), 2u);
  EXPECT_EQ(c.instance_faults.at(2).rotate_every, 5u);
  EXPECT_TRUE(c.instance_faults.at(2).wrong_nonce);  // indexed faults add to the global ones
  EXPECT_EQ(c.instance_faults.at(1).answer_delay, 100ms);
}

TEST(SimCli, RejectsBadInput) {
  EXPECT_THROW(parse_sim_args({}), std::invalid_argument);  // --out missing
  EXPECT_THROW(parse_sim_args({"--out", "d", "--fault", "melt"}), std::invalid_argument);
  EXPECT_THROW(parse_sim_args({"--out", "d", "--fault", "1:hang"}), std::invalid_argument);  // one instance
  EXPECT_THROW(parse_sim_args({"--out", "d", "--domain", "a", "--domain", "a"}), std::invalid_argument);
  EXPECT_THROW(parse_sim_args({"--out", "d", "--bogus"}), std::logic_error);
}

TEST(SimCli, ZeroNegativeAndOutOfRangeValuesAreRefusedNamingTheFlag) {
  // program_options' own conversion would read "-1" as the largest unsigned number.
  for (const auto& [flag, value] : std::vector<std::pair<std::string, std::string>>{{"--instances", "0"},
                                                                                    {"--instances", "-1"},
                                                                                    {"--instances", "65"},
                                                                                    {"--instances", "2x"},
                                                                                    {"--gpus", "-1"},
                                                                                    {"--gpus", "17"},
                                                                                    {"--stream-tokens", "-3"},
                                                                                    {"--stream-tokens", "0"},
                                                                                    {"--pccs-port", "0"},
                                                                                    {"--pccs-port", "-1"},
                                                                                    {"--pccs-port", "65536"},
                                                                                    {"--endpoints-port", "0"},
                                                                                    {"--backend-port", "0"},
                                                                                    {"--nras-port", "0"},
                                                                                    {"--gateway-port", "0"},
                                                                                    {"--token-delay", "soon"},
                                                                                    {"--token-delay", "-5ms"},
                                                                                    {"--signature-delay-ms", "-1"},
                                                                                    {"--log-format", "xml"}}) {
    std::ostringstream out, err;
    EXPECT_EQ(run_sim({"--out", "d", flag, value}, out, err, "verified-proxy-sim"), 2) << flag << ' ' << value;
    EXPECT_TRUE(err.str().starts_with("verified-proxy-sim: " + flag)) << err.str();
    EXPECT_NE(err.str().find("Run `verified-proxy-sim --help` for its flags."), std::string::npos) << err.str();
  }
  // Two domains from 65535 on run out of ports.
  EXPECT_THROW(parse_sim_args({"--out", "d", "--domain", "a.example", "--domain", "b.example", "--backend-port",
                               "65535"}),
               std::invalid_argument);
  EXPECT_EQ(parse_sim_args({"--out", "d", "--backend-port", "65535"}).options.first_backend_port, 65535);
  EXPECT_THROW(parse_sim_args({"--out", "d", "--token-delay", "1s", "--token-delay-ms", "5"}), std::invalid_argument);
}

TEST(SimCli, DelaysAreDurations) {
  EXPECT_EQ(parse_sim_args({"--out", "d", "--token-delay", "1500ms"}).options.token_delay, 1500ms);
  EXPECT_EQ(parse_sim_args({"--out", "d", "--token-delay", "2"}).options.token_delay, 2s);  // bare: seconds
  EXPECT_EQ(parse_sim_args({"--out", "d", "--token-delay-ms", "25"}).options.token_delay, 25ms);
  EXPECT_EQ(parse_sim_args({"--out", "d", "--signature-delay", "1s"}).options.signature_delay, 1s);
  backend_faults f;
  apply_fault(f, "slow=2s");
  EXPECT_EQ(f.answer_delay, 2s);
  apply_fault(f, "slow=100");  // fault values: bare milliseconds
  EXPECT_EQ(f.answer_delay, 100ms);
  apply_fault(f, "unsolicited_while_idle=1m");
  EXPECT_EQ(f.unsolicited_while_idle, 1min);
  EXPECT_THROW(apply_fault(f, "attestation_delay=-1"), std::invalid_argument);
}

TEST(SimCli, AppliesFaults) {
  backend_faults f;
  apply_fault(f, "debug_td");
  apply_fault(f, "hang=true");
  apply_fault(f, "attestation_delay=7");
  EXPECT_TRUE(f.debug_td);
  EXPECT_TRUE(f.hang);
  EXPECT_EQ(f.attestation_delay, 7ms);
  apply_fault(f, "hang=false");
  EXPECT_FALSE(f.hang);
  EXPECT_THROW(apply_fault(f, "rotate_every"), std::invalid_argument);
  EXPECT_THROW(apply_fault(f, "slow=soon"), std::invalid_argument);
  EXPECT_THROW(apply_fault(f, "debug_td=maybe"), std::invalid_argument);
  EXPECT_EQ(describe_faults({}), "none");
  EXPECT_EQ(describe_faults(f), "debug_td, attestation_delay=7ms");

  backend_faults framing;
  for (const char* spec : {"huge_trailer_on_attestation", "huge_trailer_on_answers", "extra_bytes_after_response",
                           "second_response_appended", "unsolicited_after_attestation", "head_with_body",
                           "unsolicited_while_idle=20"}) {
    apply_fault(framing, spec);
  }
  EXPECT_EQ(describe_faults(framing),
            "huge_trailer_on_attestation, huge_trailer_on_answers, extra_bytes_after_response, "
            "second_response_appended, unsolicited_after_attestation, head_with_body, unsolicited_while_idle=20ms");
  EXPECT_THROW(apply_fault(framing, "unsolicited_while_idle"), std::invalid_argument);
}

TEST(SimCli, QuotesForTheShell) {
  EXPECT_EQ(shell_quote("--pccs-url"), "--pccs-url");
  EXPECT_EQ(shell_quote("http://127.0.0.1:80/endpoints"), "http://127.0.0.1:80/endpoints");
  EXPECT_EQ(shell_quote("sim out/a b"), "'sim out/a b'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote(""), "''");
}

TEST(SimCli, HelpAndUsageErrors) {
  std::ostringstream out, err;
  EXPECT_EQ(run_sim({"--help"}, out, err, "verified-proxy-sim"), 0);
  EXPECT_NE(out.str().find("--fault"), std::string::npos);
  EXPECT_EQ(run_sim({"--out"}, out, err, "verified-proxy-sim"), 2);
  EXPECT_TRUE(err.str().starts_with("verified-proxy-sim:")) << err.str();
  EXPECT_TRUE(err.str().ends_with("\n\nRun `verified-proxy-sim --help` for its flags.\n")) << err.str();
  std::ostringstream version, version_err;
  EXPECT_EQ(run_sim({"--version"}, version, version_err, "verified-proxy-sim"), 0);
  EXPECT_EQ(version.str(), "verified-proxy-sim " + std::string(app::version) + "\n");
}

using test::columns;
using test::normalized;

TEST(SimCli, HelpWrapsLikeTheProxysWithoutSplittingWords) {
  const std::string help = sim_help();
  std::istringstream lines(help);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(columns(line), app::help_width) << line;
  const auto options = sim_options();
  for (const auto& option : options.options()) {
    EXPECT_NE(normalized(help).find(normalized(option->description())), std::string::npos) << option->long_name();
  }
}

TEST(SimCli, StartsWritesFilesAndPrintsTheProxyCommand) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / ("vp-sim-cli-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::ostringstream out, err;
  std::string connect_to;
  const int code = run_sim({"--out", dir.string(), "--instances", "2", "--fault", "1:wrong_nonce"}, out, err,
                           "/nonexistent/bin/verified-proxy-sim", [&](simulator& sim) {
                             connect_to = sim.connect_to("sim.completions.near.ai");
                           });
  ASSERT_EQ(code, 0) << err.str();
  const std::string text = out.str();
  const auto abs_dir = std::filesystem::absolute(dir);
  EXPECT_NE(text.find("verified-proxy --config " + (abs_dir / "config.toml").string() + "\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("verified-proxy verify --config " + (abs_dir / "config.toml").string() +
                      " sim.completions.near.ai --model sim-model\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("GPUs        8 per CVM"), std::string::npos) << text;
  EXPECT_NE(text.find("instance 1  SPKI"), std::string::npos) << text;

  // The config file carries every setting of proxy-args.txt, paths absolute.
  const toml::table config = toml::parse_file((dir / "config.toml").string());
  EXPECT_EQ(config["root-ca"].value<std::string>(), (abs_dir / "root-ca.pem").string());
  EXPECT_EQ(config["upstream-ca"].value<std::string>(), (abs_dir / "upstream-ca.pem").string());
  EXPECT_EQ(config["nvidia-root-ca"].value<std::string>(), (abs_dir / "nvidia-root-ca.pem").string());
  EXPECT_EQ(config["policy"].value<std::string>(), (abs_dir / "policy.json").string());
  EXPECT_TRUE(config["nras-url"].value<std::string>().value_or("").starts_with("http://127.0.0.1:"));
  EXPECT_TRUE(config["nras-jwks-url"].value<std::string>().value_or("").ends_with("/.well-known/jwks.json"));
  EXPECT_TRUE(config["endpoints-url"].value<std::string>().value_or("").starts_with("http://127.0.0.1:"));
  EXPECT_EQ(config["no-cache"].value<bool>(), true);
  for (const char* repeatable : {"connect-to", "allow-domain", "nras-key-pin", "pccs-url"}) {
    ASSERT_TRUE(config[repeatable].is_array()) << repeatable;
    EXPECT_EQ(config[repeatable].as_array()->size(), 1u) << repeatable;
  }
  EXPECT_EQ(config["connect-to"][0].value<std::string>(), connect_to);
  EXPECT_EQ(config["allow-domain"][0].value<std::string>(), "sim.completions.near.ai");
  std::size_t flags = 0;
  std::istringstream args_lines(read_file(dir / "proxy-args.txt").value_or(""));
  for (std::string line; std::getline(args_lines, line);) flags += line.starts_with("--") ? 1u : 0u;
  std::size_t keys = 0;
  for (auto&& [key, value] : config) keys += value.is_array() ? value.as_array()->size() : 1;
  EXPECT_EQ(keys, flags) << "config.toml and proxy-args.txt carry the same settings";
  EXPECT_NE(text.find("faults: wrong_nonce"), std::string::npos) << text;
  EXPECT_NE(text.find("stopped"), std::string::npos);

  EXPECT_NE(read_file(dir / "root-ca.pem").value_or("").find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_NE(read_file(dir / "upstream-ca.pem").value_or("").find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_NE(read_file(dir / "nvidia-root-ca.pem").value_or("").find("BEGIN CERTIFICATE"), std::string::npos);
  const std::string args = read_file(dir / "proxy-args.txt").value_or("");
  EXPECT_NE(args.find("--no-cache\n"), std::string::npos) << args;
  EXPECT_NE(args.find("--nvidia-root-ca\n"), std::string::npos) << args;
  EXPECT_NE(args.find("--nras-key-pin\n"), std::string::npos) << args;
  // The policy pins the GPUs the deployment mints (NRAS optional until the proxy asks it).
  const json::value policy = json::parse(read_file(dir / "policy.json").value_or("{}"));
  const json::object& gpu = policy.at("gpu").as_object();
  EXPECT_EQ(gpu.at("required"), true);
  EXPECT_EQ(gpu.at("nras"), "required");
  EXPECT_EQ(gpu.at("hwmodels"), json::array{"GH100 A01 GSP BROM"});
  EXPECT_EQ(gpu.at("measurements").as_array().at(0).at("driver_version"), "570.172.08");
  EXPECT_EQ(gpu.at("measurements").as_array().at(0).at("vbios_version"), "96.00.CF.00.02");
  EXPECT_EQ(gpu.at("measurements").as_array().at(0).at("measurement_record_sha256").as_string().size(), 64u);
  EXPECT_EQ(gpu.at("accept_unchecked_revocation"), true);
  const json::value m = json::parse(read_file(dir / "measurements.json").value_or("{}"));
  EXPECT_EQ(m.at("mrtd").as_string().size(), 96u);
  EXPECT_EQ(m.at("compose_hash").as_string().size(), 64u);
  std::filesystem::remove_all(dir);
}

TEST(SimCli, ExportsEachInstancesTlsKeyAndChainTheReportsBind) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / ("vp-sim-tls-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  EXPECT_FALSE(parse_sim_args({"--out", "d"}).export_backend_tls);
  std::ostringstream out, err;
  std::vector<std::string> spki(2);
  const int code = run_sim({"--out", dir.string(), "--instances", "2", "--export-backend-tls"}, out, err,
                           "verified-proxy-sim", [&](simulator& sim) {
                             for (std::size_t i = 0; i < spki.size(); ++i) {
                               spki[i] = sim.spki_sha256_hex("sim.completions.near.ai", i);
                             }
                           });
  ASSERT_EQ(code, 0) << err.str();
  for (std::size_t i = 0; i < spki.size(); ++i) {
    const auto stem = dir / "backend-tls" / ("sim.completions.near.ai-" + std::to_string(i));
    const auto key = stem.string() + ".key.pem";
    const auto chain = stem.string() + ".chain.pem";
    EXPECT_NE(out.str().find(std::filesystem::absolute(key).string()), std::string::npos) << out.str();
    EXPECT_EQ(std::filesystem::status(key).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    const auto certs = crypto::parse_pem_certificates(read_file(chain).value_or(""));
    ASSERT_TRUE(certs.has_value());
    EXPECT_EQ(certs->size(), 2u) << "leaf and the CA of upstream-ca.pem";
    EXPECT_EQ(to_hex(crypto::spki_sha256(certs->front().get())), spki[i]);
    // OpenSSL refuses a private key that does not match the chain's leaf.
    boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_server);
    ctx.use_certificate_chain_file(chain);
    EXPECT_NO_THROW(ctx.use_private_key_file(key, boost::asio::ssl::context::pem));
  }
  EXPECT_NE(spki[0], spki[1]);
  std::filesystem::remove_all(dir);
}

TEST(SimCli, PortInUseIsAStartError) {
  std::ostringstream out, err;
  const auto dir = std::filesystem::path(::testing::TempDir()) / "vp-sim-cli-port";
  simulator first;
  const std::string port = std::to_string(first.backend_port("sim.completions.near.ai"));
  EXPECT_EQ(run_sim({"--out", dir.string(), "--backend-port", port}, out, err, "verified-proxy-sim",
                    [](simulator&) {}),
            1);
  EXPECT_NE(err.str().find("cannot start: cannot listen on 127.0.0.1:" + port + ": "), std::string::npos) << err.str();
  EXPECT_EQ(err.str().find("[system:"), std::string::npos) << err.str();
  EXPECT_EQ(err.str().find("/usr/include"), std::string::npos) << err.str();
  std::filesystem::remove_all(dir);
}

// ---------------------------------------------------------------------------------------
// OpenAI-shaped answers

answer_context context() { return {"d.example", 3, {"m0", "m1"}, 4}; }

TEST(SimOpenAi, ChatNamesTheModelAndTheInstance) {
  const openai_answer a = answer_openai("POST", "/v1/chat/completions", R"({"messages":[]})", context());
  EXPECT_EQ(a.status, 200u);
  EXPECT_FALSE(a.streaming());
  const json::value v = json::parse(a.body);
  EXPECT_EQ(v.at("model").as_string(), "m0");  // none named: the first model
  EXPECT_NE(std::string(v.at("choices").at(0).at("message").at("content").as_string()).find("instance 3"),
            std::string::npos);
  EXPECT_EQ(v.at("usage").at("completion_tokens").as_int64(), 4);
}

TEST(SimOpenAi, StreamsTokensThenDone) {
  const openai_answer a = answer_openai("POST", "/v1/completions", R"({"model":"m1","stream":true})", context());
  ASSERT_TRUE(a.streaming());
  EXPECT_EQ(a.content_type, "text/event-stream");
  ASSERT_EQ(a.events.size(), 5u);
  EXPECT_EQ(a.events.back(), "data: [DONE]\n\n");
  for (std::size_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(a.events[i].starts_with("data: {") && a.events[i].ends_with("}\n\n")) << a.events[i];
    const json::value chunk = json::parse(a.events[i].substr(6));
    EXPECT_EQ(chunk.at("model").as_string(), "m1");
    EXPECT_EQ(chunk.at("choices").at(0).at("text").as_string(), sim_token(i));
  }
}

TEST(SimOpenAi, ErrorsAreOpenAiShaped) {
  const struct {
    const char* method;
    const char* target;
    const char* body;
    unsigned status;
  } cases[] = {
      {"GET", "/v1/unknown", "", 404},
      {"GET", "/v1/chat/completions", "", 405},
      {"POST", "/v1/models", "", 405},
      {"POST", "/v1/chat/completions", "not json", 400},
      {"POST", "/v1/embeddings", "[1,2]", 400},
  };
  for (const auto& c : cases) {
    const openai_answer a = answer_openai(c.method, c.target, c.body, context());
    EXPECT_EQ(a.status, c.status) << c.method << ' ' << c.target;
    const json::value v = json::parse(a.body);
    EXPECT_TRUE(v.at("error").at("message").is_string()) << a.body;
    EXPECT_TRUE(v.at("error").at("type").is_string()) << a.body;
  }
}

TEST(SimOpenAi, ModelsAndEmbeddings) {
  const json::value models = json::parse(answer_openai("GET", "/v1/models?x=1", "", context()).body);
  ASSERT_EQ(models.at("data").as_array().size(), 2u);
  EXPECT_EQ(models.at("data").at(1).at("id").as_string(), "m1");
  const json::value e = json::parse(answer_openai("POST", "/v1/embeddings", R"({"input":"one"})", context()).body);
  EXPECT_EQ(e.at("data").as_array().size(), 1u);
}

}  // namespace
}  // namespace vp::sim
