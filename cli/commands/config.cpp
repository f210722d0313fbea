#include <algorithm>
#include <memory>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands/commands.h"
#include "common/exit_codes.h"
#include "config/loader.h"

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
  return config::Load(load);
}

void Validate(Context& context, const ConfigArgs& args) {
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

void Show(Context& context, const ConfigArgs& args) {
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
  for (const auto& spec : config::Schema()) {
    key_width = std::max(key_width, spec.path.size());
    value_width = std::max(value_width, config.Show(spec.path, args.reveal).size());
  }
  value_width = std::min<size_t>(value_width, 48);
  *context.out << "# " << (config.file().empty() ? "built-in defaults" : config.file()) << '\n';
  *context.out << fmt::format("{:<{}}  {:<{}}  {}\n", "KEY", key_width, "VALUE", value_width,
                              "SOURCE");
  for (const auto& spec : config::Schema()) {
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
  auto* group = app.add_subcommand("config", "Check and show the configuration");
  group->require_subcommand(1);

  auto* validate = group->add_subcommand(
      "validate", "Check a configuration file and report every problem (no daemon needed)");
  validate->add_option("FILE", args->file, "The file (default: --config, else the search path)");
  validate->add_flag("--strict", args->strict, "Fail on warnings too");
  validate->callback([&context, args] { Validate(context, *args); });

  auto* show = group->add_subcommand(
      "show", "Print the merged configuration and where each value came from");
  show->add_option("FILE", args->file, "The file (default: --config, else the search path)");
  show->add_flag("--reveal", args->reveal, "Print secrets instead of <redacted>");
  show->callback([&context, args] { Show(context, *args); });
}

}  // namespace sg::cli
