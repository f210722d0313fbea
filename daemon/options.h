// The command line of streamgated, parsed with CLI11.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/loader.h"

namespace sg::daemon {

struct Options {
  std::optional<std::string> config_path;   // --config
  std::vector<config::Override> overrides;  // --mode, --log-level, --log-format, --set
  std::string service;                      // --service
};

/// Parses argv. Returns an exit code when the process should exit at once (help, version, a bad
/// flag), after printing what it must; nullopt to go on.
std::optional<int> ParseOptions(int argc, char** argv, Options& options);

}  // namespace sg::daemon
