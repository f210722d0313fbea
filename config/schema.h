// The configuration schema: every key StreamGate understands, with its type, default, valid range
// and a one-line description, in one table. Defaults, validation, `config show` and the
// streamgate.yaml(5) man page all draw on it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sg::config {

enum class Type {
  kBool,
  kInt,          // a whole number within [min, max]
  kPort,         // a TCP port; [min, max] says whether 0 (any free port) is allowed
  kDuration,     // a whole number of seconds, or a number with a unit: 500ms, 30s, 5m, 1h
  kSize,         // a whole number of bytes, or with a unit: 512KiB, 10MiB, 1GiB (K, M, G also)
  kString,       // min is the shortest length allowed
  kEnum,         // one of `choices`
  kUrl,          // scheme://host[:port][/path]; the scheme one of `choices`; "" when min is 0
  kHost,         // a host name or IP address
  kHostPort,     // host:port
  kZmqEndpoint,  // ipc://PATH or tcp://HOST:PORT; "" for the default
  kStringList,   // a YAML sequence of strings; in the environment, comma-separated
};

/// One key of the configuration.
struct KeySpec {
  std::string_view path{};  // "server.port"
  Type type = Type::kString;
  std::string_view default_value{};         // as it would be written in YAML or the environment
  std::string_view doc{};                   // one line, for the man page and `config show --doc`
  int64_t min = 0;                          // kInt, kPort, kDuration (ms), kSize (bytes), kString
  int64_t max = 0;                          // the same; 0 means no upper bound
  std::vector<std::string_view> choices{};  // kEnum values, kUrl schemes, kStringList allowed items
  bool secret = false;                      // redacted by `config show`
  std::string_view alias_of{};              // another key this one is an old name for
  std::vector<std::string_view> weak{};     // well-known default values that deserve a warning
};

/// Every key, grouped by section, in the order the man page lists them.
const std::vector<KeySpec>& Schema();
/// The key at a dotted path, or nullptr.
const KeySpec* FindKey(std::string_view path);
/// The section names, in schema order.
const std::vector<std::string>& Sections();
/// The key names (without the section) of one section, in schema order.
std::vector<std::string> KeysOf(std::string_view section);
/// "STREAMGATE_SERVER_PORT" for "server.port".
std::string EnvName(std::string_view path);
/// The names of the nine services, which are also the plugin names.
const std::vector<std::string>& ServiceNames();
/// A short name for a type, for messages and the man page: "port", "duration", ...
std::string_view TypeName(Type type);

}  // namespace sg::config
