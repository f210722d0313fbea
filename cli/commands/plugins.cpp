// streamgate plugins list|start|stop|restart.
#include <memory>
#include <ostream>
#include <tuple>

#include <fmt/format.h>

#include "cli/commands/commands.h"
#include "cli/output.h"

namespace sg::cli {
namespace {

struct PluginArgs {
  std::vector<std::string> names;
  bool cascade = false;
  bool quiet = false;
};

void PrintPlugins(Context& context, const nlohmann::ordered_json& plugins) {
  std::vector<std::vector<std::string>> rows = {
      {"", "NAME", "VERSION", "STATE", "UPTIME", "RESTARTS", "NEXT RESTART", "REASON"}};
  for (const auto& p : plugins) {
    const std::string state = p.value("state", "");
    const auto& next = p.contains("next_restart") && p["next_restart"].is_string()
                           ? p["next_restart"].get<std::string>()
                           : std::string("-");
    rows.push_back({StateGlyph(state), p.value("name", ""), p.value("version", ""), state,
                    state == "running" ? HumanDuration(p.value("uptime_seconds", int64_t{0})) : "-",
                    std::to_string(p.value("restarts", 0)), next, p.value("reason", "")});
  }
  PrintTable(*context.out, rows);
}

void List(Context& context, const PluginArgs& args) {
  auto result = context.Call(control::Command::kPluginsList);
  if (!result) return;
  const auto& plugins = result->value("plugins", nlohmann::ordered_json::array());
  if (context.json) {
    context.PrintJson(*result);
  } else if (args.quiet) {
    // Names only, one a line: for scripts and shell completion.
    for (const auto& p : plugins) *context.out << p.value("name", "") << '\n';
  } else if (plugins.empty()) {
    *context.out << "no plugins in this build\n";
  } else {
    PrintPlugins(context, plugins);
  }
}

void Change(Context& context, control::Command cmd, const PluginArgs& args) {
  nlohmann::ordered_json request = {{"names", args.names}};
  if (cmd != control::Command::kPluginsStart) request["cascade"] = args.cascade;
  // Stopping drains work: allow the daemon's own plugin timeout and then some.
  auto result =
      context.Call(cmd, request, std::max(context.Timeout(), std::chrono::milliseconds(60000)));
  if (!result) return;
  if (context.json) {
    context.PrintJson(*result);
    return;
  }
  PrintPlugins(context, result->value("plugins", nlohmann::ordered_json::array()));
}

}  // namespace

void AddPluginCommands(CLI::App& app, Context& context) {
  auto* group = app.add_subcommand("plugins", "List, start, stop and restart plugins");
  group->require_subcommand(1);

  auto list_args = std::make_shared<PluginArgs>();
  auto* list = group->add_subcommand("list", "Every plugin with its state, uptime and restarts");
  list->add_flag("-q,--quiet", list_args->quiet, "Print only the names");
  list->callback([&context, list_args] { List(context, *list_args); });

  for (const auto& [verb, help, wire] :
       {std::tuple{"start", "Start stopped or failed plugins", control::Command::kPluginsStart},
        std::tuple{"stop", "Stop plugins; refused while others need them",
                   control::Command::kPluginsStop},
        std::tuple{"restart", "Stop then start plugins", control::Command::kPluginsRestart}}) {
    auto args = std::make_shared<PluginArgs>();
    auto* cmd = group->add_subcommand(verb, help);
    cmd->add_option("NAME", args->names, "Plugin names")->required();
    if (wire != control::Command::kPluginsStart) {
      cmd->add_flag("--cascade", args->cascade,
                    "Also stop (and restart) the plugins that depend on them");
    }
    cmd->callback([&context, args, wire = wire] { Change(context, wire, *args); });
  }
}

}  // namespace sg::cli
