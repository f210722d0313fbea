// The merged configuration: every schema key's value and where it came from (default, file,
// environment or flag), plus the diagnostics that loading produced.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/schema.h"

namespace sg::config {

/// A key's value: bool, a number (durations in milliseconds, sizes in bytes), a string or a list.
using Value = std::variant<bool, int64_t, std::string, std::vector<std::string>>;

/// Where a value or a diagnostic comes from.
struct Origin {
  enum class Kind { kDefault, kFile, kEnvironment, kFlag };
  Kind kind = Kind::kDefault;
  std::string name;  // the file path, the environment variable, or the flag
  int line = 0;      // 1-based; 0 when unknown
  int column = 0;    // 1-based; 0 when unknown

  /// "streamgate.yaml:3:9", "STREAMGATE_SERVER_PORT", "--set server.port", "default".
  std::string Describe(bool with_column = true) const;
};

struct Entry {
  Value value;
  Origin origin;
};

enum class Severity { kError, kWarning };

/// One problem found while loading, compiler style.
struct Diagnostic {
  Severity severity = Severity::kError;
  Origin where;
  std::string key;      // the dotted key path, or "" for the file as a whole
  std::string message;  // what is wrong
  std::string hint;     // what to do about it; may be ""

  /// "FILE:LINE:COL: error: KEY: MESSAGE; HINT".
  std::string Format() const;
  nlohmann::ordered_json ToJson() const;
};

/// The configuration after defaults, file, environment and flags were merged. Copyable, and
/// immutable once loaded: share it as std::shared_ptr<const Config>.
class Config {
 public:
  /// The accessors take a key from the schema; any other key is a bug (SG_CHECK).
  bool Bool(std::string_view path) const;
  int64_t Int(std::string_view path) const;
  std::chrono::milliseconds Duration(std::string_view path) const;
  const std::string& String(std::string_view path) const;
  const std::vector<std::string>& List(std::string_view path) const;
  const Entry& Get(std::string_view path) const;

  /// The value as `config show` prints it: "30s", "10MiB", "[a, b]"; secrets redacted unless
  /// `reveal`.
  std::string Show(std::string_view path, bool reveal = false) const;
  /// Every key as JSON: {"server.port": {"value": 8080, "source": "default"}, ...}.
  nlohmann::ordered_json ToJson(bool reveal = false) const;

  /// Whether a plugin runs in monolith mode: plugins.enabled is empty or names it.
  bool PluginEnabled(std::string_view name) const;

  /// The file the configuration was read from; "" when only built-in defaults were used.
  const std::string& file() const { return file_; }
  /// The schema the configuration was loaded against; a Config that was never loaded has none
  /// (SG_CHECK).
  const Schema& schema() const;

  std::map<std::string, Entry, std::less<>>& entries() { return entries_; }
  const std::map<std::string, Entry, std::less<>>& entries() const { return entries_; }
  void set_file(std::string file) { file_ = std::move(file); }
  void set_schema(const Schema* schema) { schema_ = schema; }

 private:
  std::map<std::string, Entry, std::less<>> entries_;
  std::string file_;
  const Schema* schema_ = nullptr;  // not owned; outlives every Config loaded against it
};

/// Formats a value of a given type for display: durations as "30s"/"500ms", sizes as "10MiB".
std::string FormatValue(const KeySpec& spec, const Value& value);

/// Removes the password from a URL's user info: nats://u:secret@h -> nats://u:***@h.
std::string RedactUrl(const std::string& url);

}  // namespace sg::config
