#include "app/config_file.hpp"

#include <boost/program_options/errors.hpp>
#include <boost/program_options/value_semantic.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <typeinfo>

#include "app/flag_values.hpp"
#include "core/file.hpp"

namespace vp::app {
namespace po = boost::program_options;

namespace {

/// How a flag's value is written in TOML, from its value semantic.
enum class value_kind {
  switch_flag,  ///< no value: a boolean
  text,         ///< a string
  number,       ///< N, PORT or an integer-typed option: an integer
  duration,     ///< a string DURATION or an integer number of seconds
  size,         ///< a string SIZE or an integer number of bytes
  repeatable,   ///< an array of strings
};

/// The value name a flag's help shows ("DURATION" from "DURATION (=10s)").
std::string value_name(const po::option_description& option) {
  const std::string name = option.semantic()->name();
  return name.substr(0, name.find(' '));
}

bool is_integer_type(const std::type_info& type) {
  return type == typeid(std::int64_t) || type == typeid(std::uint64_t) || type == typeid(std::int32_t) ||
         type == typeid(std::uint32_t) || type == typeid(std::uint16_t) || type == typeid(long long) ||
         type == typeid(unsigned long long);
}

value_kind kind_of(const po::option_description& option) {
  const auto& semantic = *option.semantic();
  if (semantic.max_tokens() == 0) return value_kind::switch_flag;
  if (const auto* typed = dynamic_cast<const po::typed_value_base*>(&semantic)) {
    if (typed->value_type() == typeid(std::vector<std::string>)) return value_kind::repeatable;
    if (is_integer_type(typed->value_type())) return value_kind::number;
  }
  const std::string name = value_name(option);
  if (name == "DURATION") return value_kind::duration;
  if (name == "SIZE") return value_kind::size;
  if (name == "N" || name == "PORT") return value_kind::number;
  return value_kind::text;
}

// --help, --version and --config act on the command line itself: no config file sets them.
bool is_command_only_flag(const std::string& key) { return key == "help" || key == "version" || key == "config"; }

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

/// " (did you mean 'port'?)" for the closest flag within two edits, else "".
std::string suggestion(const std::string& key, const po::options_description& options) {
  std::string best;
  std::size_t best_distance = 3;
  for (const auto& option : options.options()) {
    const std::string& name = option->long_name();
    if (name.empty() || is_command_only_flag(name)) continue;
    if (const auto d = edit_distance(key, name); d < best_distance) {
      best = name;
      best_distance = d;
    }
  }
  return best.empty() ? std::string() : " (did you mean '" + best + "'?)";
}

class config_reader {
 public:
  config_reader(const std::string& file_name, const po::options_description& options)
      : file_name_(file_name), options_(options) {}

  po::parsed_options read(std::string_view text) {
    toml::table root;
    try {
      root = toml::parse(text, file_name_);
    } catch (const toml::parse_error& e) {
      throw po::error(file_name_ + ":" + std::to_string(e.source().begin.line) + ":" +
                      std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
    }
    po::parsed_options parsed(&options_);
    for (auto&& [key, node] : root) {
      const std::string name(key.str());
      const po::option_description* option = options_.find_nothrow(name, false);
      if (option == nullptr || option->long_name() != name || is_command_only_flag(name)) {
        if (node.is_table()) {
          fail(key.source(), "'" + name + "' is a table: the keys are the flag names, at the top level");
        }
        if (name == "config") fail(key.source(), "'config' cannot be set in a config file");
        fail(key.source(), "unknown key '" + name + "'" + suggestion(name, options_));
      }
      std::vector<std::string> values;
      if (!read_value(name, *option, node, values)) continue;
      parsed.options.emplace_back(name, std::move(values));
    }
    return parsed;
  }

 private:
  [[noreturn]] void fail(const toml::source_region& where, const std::string& message) const {
    throw po::error(file_name_ + ":" + std::to_string(where.begin.line) + ": " + message);
  }

  // The program_options tokens of `node`; false for a switch set to false.
  bool read_value(const std::string& name, const po::option_description& option, const toml::node& node,
                  std::vector<std::string>& values) const {
    const std::string what = value_name(option);
    switch (kind_of(option)) {
      case value_kind::switch_flag:
        if (!node.is_boolean()) fail(node.source(), "'" + name + "' is a switch: true or false");
        return node.as_boolean()->get();
      case value_kind::text:
        if (!node.is_string()) fail(node.source(), "'" + name + "' must be a string (" + what + ")");
        values.push_back(node.as_string()->get());
        return true;
      case value_kind::number:
        values.push_back(integer(name, node, "'" + name + "' must be an integer (" + what + ")"));
        return true;
      case value_kind::duration: {
        const std::string text = node.is_string() ? node.as_string()->get()
                                                  : integer(name, node,
                                                            "'" + name +
                                                                "' must be a DURATION string (\"500ms\", \"10s\", "
                                                                "\"5m\", \"1h\") or an integer number of seconds");
        if (!parse_duration(text)) {
          fail(node.source(), "'" + name + "': '" + text + "' is not a duration (e.g. 500ms, 10s, 5m, 1h)");
        }
        values.push_back(text);
        return true;
      }
      case value_kind::size: {
        const std::string text =
            node.is_string() ? node.as_string()->get()
                             : integer(name, node,
                                       "'" + name +
                                           "' must be a SIZE string (\"512KiB\", \"32MiB\", \"1GiB\") or an integer "
                                           "number of bytes");
        if (!parse_size(text)) {
          fail(node.source(), "'" + name + "': '" + text + "' is not a size (e.g. 512KiB, 32MiB, 1GiB)");
        }
        values.push_back(text);
        return true;
      }
      case value_kind::repeatable: {
        const std::string expected = "'" + name + "' must be an array of strings (" + what + "), e.g. [\"a\", \"b\"]";
        if (node.is_string()) {
          values.push_back(node.as_string()->get());
          return true;
        }
        if (!node.is_array()) fail(node.source(), expected);
        for (const auto& element : *node.as_array()) {
          if (!element.is_string()) fail(element.source(), expected);
          values.push_back(element.as_string()->get());
        }
        return true;
      }
    }
    return false;
  }

  std::string integer(const std::string& name, const toml::node& node, const std::string& expected) const {
    if (!node.is_integer()) fail(node.source(), expected);
    const std::int64_t value = node.as_integer()->get();
    if (value < 0) fail(node.source(), "'" + name + "' must not be negative");
    return std::to_string(value);
  }

  const std::string& file_name_;
  const po::options_description& options_;
};

/// Adds `option`'s value to `table` as the TOML type the reader accepts back.
void insert_value(toml::table& table, const po::option_description& option, const po::variable_value& value) {
  const std::string& name = option.long_name();
  const auto& any = value.value();
  if (any.type() == typeid(std::vector<std::string>)) {
    toml::array list;
    for (const auto& v : boost::any_cast<const std::vector<std::string>&>(any)) list.push_back(v);
    table.insert(name, std::move(list));
  } else if (any.type() == typeid(std::string)) {
    const auto& text = boost::any_cast<const std::string&>(any);
    const auto number = parse_number(text, 0, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
    if (kind_of(option) == value_kind::number && number) {
      table.insert(name, static_cast<std::int64_t>(*number));
    } else {
      table.insert(name, text);
    }
  } else if (any.type() == typeid(std::int64_t)) {
    table.insert(name, boost::any_cast<std::int64_t>(any));
  } else if (any.type() == typeid(std::uint32_t)) {
    table.insert(name, static_cast<std::int64_t>(boost::any_cast<std::uint32_t>(any)));
  } else if (any.type() == typeid(std::uint16_t)) {
    table.insert(name, static_cast<std::int64_t>(boost::any_cast<std::uint16_t>(any)));
  }
}

}  // namespace

void add_config_option(po::options_description& options) {
  options.add_options()("config", po::value<std::string>()->value_name("FILE"),
                        "read flags from this TOML file (keys are the flag names) instead of the default "
                        "$XDG_CONFIG_HOME/verified-proxy/config.toml; flags given here override it");
}

std::filesystem::path default_config_path() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg != nullptr && *xdg != '\0') return std::filesystem::path(xdg) / "verified-proxy" / "config.toml";
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') {
    return std::filesystem::path(home) / ".config" / "verified-proxy" / "config.toml";
  }
  return {};
}

po::parsed_options parse_config_text(std::string_view text, const std::string& file_name,
                                     const po::options_description& options) {
  return config_reader(file_name, options).read(text);
}

loaded_options load_options(const po::options_description& options, const std::vector<std::string>& args,
                            const std::filesystem::path& default_file) {
  return load_options(options, po::positional_options_description(), options, args, default_file);
}

loaded_options load_options(const po::options_description& options,
                            const po::positional_options_description& positional,
                            const po::options_description& file_options, const std::vector<std::string>& args,
                            const std::filesystem::path& default_file) {
  loaded_options loaded;
  auto& values = loaded.values;
  // The command line first: program_options keeps the first value stored for a flag, so
  // the file below fills in only what the command line left out.
  po::store(po::command_line_parser(args).options(options).positional(positional).run(), values);
  if (values.count("help") != 0 || values.count("version") != 0) {
    loaded.no_config_reason = "not read (--help / --version)";
    return loaded;
  }
  std::filesystem::path file;
  if (values.count("config") != 0) {
    file = values["config"].as<std::string>();
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) {
      throw po::error("--config " + file.string() + ": " + (ec ? ec.message() : std::string("no such file")));
    }
  } else if (!default_file.empty()) {
    std::error_code ec;
    if (std::filesystem::exists(default_file, ec)) {
      file = default_file;
    } else if (ec) {
      throw po::error("cannot read config file " + default_file.string() + ": " + ec.message());
    } else {
      loaded.no_config_reason = "none (" + default_file.string() + " does not exist)";
    }
  } else {
    loaded.no_config_reason = "none (neither XDG_CONFIG_HOME nor HOME is set)";
  }
  if (!file.empty()) {
    const auto text = read_file(file, max_config_file_size);
    if (!text) {
      throw po::error("cannot read config file " + file.string() + " (unreadable, a directory, or over 1MiB)");
    }
    po::store(parse_config_text(*text, file.string(), file_options), values);
    loaded.config_file = file;
  }
  po::notify(values);
  return loaded;
}

std::string effective_config_toml(const po::options_description& options, const po::variables_map& values) {
  std::ostringstream out;
  for (const auto& option : options.options()) {
    const std::string& name = option->long_name();
    if (name.empty() || is_command_only_flag(name)) continue;
    const bool set = values.count(name) != 0;
    toml::table line;
    if (kind_of(*option) == value_kind::switch_flag) {
      line.insert(name, set);
    } else if (set) {
      insert_value(line, *option, values[name]);
    }
    if (line.empty()) {
      out << "# " << name << ": not set\n";
    } else {
      out << line << '\n';
    }
  }
  return out.str();
}

}  // namespace vp::app
