// The configuration schema: every key StreamGate understands, with its type, default, valid range,
// description and what a reload does with it. The daemon's own sections are declared in
// config/core_config.cpp, each plugin's next to the plugin; a Schema is built from those
// declarations, and validation, `config show`, streamgate.yaml(5) and the completion scripts'
// key lists all draw on it.
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

// Units for KeySpec::min and max: durations are kept in milliseconds, sizes in bytes.
inline constexpr int64_t kSecond = 1000;
inline constexpr int64_t kDay = int64_t{24} * 3600 * kSecond;
inline constexpr int64_t kMiB = int64_t{1024} * 1024;

/// The log levels, lowest first: the choices of logging.level and its old names.
inline const std::vector<std::string_view> kLogLevels = {"trace", "debug",    "info", "warn",
                                                         "error", "critical", "off"};

/// What `streamgate config reload` does with a changed key.
enum class Reload {
  kLive,           // applied to the running daemon and its plugins
  kRestartPlugin,  // the plugin that reads it takes it when it next starts ("restart required")
  kRestartDaemon,  // read once at startup: takes effect when the daemon restarts
};

/// One key of the configuration.
struct KeySpec {
  std::string_view path{};  // "server.port"
  Type type = Type::kString;
  std::string_view default_value{};  // as it would be written in YAML or the environment
  /// What the key does, in plain sentences: streamgate.yaml(5) shows exactly this text, with
  /// key paths and choices in bold, 'single-quoted text' as a literal and streamgated(8) as a
  /// page reference, then the facts the fields below hold (default, range, choices, secret, old
  /// name, listener, reload). Say here what they cannot: what a limit does when reached, rules
  /// between keys, warnings.
  std::string_view doc{};
  int64_t min = 0;                          // kInt, kPort, kDuration (ms), kSize (bytes), kString
  int64_t max = 0;                          // the same; 0 means no upper bound
  std::vector<std::string_view> choices{};  // kEnum values, kUrl schemes, kStringList allowed items
  bool secret = false;                      // redacted by `config show`
  std::string_view alias_of{};              // another key this one is an old name for
  std::vector<std::string_view> weak{};     // well-known default values that deserve a warning
  Reload reload = Reload::kLive;
  /// A kPort that a listener binds: no two opened listeners may share a port. The listener is
  /// opened when its section's plugin is enabled; a key of the daemon's own sections is reserved.
  bool listener = false;
  std::string_view owner{};  // the plugin whose declaration holds the key; "" for the daemon's
};

/// One section of the configuration file ("server:"), as its owner declares it.
struct SectionSpec {
  std::string_view name{};   // "server"
  std::string_view title{};  // "the HTTP listener of the api-gateway plugin", for the man page
  /// What holds for the whole section, in plain sentences; streamgate.yaml(5) shows exactly this
  /// text before the section's keys. Often empty.
  std::string_view doc{};
  std::vector<KeySpec> keys{};
};

/// What one part of StreamGate declares: the daemon itself (owner "") or one plugin.
struct ConfigDeclaration {
  std::string_view owner{};  // the plugin's name, "" for the daemon
  std::vector<SectionSpec> sections{};
  /// Keys of other sections the plugin reads too ("server.host").
  std::vector<std::string_view> also_reads{};

  /// What Plugin::ConfigKeys returns: each section as "cache.", then `also_reads`.
  std::vector<std::string> Reads() const;
};

/// Every key of a set of declarations, in declaration order. Immutable; build one per program
/// and keep it for the program's life (each Config points into it).
class Schema {
 public:
  /// SG_CHECKs that each key's path lies in its section and that no path repeats.
  explicit Schema(const std::vector<ConfigDeclaration>& declarations);
  Schema(const Schema&) = delete;
  Schema& operator=(const Schema&) = delete;

  /// Every key, grouped by section, in the order the man page lists them.
  const std::vector<KeySpec>& keys() const { return keys_; }
  /// The sections, in schema order.
  const std::vector<SectionSpec>& sections() const { return sections_; }
  /// The key at a dotted path, or nullptr.
  const KeySpec* Find(std::string_view path) const;
  /// The section names, in schema order.
  std::vector<std::string> SectionNames() const;
  /// The key names (without the section) of one section, in schema order.
  std::vector<std::string> KeysOf(std::string_view section) const;
  /// Every dotted path, in schema order.
  std::vector<std::string> Paths() const;

 private:
  std::vector<SectionSpec> sections_;  // with each key's owner filled in
  std::vector<KeySpec> keys_;
};

/// The daemon's own sections (app, grpc, nats, logging, control, daemon, ...).
ConfigDeclaration CoreConfig();

/// "STREAMGATE_SERVER_PORT" for "server.port".
std::string EnvName(std::string_view path);
/// The names of the nine services, which are also the plugin names: kServiceNames
/// (common/services.h) as strings.
const std::vector<std::string>& ServiceNames();
/// A short name for a type, for messages and the man page: "port", "duration", ...
std::string_view TypeName(Type type);

}  // namespace sg::config
