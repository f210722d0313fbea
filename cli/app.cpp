#include "cli/app.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>

#include <unistd.h>

#include "cli/commands/commands.h"
#include "common/exit_codes.h"
#include "common/paths.h"
#include "common/strings.h"
#include "config/loader.h"
#include "config/schema.h"
#include "daemon/plugins/builtin_config.h"

namespace sg::cli {

namespace {

// XDG_RUNTIME_DIR is the one a login session gets (pam_systemd's /run/user/UID), not a folder
// someone chose, as a test or a second deployment would.
bool InLoginSession() {
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  return xdg != nullptr && xdg == "/run/user/" + std::to_string(geteuid());
}

}  // namespace

ClientSettings Context::Settings() const {
  ClientSettings settings;
  settings.timeout = Timeout();
  std::string chosen = endpoint;
  if (const char* env = std::getenv("STREAMGATE_ENDPOINT");
      chosen.empty() && env != nullptr && *env != '\0') {
    chosen = env;
  }
  // An ipc endpoint named on the command line or in the environment needs nothing from the
  // configuration: its CURVE keys are for tcp only.
  if (chosen.starts_with("ipc://")) {
    settings.endpoint = chosen;
    return settings;
  }
  // The configuration names the endpoint and the CURVE keys. Its other problems are the daemon's
  // to report: a value that failed to load keeps its default here. With no file and no
  // STREAMGATE_CONTROL_* variable every control key keeps its default, the empty string, and the
  // schema (every plugin's keys, a third of a millisecond to build) is not needed at all.
  config::LoadOptions load;
  if (!config_path.empty()) load.path = config_path;
  load.env = config::ProcessEnvironment();
  const bool control_env = std::any_of(load.env.begin(), load.env.end(), [](const auto& var) {
    return var.first.starts_with("STREAMGATE_CONTROL_");
  });
  std::string configured_endpoint;
  if (!config_path.empty() || control_env || config::FindConfigFile(load.env)) {
    const config::LoadResult loaded = config::Load(plugins::BuiltinSchema(), load);
    const config::Config& config = loaded.config;
    settings.curve_server_key = config.String("control.curve_server_key");
    settings.curve_client_key = config.String("control.curve_client_key");
    configured_endpoint = config.String("control.endpoint");
  }
  if (!chosen.empty()) {
    settings.endpoint = chosen;
  } else {
    settings.endpoint = ControlEndpoint(configured_endpoint, service);
    const bool fallback = service.empty() && configured_endpoint.empty() &&
                          access(settings.endpoint.substr(6).c_str(), F_OK) != 0;
    if (fallback) {
      const auto services = ServiceEndpoints();
      if (!services.empty()) {
        settings.endpoint = services.front().second;
      } else if (InLoginSession() && access(SystemControlEndpoint().substr(6).c_str(), F_OK) == 0) {
        // The system service (streamgated.service), seen by root from a login shell, whose
        // XDG_RUNTIME_DIR names the session's runtime directory instead of /run.
        settings.endpoint = SystemControlEndpoint();
      }
    }
  }
  return settings;
}

std::vector<std::pair<std::string, std::string>> Context::ServiceEndpoints() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& name : config::ServiceNames()) {
    const std::string endpoint = ControlEndpoint("", name);
    if (access(endpoint.substr(6).c_str(), F_OK) == 0) out.emplace_back(name, endpoint);
  }
  return out;
}

std::chrono::milliseconds Context::Timeout() const {
  return std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
}

int ExitCodeFor(const Error& error) {
  switch (error.code) {
    case ErrorCode::kUnavailable:
      return kExitUnreachable;
    case ErrorCode::kConfig:
      return kExitConfig;
    default:
      return kExitFailure;
  }
}

void Context::Report(const Error& error) {
  *err << "streamgate: " << error.message << '\n';
  exit_code = ExitCodeFor(error);
}

std::unique_ptr<ControlClient> Context::Connect() {
  auto client = ControlClient::Connect(Settings());
  if (!client) {
    Report(client.error());
    return nullptr;
  }
  return std::move(client).value();
}

std::optional<nlohmann::ordered_json> Context::Call(
    control::Command cmd, nlohmann::ordered_json args,
    std::optional<std::chrono::milliseconds> timeout) {
  auto client = Connect();
  if (!client) return std::nullopt;
  auto result = client->Call(cmd, std::move(args), timeout);
  if (!result) {
    Report(result.error());
    return std::nullopt;
  }
  exit_code = 0;
  return std::move(result).value();
}

Result<nlohmann::ordered_json> Context::TryCall(control::Command cmd, nlohmann::ordered_json args) {
  const int before = exit_code;
  auto client = Connect();
  if (!client) {
    exit_code = before;
    return Fail(ErrorCode::kUnavailable, "no daemon");
  }
  return client->Call(cmd, std::move(args));
}

std::optional<nlohmann::ordered_json> Context::CallPlugin(control::Command cmd,
                                                          nlohmann::ordered_json args) {
  auto client = Connect();
  if (!client) return std::nullopt;
  auto result = client->Call(cmd, std::move(args));
  if (result) {
    exit_code = kExitOk;
    return std::move(result).value();
  }
  Report(result.error());
  if (client->answered() && result.error().code == ErrorCode::kNotFound) exit_code = kExitNotFound;
  if (client->answered() && result.error().code == ErrorCode::kUnavailable) {
    exit_code = kExitPluginDown;
  }
  return std::nullopt;
}

void Context::PrintJson(const nlohmann::ordered_json& j) const {
  *out << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

namespace {

// Each group of commands (one file in commands/) with the top-level commands it adds.
struct CommandGroup {
  void (*add)(CLI::App&, Context&);
  std::array<std::string_view, 3> commands;
};
constexpr CommandGroup kGroups[] = {
    {AddVersionCommand, {"version"}},
    {AddConfigCommands, {"config"}},
    {AddDaemonCommands, {"start", "stop", "status"}},
    {AddPluginCommands, {"plugins"}},
    {AddHealthCommand, {"health"}},
    {AddLogCommands, {"logs", "log-level"}},
    {AddKeysCommands, {"keys"}},
    {AddServicesCommand, {"services"}},
    {AddVideoCommands, {"videos"}},
    {AddJobCommands, {"jobs"}},
    {AddAuthCommands, {"auth"}},
    {AddUploadCommand, {"upload"}},
};

const CommandGroup* GroupOf(std::string_view command) {
  for (const auto& group : kGroups) {
    if (std::find(group.commands.begin(), group.commands.end(), command) != group.commands.end()) {
      return &group;
    }
  }
  return nullptr;
}

// The global options that take a value (BuildApp): CommandWord skips their values.
constexpr std::string_view kGlobalValueOptions[] = {"-c", "--config", "--endpoint", "--service",
                                                    "--timeout"};

}  // namespace

std::string_view CommandWord(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") return {};
    if (std::find(std::begin(kGlobalValueOptions), std::end(kGlobalValueOptions), arg) !=
        std::end(kGlobalValueOptions)) {
      ++i;
      continue;
    }
    if (arg.starts_with("-")) continue;
    return arg;
  }
  return {};
}

void BuildApp(CLI::App& app, Context& context, std::string_view command) {
  app.description(
      "streamgate: control and inspect StreamGate, the self-hosted video platform daemon.\n"
      "See streamgate(1) for every command and its exit codes.");
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("-c,--config", context.config_path, "Configuration file to use")
      ->envname("STREAMGATE_CONFIG");
  app.add_option(
      "--endpoint", context.endpoint,
      "Control endpoint of the daemon (default: $STREAMGATE_ENDPOINT, else control.endpoint, "
      "else the ipc socket)");
  app.add_option("--service", context.service,
                 "Talk to this service of a microservice deployment (its own control socket)")
      ->check(CLI::IsMember(config::ServiceNames()));
  app.add_option("--timeout", context.timeout_seconds,
                 "Seconds to wait for the daemon's answer (default 5)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", context.json, "Print machine-readable JSON with stable keys");
  if (const CommandGroup* group = command.empty() ? nullptr : GroupOf(command)) {
    group->add(app, context);
    return;
  }
  for (const auto& group : kGroups) group.add(app, context);
}

int Run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  // Only the group of the command that argv names is built: the whole tree is a third of a
  // millisecond of every run (tests/bench/README.md, "The CLI"). Anything that does not parse
  // there (help, a usage error) is parsed again on the whole tree, so that it reads as always;
  // a command runs only once its parse succeeded, so nothing has happened before.
  if (const std::string_view word = CommandWord(argc, argv); !word.empty() && GroupOf(word)) {
    CLI::App app{"streamgate", "streamgate"};
    Context context;
    context.out = &out;
    context.err = &err;
    BuildApp(app, context, word);
    try {
      app.parse(argc, argv);
      return context.exit_code;
    } catch (const CLI::ParseError&) {
      // below, on the whole tree
    }
  }
  CLI::App app{"streamgate", "streamgate"};
  Context context;
  context.out = &out;
  context.err = &err;
  BuildApp(app, context);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 reports an unknown command as "A subcommand is required": name the word instead.
    const auto extra = app.remaining();
    if (!extra.empty() && app.get_subcommands().empty() && !extra.front().starts_with("-")) {
      std::vector<std::string> names;
      for (const CLI::App* sub : app.get_subcommands({})) names.push_back(sub->get_name());
      err << "streamgate: unknown command '" << extra.front() << "'"
          << DidYouMean(extra.front(), names) << "\nRun with --help for more information.\n";
      return kExitUsage;
    }
    // CLI11 has its own exit codes (106 for a missing subcommand); ours are fixed: 0 for help,
    // 2 for any usage error, with CLI11's message.
    const int rc = app.exit(e, out, err);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  return context.exit_code;
}

}  // namespace sg::cli
