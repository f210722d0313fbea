// Loads the configuration from its four sources, lowest first: built-in defaults, the file, the
// environment (STREAMGATE_SECTION_KEY) and command-line flags (--set section.key=value), and
// validates the result, collecting every problem rather than stopping at the first.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace sg::config {

using Environment = std::map<std::string, std::string>;

/// The process's environment.
Environment ProcessEnvironment();

/// A value given on the command line: the key, the text, and the flag to name in messages.
struct Override {
  std::string key;
  std::string value;
  std::string flag;  // "--set server.port=8081", "--mode"
};

struct LoadOptions {
  std::optional<std::string> path;  // --config; when unset, the search below applies
  bool search = true;               // look in $STREAMGATE_CONFIG, ./, $XDG_CONFIG_HOME, /etc
  Environment env;                  // usually ProcessEnvironment()
  std::vector<Override> overrides;  // flags, applied last
};

struct LoadResult {
  Config config;
  std::vector<Diagnostic> diagnostics;

  size_t Errors() const;
  size_t Warnings() const;
  /// No errors, and with `strict` no warnings either.
  bool Ok(bool strict = false) const;
};

/// The largest configuration file accepted.
inline constexpr size_t kMaxConfigBytes = 1024 * 1024;

/// The file the search finds, or nullopt when there is none (embedded defaults apply).
std::optional<std::string> FindConfigFile(const Environment& env);

/// Loads and validates against `schema`, which must outlive the result's Config. Never throws;
/// every problem is a diagnostic.
LoadResult Load(const Schema& schema, const LoadOptions& options);

/// Loads YAML text as if it were the file `name`; for tests and the fuzzer.
LoadResult LoadText(const Schema& schema, std::string_view text, const std::string& name,
                    const Environment& env = {}, const std::vector<Override>& overrides = {});

/// "FILE: configuration is valid (0 errors, 2 warnings)" or "... is invalid: 3 errors, 1 warning".
std::string Summary(const LoadResult& result, bool strict);

}  // namespace sg::config
