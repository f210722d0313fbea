#include "cli/app.h"

#include <iostream>

#include "cli/commands/commands.h"
#include "common/exit_codes.h"
#include "common/strings.h"

namespace sg::cli {

void BuildApp(CLI::App& app, Context& context) {
  app.description(
      "streamgate: control and inspect StreamGate, the self-hosted video platform daemon.\n"
      "See streamgate(1) for every command and its exit codes.");
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("-c,--config", context.config_path, "Configuration file to use")
      ->envname("STREAMGATE_CONFIG");
  app.add_flag("--json", context.json, "Print machine-readable JSON with stable keys");
  AddVersionCommand(app, context);
  AddConfigCommands(app, context);
}

int Run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
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
