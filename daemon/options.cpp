#include "daemon/options.h"

#include <algorithm>
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/build_info.h"
#include "common/exit_codes.h"
#include "common/strings.h"
#include "config/schema.h"

namespace sg::daemon {

std::optional<int> ParseOptions(int argc, char** argv, Options& options) {
  CLI::App app{
      "streamgated: the StreamGate daemon, which hosts the microkernel and its plugins.\n"
      "It runs in the foreground; `streamgate start` runs it in the background."};
  app.set_version_flag("--version", "streamgated " SG_VERSION " (" SG_GIT_COMMIT ")");
  std::string config_path;
  std::string mode;
  std::string log_level;
  std::string log_format;
  std::vector<std::string> sets;
  app.add_option("-c,--config", config_path,
                 "Configuration file (default: search, see streamgated(8))");
  app.add_option("--mode", mode, "monolith or microservice (app.mode)");
  app.add_option("--service", options.service, "In microservice mode, the one service to run");
  app.add_option("--log-level", log_level,
                 "trace, debug, info, warn, error, critical or off (logging.level)");
  app.add_option("--log-format", log_format, "dev, prod or json (logging.format)");
  app.add_option("--set", sets, "Set any key, as SECTION.KEY=VALUE; wins over file and environment")
      ->type_name("KEY=VALUE");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (!options.service.empty()) {
    const auto& names = config::ServiceNames();
    if (std::find(names.begin(), names.end(), options.service) == names.end()) {
      std::cerr << "streamgated: --service " << options.service << ": unknown service"
                << DidYouMean(options.service, names) << "; the services are: " << Join(names, ", ")
                << '\n';
      return kExitUsage;
    }
  }
  if (!config_path.empty()) options.config_path = config_path;
  if (!mode.empty()) options.overrides.push_back({"app.mode", mode, "--mode"});
  if (!log_level.empty()) options.overrides.push_back({"logging.level", log_level, "--log-level"});
  if (!log_format.empty()) {
    options.overrides.push_back({"logging.format", log_format, "--log-format"});
  }
  for (const auto& set : sets) {
    const size_t eq = set.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "streamgated: --set " << set
                << ": expected KEY=VALUE, such as server.port=8081\n";
      return kExitUsage;
    }
    options.overrides.push_back({set.substr(0, eq), set.substr(eq + 1), "--set " + set});
  }
  return std::nullopt;
}

}  // namespace sg::daemon
