// streamgate services: every instance of a microservice deployment, from its heartbeats.
#include <ostream>

#include <fmt/format.h>

#include "cli/commands/commands.h"
#include "cli/output.h"

namespace sg::cli {

void AddServicesCommand(CLI::App& app, Context& context) {
  auto* cmd =
      app.add_subcommand("services", "List the live instances of a microservice deployment");
  cmd->callback([&context] {
    auto result = context.Call(control::Command::kServicesList);
    if (!result) return;
    if (context.json) {
      context.PrintJson(*result);
      return;
    }
    const auto services = result->value("services", nlohmann::ordered_json::array());
    if (services.empty()) {
      *context.out << "no services heard from (a monolith has none; in microservice mode, wait a "
                      "heartbeat)\n";
      return;
    }
    std::vector<std::vector<std::string>> rows = {{"", "SERVICE", "INSTANCE", "HOST", "PID",
                                                   "HEALTH", "LAST SEEN", "HTTP", "ROUTES", "LOAD",
                                                   "ENDPOINT"}};
    for (const auto& s : services) {
      const bool alive = s.value("alive", false);
      const std::string http = s.value("http", "");
      const auto routes = s.value("routes", nlohmann::ordered_json::array());
      rows.push_back({alive ? "●" : "×", s.value("service", ""), s.value("id", ""),
                      s.value("host", ""), std::to_string(s.value("pid", 0)), s.value("health", ""),
                      fmt::format("{:.1f}s ago", s.value("last_seen_ms", 0) / 1000.0),
                      http.empty() ? "-" : http, std::to_string(routes.size()),
                      http.empty() ? "-" : std::to_string(s.value("load", 0)),
                      s.value("endpoint", "")});
    }
    PrintTable(*context.out, rows);
    *context.out << "HTTP: where the instance serves its routes, which the api-gateway service "
                    "proxies; LOAD: its open HTTP connections. --json lists the routes.\n";
  });
}

}  // namespace sg::cli
