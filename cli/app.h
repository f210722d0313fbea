// The streamgate command-line tool: building the CLI11 app and running it.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace sg::cli {

/// What every command can read: the global options and where to print.
struct Context {
  std::string config_path;  // --config
  bool json = false;        // --json
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  int exit_code = 0;  // set by the command that ran
};

/// Builds the whole command tree on `app`; commands write their exit code into `context`.
void BuildApp(CLI::App& app, Context& context);

/// Runs the CLI: parses argv, runs the command, returns the process exit code.
int Run(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace sg::cli
