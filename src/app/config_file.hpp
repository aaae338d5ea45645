#pragma once
// The config file: TOML whose keys are the long flag names of a command (`port = 8080`,
// `allow-domain = ["*.completions.near.ai"]`, `no-webpki = true`, `attestation-ttl =
// "1h"`), read beneath the command line. Any command built on program_options can use it:
// it is driven by the command's options_description alone.
//
// Each key takes the TOML type natural to its flag: a boolean for a switch (false: not
// given), an array of strings for a repeatable flag (a lone string is one element), an
// integer for a number (N, PORT), a string or an integer for a DURATION (bare: seconds)
// or a SIZE (bare: bytes), a string for the rest. Anything else — an unknown key, a wrong
// type, a table, a bad DURATION or SIZE — is an error naming the file, line and key.

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/parsers.hpp>
#include <boost/program_options/positional_options.hpp>
#include <boost/program_options/variables_map.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace vp::app {

/// Config files are read whole and must not be larger than this.
inline constexpr std::size_t max_config_file_size = 1u << 20;

/// Adds --config FILE to `options`.
void add_config_option(boost::program_options::options_description& options);

/// $XDG_CONFIG_HOME/verified-proxy/config.toml, or $HOME/.config/verified-proxy/config.toml
/// when XDG_CONFIG_HOME is unset or empty; "" when HOME is unset too.
std::filesystem::path default_config_path();

/// The options `text` (TOML, read from `file_name`, which messages name) sets, for
/// boost::program_options::store. Throws boost::program_options::error with a message
/// such as "config.toml:12: unknown key 'prot' (did you mean 'port'?)" or
/// "config.toml:3:9: expected ..." (a TOML syntax error: line and column).
boost::program_options::parsed_options parse_config_text(std::string_view text, const std::string& file_name,
                                                         const boost::program_options::options_description& options);

struct loaded_options {
  boost::program_options::variables_map values;
  std::filesystem::path config_file;  ///< the file that was read ("" when none)
  /// Why no file was read, for print-config ("" when one was).
  std::string no_config_reason;
};

/// `args` (the command line, without the command) over the config file over the
/// defaults, for `options` (which must include add_config_option's --config). The file is
/// --config FILE (an error when it cannot be read), else `default_file` when it exists (a
/// missing default file is no error; "" disables it). A flag given on the command line
/// replaces the file's value, a repeatable one all of the file's values. With --help or
/// --version on the command line no file is read. Throws boost::program_options::error.
loaded_options load_options(const boost::program_options::options_description& options,
                            const std::vector<std::string>& args,
                            const std::filesystem::path& default_file = default_config_path());

/// The same for a command that reads another command's config file: its command line
/// takes `options` and the `positional` arguments, the file the keys of `file_options`
/// (serve's flags, so that one file serves both commands). A key the file sets that
/// `options` does not name is checked like any other and then left unused.
loaded_options load_options(const boost::program_options::options_description& options,
                            const boost::program_options::positional_options_description& positional,
                            const boost::program_options::options_description& file_options,
                            const std::vector<std::string>& args,
                            const std::filesystem::path& default_file = default_config_path());

/// `values` as a config file that load_options reads back to the same values: one
/// `key = value` line per option in `options` order (switches as true / false), and a
/// comment for each option without a value ("# root-ca: not set"). --help, --version and
/// --config are left out.
std::string effective_config_toml(const boost::program_options::options_description& options,
                                  const boost::program_options::variables_map& values);

}  // namespace vp::app
