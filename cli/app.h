// The streamgate command-line tool: the CLI11 app, the context every command shares, and the
// helpers that turn errors into messages and exit codes.
#pragma once

#include <chrono>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/control_client.h"
#include "common/result.h"

namespace sg::cli {

/// What every command can read: the global options and where to print.
struct Context {
  std::string config_path;     // --config
  std::string endpoint;        // --endpoint
  std::string service;         // --service: one service of a microservice deployment
  double timeout_seconds = 5;  // --timeout
  bool json = false;           // --json
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  int exit_code = 0;  // set by the command that ran

  /// The control endpoint: --endpoint, else $STREAMGATE_ENDPOINT, else --service's socket, else
  /// control.endpoint from the configuration, else the default ipc socket, or when no monolith
  /// runs there, the first service socket of a microservice deployment, else, in a login
  /// session, the system service's socket in /run/streamgate when we may reach it.
  ClientSettings Settings() const;
  /// The control sockets of a microservice deployment in the runtime directory, by service.
  static std::vector<std::pair<std::string, std::string>> ServiceEndpoints();
  std::chrono::milliseconds Timeout() const;
  /// Connects, or reports why not (setting exit_code) and returns nullptr.
  std::unique_ptr<ControlClient> Connect();
  /// Calls a command on the daemon; on failure reports it and returns nullopt.
  std::optional<nlohmann::ordered_json> Call(
      control::Command cmd, nlohmann::ordered_json args = nlohmann::ordered_json::object(),
      std::optional<std::chrono::milliseconds> timeout = {});
  /// Calls a command a plugin serves (videos.*, jobs.*): as Call, but when the daemon answers
  /// that the id is unknown the exit code is 5, and that the plugin is not running, 6 (3 stays
  /// for no daemon at all).
  std::optional<nlohmann::ordered_json> CallPlugin(
      control::Command cmd, nlohmann::ordered_json args = nlohmann::ordered_json::object());
  /// As Call, but a failure is only returned, not reported (for what a command may do without).
  Result<nlohmann::ordered_json> TryCall(
      control::Command cmd, nlohmann::ordered_json args = nlohmann::ordered_json::object());
  /// Prints "streamgate: message" on stderr and sets the exit code for the error.
  void Report(const Error& error);
  void PrintJson(const nlohmann::ordered_json& j) const;
};

/// The exit code for an error: 3 when no daemon answered, 78 for configuration, else 1.
int ExitCodeFor(const Error& error);

/// Builds the command tree on `app`; commands write their exit code into `context`. With
/// `command`, a top-level command's name, only the group that has it (and the global options).
void BuildApp(CLI::App& app, Context& context, std::string_view command = {});

/// The top-level command that argv names (its first word that is neither an option nor a global
/// option's value), or empty.
std::string_view CommandWord(int argc, const char* const* argv);

/// Runs the CLI: parses argv, runs the command, returns the process exit code.
int Run(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace sg::cli
