#include <algorithm>
#include <memory>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands/commands.h"
#include "cli/output.h"
#include "common/exit_codes.h"
#include "config/loader.h"
#include "daemon/plugins/builtin_config.h"

namespace sg::cli {
namespace {

struct ConfigArgs {
  std::string file;
  bool strict = false;
  bool reveal = false;
};

config::LoadResult LoadFor(const Context& context, const ConfigArgs& args) {
  config::LoadOptions load;
  if (!args.file.empty()) {
    load.path = args.file;
  } else if (!context.config_path.empty()) {
    load.path = context.config_path;
  }
  load.env = config::ProcessEnvironment();
  return config::Load(plugins::BuiltinSchema(), load);
}

// With no file named, a running daemon is asked: it validates the file it runs. Else nullopt.
std::optional<nlohmann::ordered_json> AskDaemon(Context& context, const ConfigArgs& args,
                                                control::Command cmd) {
  if (!args.file.empty() || !context.config_path.empty()) return std::nullopt;
  ClientSettings settings = context.Settings();
  settings.timeout = std::min(settings.timeout, std::chrono::milliseconds(2000));
  auto client = ControlClient::Connect(settings);
  if (!client) return std::nullopt;
  auto result = (*client)->Call(cmd);
  if (!result) return std::nullopt;
  return std::move(result).value();
}

void Validate(Context& context, const ConfigArgs& args) {
  if (auto remote = AskDaemon(context, args, control::Command::kConfigValidate)) {
    const bool valid =
        remote->value("valid", false) && (!args.strict || remote->value("warnings", 0) == 0);
    if (context.json) {
      (*remote)["valid"] = valid;
      context.PrintJson(*remote);
    } else {
      for (const auto& d : remote->value("diagnostics", nlohmann::ordered_json::array())) {
        std::string line = d.value("source", "") + ": " + d.value("severity", "") + ": ";
        if (!d.value("key", "").empty()) line += d.value("key", "") + ": ";
        line += d.value("message", "");
        if (!d.value("hint", "").empty()) line += "; " + d.value("hint", "");
        *context.out << line << '\n';
      }
      *context.out << remote->value("summary", "") << " (the file the running daemon uses)\n";
    }
    context.exit_code = valid ? kExitOk : kExitConfig;
    return;
  }
  const config::LoadResult result = LoadFor(context, args);
  const bool ok = result.Ok(args.strict);
  if (context.json) {
    nlohmann::ordered_json j;
    j["file"] = result.config.file();
    j["valid"] = ok;
    j["errors"] = result.Errors();
    j["warnings"] = result.Warnings();
    j["diagnostics"] = nlohmann::ordered_json::array();
    for (const auto& d : result.diagnostics) j["diagnostics"].push_back(d.ToJson());
    *context.out << j.dump(2) << '\n';
  } else {
    for (const auto& d : result.diagnostics) *context.out << d.Format() << '\n';
    *context.out << config::Summary(result, args.strict) << '\n';
  }
  context.exit_code = ok ? kExitOk : kExitConfig;
}

void Reload(Context& context) {
  auto result = context.Call(control::Command::kConfigReload, nlohmann::ordered_json::object(),
                             std::max(context.Timeout(), std::chrono::milliseconds(60000)));
  if (!result) return;
  const std::string outcome = result->value("outcome", "");
  context.exit_code = outcome == "rejected" ? kExitConfig : kExitOk;
  if (context.json) {
    context.PrintJson(*result);
    return;
  }
  auto& out = *context.out;
  for (const auto& d : result->value("diagnostics", nlohmann::ordered_json::array())) {
    out << d.value("source", "") << ": " << d.value("severity", "") << ": " << d.value("key", "")
        << (d.value("key", "").empty() ? "" : ": ") << d.value("message", "")
        << (d.value("hint", "").empty() ? "" : "; " + d.value("hint", "")) << '\n';
  }
  for (const auto& c : result->value("changed", nlohmann::ordered_json::array())) {
    out << fmt::format(
        "changed {}: {} -> {}{}\n", c.value("key", ""), c.value("from", ""), c.value("to", ""),
        c.value("needs_daemon_restart", false) ? " (takes effect after a daemon restart)" : "");
  }
  const auto plugins = result->value("plugins", nlohmann::ordered_json::object());
  for (const auto& [plugin, what] : plugins.items()) {
    out << fmt::format("plugin {}: {}\n", plugin, what.get<std::string>());
  }
  if (outcome == "rejected") {
    out << "reload rejected: " << result->value("message", "kept the running configuration")
        << '\n';
  } else if (outcome == "unchanged") {
    out << "reloaded: nothing changed\n";
  } else {
    out << "reloaded: configuration applied\n";
  }
}

void Show(Context& context, const ConfigArgs& args) {
  if (auto remote = AskDaemon(context, args, control::Command::kConfigShow)) {
    if (context.json) {
      context.PrintJson(*remote);
    } else {
      const std::string file = remote->value("file", "");
      *context.out << "# running daemon: " << (file.empty() ? "built-in defaults" : file) << '\n';
      std::vector<std::vector<std::string>> rows = {{"KEY", "VALUE", "SOURCE"}};
      const auto keys = remote->value("keys", nlohmann::ordered_json::object());
      for (const auto& [key, item] : keys.items()) {
        const auto& v = item["value"];
        std::string text = v.is_string() ? v.get<std::string>() : v.dump();
        if (text.empty()) text = "\"\"";
        rows.push_back({key, text, item.value("source", "")});
      }
      PrintTable(*context.out, rows);
    }
    context.exit_code = kExitOk;
    return;
  }
  const config::LoadResult result = LoadFor(context, args);
  if (!result.Ok()) {
    for (const auto& d : result.diagnostics) *context.err << d.Format() << '\n';
    *context.err << "streamgate: " << config::Summary(result, false) << '\n';
    context.exit_code = kExitConfig;
    return;
  }
  const config::Config& config = result.config;
  if (context.json) {
    nlohmann::ordered_json j;
    j["file"] = config.file();
    j["keys"] = config.ToJson(args.reveal);
    *context.out << j.dump(2) << '\n';
    context.exit_code = kExitOk;
    return;
  }
  size_t key_width = 3;
  size_t value_width = 5;
  for (const auto& spec : config.schema().keys()) {
    key_width = std::max(key_width, spec.path.size());
    value_width = std::max(value_width, config.Show(spec.path, args.reveal).size());
  }
  value_width = std::min<size_t>(value_width, 48);
  *context.out << "# " << (config.file().empty() ? "built-in defaults" : config.file()) << '\n';
  *context.out << fmt::format("{:<{}}  {:<{}}  {}\n", "KEY", key_width, "VALUE", value_width,
                              "SOURCE");
  for (const auto& spec : config.schema().keys()) {
    std::string value = config.Show(spec.path, args.reveal);
    if (value.empty()) value = "\"\"";
    *context.out << fmt::format("{:<{}}  {:<{}}  {}\n", spec.path, key_width, value, value_width,
                                config.Get(spec.path).origin.Describe(false));
  }
  context.exit_code = kExitOk;
}

}  // namespace

void AddConfigCommands(CLI::App& app, Context& context) {
  auto args = std::make_shared<ConfigArgs>();
  auto* group = app.add_subcommand("config", "Check, show and reload the configuration");
  group->require_subcommand(1);

  auto* validate = group->add_subcommand(
      "validate",
      "Check a configuration file and report every problem (no daemon needed; with no "
      "FILE and a running daemon, the file it runs)");
  validate->add_option("FILE", args->file, "The file (default: --config, else the search path)");
  validate->add_flag("--strict", args->strict, "Fail on warnings too");
  validate->callback([&context, args] { Validate(context, *args); });

  auto* show = group->add_subcommand(
      "show", "Print the merged configuration and where each value came from");
  show->add_option("FILE", args->file, "The file (default: --config, else the search path)");
  show->add_flag("--reveal", args->reveal, "Print secrets instead of <redacted>");
  show->callback([&context, args] { Show(context, *args); });

  auto* reload = group->add_subcommand(
      "reload",
      "Reload the running daemon's configuration, all or nothing, with each plugin's outcome");
  reload->callback([&context] { Reload(context); });
}

}  // namespace sg::cli
