// The config file: TOML keys named like the flags, beneath the command line.

#include "app/config_file.hpp"

#include <boost/program_options.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "app/cli.hpp"
#include "app/serve_command.hpp"

namespace vp::app {
namespace {

namespace po = boost::program_options;
using namespace std::chrono_literals;

// The suite never reads the config file of whoever runs it: every test, and every child
// process a test starts, sees an XDG_CONFIG_HOME that holds none.
[[maybe_unused]] const bool hermetic_config_home = [] {
  ::setenv("XDG_CONFIG_HOME", "/nonexistent/vp-unit-tests", 1);
  return true;
}();

class config_dir {
 public:
  config_dir()
      : path_(std::filesystem::temp_directory_path() /
              ("vp-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++))) {
    std::filesystem::create_directories(path_);
  }
  ~config_dir() { std::filesystem::remove_all(path_); }
  config_dir(const config_dir&) = delete;
  config_dir& operator=(const config_dir&) = delete;

  std::string write(const std::string& name, const std::string& text) const {
    const auto file = path_ / name;
    std::ofstream(file) << text;
    return file.string();
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

std::optional<serve_settings> parse(const std::vector<std::string>& args, std::string* err_text = nullptr) {
  std::ostringstream out, err;
  int code = -1;
  auto s = parse_serve_settings(args, out, err, code);
  if (err_text) *err_text = err.str();
  if (!s) {
    EXPECT_EQ(code, exit_usage) << err.str();
  }
  return s;
}

/// The error a config file with `text` is refused with ("" when it is accepted).
std::string refusal(const std::string& text) {
  config_dir dir;
  const auto file = dir.write("config.toml", text);
  std::string err;
  if (parse({"--config", file}, &err)) return "";
  // The file's own name leads the message; tests compare what follows it.
  const auto at = err.find(file);
  EXPECT_NE(at, std::string::npos) << err;
  return at == std::string::npos ? err : err.substr(at + file.size(), err.find('\n') - at - file.size());
}

TEST(ConfigFile, EveryKindOfFlagHasItsNaturalType) {
  config_dir dir;
  const auto file = dir.write("config.toml", R"(# a comment
host = "0.0.0.0"
port = 9000
max-connections = 16
max-body = "1MiB"
body-memory = 536870912          # a bare number of bytes
allow-domain = ["a.example", "*.b.example"]
connect-to = "a.example:443:127.0.0.1:8443"   # one value of a repeatable flag
attestation-ttl = "10m"
idle-timeout = 90                # a bare number of seconds
no-webpki = true
no-nras = false                  # a switch left off
root-ca = "r.pem"
pccs-url = ["http://127.0.0.1:2"]
pccs-timeout = "1500ms"
min-tcb-eval-num = 17
log-format = "json"
)");
  const auto s = parse({"--config", file});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->config_file, file);
  EXPECT_EQ(s->proxy.listen_host, "0.0.0.0");
  EXPECT_EQ(s->proxy.listen_port, 9000);
  EXPECT_EQ(s->proxy.max_client_connections, 16u);
  EXPECT_EQ(s->proxy.max_body, 1u << 20);
  EXPECT_EQ(s->proxy.max_buffered_bodies, 512u << 20);
  EXPECT_EQ(s->proxy.allow_domains, (std::vector<std::string>{"a.example", "*.b.example"}));
  ASSERT_EQ(s->proxy.connect_to.size(), 1u);
  EXPECT_EQ(s->proxy.connect_to[0].address_port, 8443);
  EXPECT_EQ(s->proxy.attestation_ttl, 600s);
  EXPECT_EQ(s->proxy.timeouts.idle, 90s);
  EXPECT_FALSE(s->proxy.upstream_tls.webpki);
  EXPECT_TRUE(s->proxy.nras.enabled);
  EXPECT_EQ(s->root_ca, "r.pem");
  EXPECT_EQ(s->collateral.pccs_urls, std::vector<std::string>{"http://127.0.0.1:2"});
  EXPECT_EQ(s->collateral.timeout, 1500ms);
  EXPECT_EQ(s->collateral.min_tcb_evaluation_data_number, 17u);
  EXPECT_EQ(s->log_format, log::format::json);
  // Untouched flags keep their defaults.
  EXPECT_EQ(s->proxy.negative_ttl, 30s);
  EXPECT_EQ(s->proxy.endpoints_url, "https://completions.near.ai/endpoints");
}

TEST(ConfigFile, TheCommandLineOverridesTheFile) {
  config_dir dir;
  const auto file = dir.write("config.toml", "port = 9000\nhost = \"0.0.0.0\"\nallow-domain = [\"a.example\", "
                                             "\"b.example\"]\nattestation-ttl = \"10m\"\n");
  const auto s = parse({"--port", "9001", "--config", file, "--allow-domain", "c.example"});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->proxy.listen_port, 9001);
  // A repeatable flag on the command line replaces the file's list rather than adding to it.
  EXPECT_EQ(s->proxy.allow_domains, std::vector<std::string>{"c.example"});
  EXPECT_EQ(s->proxy.listen_host, "0.0.0.0");
  EXPECT_EQ(s->proxy.attestation_ttl, 600s);
}

TEST(ConfigFile, UnknownKeysNameTheLineAndANearMiss) {
  EXPECT_EQ(refusal("host = \"127.0.0.1\"\n\nprot = 8080\n"), ":3: unknown key 'prot' (did you mean 'port'?)");
  EXPECT_EQ(refusal("attestaton-ttl = \"1h\"\n"), ":1: unknown key 'attestaton-ttl' (did you mean 'attestation-ttl'?)");
  EXPECT_EQ(refusal("\n\nfrobnicate = 1\n"), ":3: unknown key 'frobnicate'");
  // Short names, the command's own flags and tables are not keys either.
  EXPECT_EQ(refusal("h = true\n"), ":1: unknown key 'h'");
  EXPECT_EQ(refusal("help = true\n"), ":1: unknown key 'help'");
  EXPECT_EQ(refusal("config = \"other.toml\"\n"), ":1: 'config' cannot be set in a config file");
  EXPECT_EQ(refusal("[listening]\nport = 8080\n"),
            ":1: 'listening' is a table: the keys are the flag names, at the top level");
}

TEST(ConfigFile, WrongTypesNameTheKeyAndTheLine) {
  EXPECT_EQ(refusal("port = \"8080\"\n"), ":1: 'port' must be an integer (PORT)");
  EXPECT_EQ(refusal("\nno-webpki = \"yes\"\n"), ":2: 'no-webpki' is a switch: true or false");
  EXPECT_EQ(refusal("host = 127\n"), ":1: 'host' must be a string (ADDR)");
  EXPECT_EQ(refusal("allow-domain = [\n  \"a.example\",\n  7,\n]\n"),
            ":3: 'allow-domain' must be an array of strings (PATTERN), e.g. [\"a\", \"b\"]");
  EXPECT_EQ(refusal("allow-domain = true\n"),
            ":1: 'allow-domain' must be an array of strings (PATTERN), e.g. [\"a\", \"b\"]");
  EXPECT_NE(refusal("attestation-ttl = 1.5\n").find(":1: 'attestation-ttl' must be a DURATION string"),
            std::string::npos);
  EXPECT_EQ(refusal("attestation-ttl = \"soon\"\n"),
            ":1: 'attestation-ttl': 'soon' is not a duration (e.g. 500ms, 10s, 5m, 1h)");
  EXPECT_EQ(refusal("max-body = \"lots\"\n"), ":1: 'max-body': 'lots' is not a size (e.g. 512KiB, 32MiB, 1GiB)");
  EXPECT_EQ(refusal("max-body = -1\n"), ":1: 'max-body' must not be negative");
  EXPECT_EQ(refusal("max-connections = [1]\n"), ":1: 'max-connections' must be an integer (N)");
  // Values of the right type are judged like the flags.
  std::string err;
  config_dir dir;
  EXPECT_FALSE(parse({"--config", dir.write("c.toml", "port = 70000\n")}, &err));
  EXPECT_NE(err.find("--port '70000' is not a port"), std::string::npos) << err;
}

TEST(ConfigFile, SyntaxErrorsNameTheLineAndTheColumn) {
  const std::regex at_line_and_column("^:2:[0-9]+: .+");
  for (const char* text : {"port = 8080\nhost = \n", "port = 8080\nport = 8081\n", "port = 8080\n\"unterminated\n"}) {
    const auto error = refusal(text);
    EXPECT_TRUE(std::regex_match(error, at_line_and_column)) << text << " → " << error;
  }
}

TEST(ConfigFile, AMissingDefaultFileIsFineAMissingConfigFlagIsNot) {
  config_dir dir;
  const auto options = serve_options();
  const auto loaded = load_options(options, {"--port", "1"}, dir.path() / "absent.toml");
  EXPECT_TRUE(loaded.config_file.empty());
  EXPECT_NE(loaded.no_config_reason.find("absent.toml does not exist"), std::string::npos)
      << loaded.no_config_reason;
  EXPECT_EQ(loaded.values["port"].as<std::string>(), "1");

  std::string err;
  EXPECT_FALSE(parse({"--config", (dir.path() / "absent.toml").string()}, &err));
  EXPECT_NE(err.find("--config " + (dir.path() / "absent.toml").string() + ": no such file"), std::string::npos)
      << err;
  EXPECT_FALSE(parse({"--config", dir.path().string()}, &err));  // a directory
  EXPECT_NE(err.find("cannot read config file"), std::string::npos) << err;
  // --config /dev/null: none of the default file.
  EXPECT_TRUE(parse({"--config", "/dev/null"}));
}

TEST(ConfigFile, TheDefaultFileIsReadWhenItExists) {
  config_dir dir;
  const auto file = dir.write("config.toml", "port = 9100\n");
  const auto loaded = load_options(serve_options(), {}, file);
  EXPECT_EQ(loaded.config_file, file);
  EXPECT_EQ(loaded.values["port"].as<std::string>(), "9100");
  // --help and --version never trip over a broken file.
  const auto broken = dir.write("broken.toml", "port = = 1\n");
  EXPECT_NO_THROW(load_options(serve_options(), {"--help"}, broken));
  EXPECT_THROW(load_options(serve_options(), {}, broken), po::error);
}

TEST(ConfigFile, TheDefaultLocationFollowsXdgThenHome) {
  const std::string saved_xdg = std::getenv("XDG_CONFIG_HOME") ? std::getenv("XDG_CONFIG_HOME") : "";
  const std::string saved_home = std::getenv("HOME") ? std::getenv("HOME") : "";
  ::setenv("XDG_CONFIG_HOME", "/x/config", 1);
  ::setenv("HOME", "/home/u", 1);
  EXPECT_EQ(default_config_path(), "/x/config/verified-proxy/config.toml");
  ::setenv("XDG_CONFIG_HOME", "", 1);
  EXPECT_EQ(default_config_path(), "/home/u/.config/verified-proxy/config.toml");
  ::unsetenv("XDG_CONFIG_HOME");
  EXPECT_EQ(default_config_path(), "/home/u/.config/verified-proxy/config.toml");
  ::unsetenv("HOME");
  EXPECT_EQ(default_config_path(), "");
  ::setenv("XDG_CONFIG_HOME", saved_xdg.c_str(), 1);
  if (!saved_home.empty()) ::setenv("HOME", saved_home.c_str(), 1);
}

/// What print-config prints for `args`, without the line naming the file it read.
std::string printed_config(const std::vector<std::string>& args, std::string* file_line = nullptr) {
  std::vector<std::string> command = {"print-config"};
  command.insert(command.end(), args.begin(), args.end());
  std::ostringstream out, err;
  EXPECT_EQ(run(command, out, err), exit_ok) << err.str();
  std::istringstream lines(out.str());
  std::string kept;
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("# config file: ")) {
      if (file_line) *file_line = line;
      continue;
    }
    kept += line + "\n";
  }
  return kept;
}

TEST(ConfigFile, PrintConfigIsAConfigFileThatReadsBackTheSame) {
  config_dir dir;
  const auto file = dir.write("config.toml", "port = 9000\nallow-domain = [\"a.example\"]\nidle-timeout = 90\n"
                                             "max-body = \"1mb\"\nno-webpki = true\n");
  const std::vector<std::string> args = {"--config", file, "--port", "9001", "--connect-to",
                                         "a.example:443:127.0.0.1:8443", "--connect-to", "b.example:443:127.0.0.1:1",
                                         "--backend", "gateway", "--root-ca", "dir with 'quotes' \"and\" spaces.pem"};
  std::string file_line;
  const auto printed = printed_config(args, &file_line);
  EXPECT_EQ(file_line, "# config file: " + file);
  EXPECT_NE(printed.find("port = 9001\n"), std::string::npos) << printed;
  EXPECT_NE(printed.find("no-webpki = true\n"), std::string::npos) << printed;
  EXPECT_NE(printed.find("no-nras = false\n"), std::string::npos) << printed;
  EXPECT_NE(printed.find("# nras-key-pin: not set\n"), std::string::npos) << printed;
  EXPECT_NE(printed.find("nras-url = 'https://nras.attestation.nvidia.com/v3/attest/gpu'\n"), std::string::npos)
      << printed;
  EXPECT_EQ(printed.find("config ="), std::string::npos) << printed;
  EXPECT_EQ(printed.find("help"), std::string::npos) << printed;

  // Read back, it is the same configuration, and prints the same.
  const auto copy = dir.write("printed.toml", printed);
  EXPECT_EQ(printed_config({"--config", copy}), printed);
  const auto original = parse(args);
  const auto reread = parse({"--config", copy});
  ASSERT_TRUE(original && reread);
  EXPECT_EQ(reread->proxy.listen_port, 9001);
  EXPECT_EQ(reread->proxy.allow_domains, original->proxy.allow_domains);
  ASSERT_EQ(reread->proxy.connect_to.size(), 2u);
  EXPECT_EQ(reread->proxy.connect_to[1].address_port, 1);
  EXPECT_EQ(reread->proxy.timeouts.idle, original->proxy.timeouts.idle);
  EXPECT_EQ(reread->proxy.max_body, 1u << 20);
  EXPECT_EQ(reread->proxy.backend, server::backend_kind::gateway);
  EXPECT_EQ(reread->proxy.e2ee, proxy::e2ee_mode::required);
  EXPECT_FALSE(reread->proxy.upstream_tls.webpki);
  EXPECT_EQ(reread->root_ca, "dir with 'quotes' \"and\" spaces.pem");

  // Without a file it says which one it looked for.
  printed_config({}, &file_line);
  EXPECT_EQ(file_line, "# config file: none (/nonexistent/vp-unit-tests/verified-proxy/config.toml does not exist)");
}

TEST(ConfigFile, PrintConfigRefusesWhatServeRefuses) {
  std::ostringstream out, err;
  EXPECT_EQ(run({"print-config", "--max-connections", "0"}, out, err), exit_usage);
  EXPECT_EQ(out.str(), "");
  EXPECT_NE(err.str().find("--max-connections '0'"), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("Run `verified-proxy print-config --help` for its flags."), std::string::npos)
      << err.str();
}

TEST(ConfigFile, ParsesForAnyCommandsOptions) {
  po::options_description options;
  options.add_options()("name", po::value<std::string>()->value_name("NAME"))(
      "at", po::value<std::int64_t>()->value_name("UNIX_SECONDS"))("tag", po::value<std::vector<std::string>>())(
      "quiet", "");
  add_config_option(options);
  const auto parsed = parse_config_text("name = \"x\"\nat = 1700000000\ntag = [\"a\", \"b\"]\nquiet = true\n",
                                        "other.toml", options);
  po::variables_map vm;
  po::store(parsed, vm);
  EXPECT_EQ(vm["name"].as<std::string>(), "x");
  EXPECT_EQ(vm["at"].as<std::int64_t>(), 1700000000);
  EXPECT_EQ(vm["tag"].as<std::vector<std::string>>(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(vm.count("quiet"), 1u);
  EXPECT_NE(effective_config_toml(options, vm).find("at = 1700000000\n"), std::string::npos)
      << effective_config_toml(options, vm);
}

}  // namespace
}  // namespace vp::app
