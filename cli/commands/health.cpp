// streamgate health: exit 0 healthy, 1 degraded, 2 unhealthy, 3 no daemon.
#include <memory>
#include <ostream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "cli/commands/commands.h"
#include "cli/output.h"
#include "common/exit_codes.h"

namespace sg::cli {
namespace {

struct HealthArgs {
  bool wait = false;
  double timeout_seconds = 60;
};

int CodeFor(const std::string& status) {
  if (status == "healthy") return 0;
  if (status == "degraded") return 1;
  return 2;
}

void Health(Context& context, const HealthArgs& args) {
  using Clock = std::chrono::steady_clock;
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(args.timeout_seconds * 1000));
  std::optional<nlohmann::ordered_json> result;
  std::ostringstream quiet;  // while waiting, connection errors are expected and not shown
  for (;;) {
    std::ostream* err = context.err;
    if (args.wait) context.err = &quiet;
    result = context.Call(control::Command::kHealth);
    context.err = err;
    const bool healthy = result && result->value("status", "") == "healthy";
    if (!args.wait || healthy || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // between health polls
  }
  if (!result) {
    if (args.wait) *context.err << quiet.str();
    context.exit_code = kExitUnreachable;
    return;
  }
  const std::string status = result->value("status", "unhealthy");
  if (context.json) {
    context.PrintJson(*result);
  } else {
    *context.out << status << '\n';
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : result->value("plugins", nlohmann::ordered_json::array())) {
      rows.push_back({StateGlyph(p.value("state", "")), p.value("name", ""), p.value("status", ""),
                      fmt::format("{:.2f} ms", p.value("latency_ms", 0.0)),
                      p.value("message", "")});
    }
    PrintTable(*context.out, rows, "  ");
  }
  context.exit_code = CodeFor(status);
}

}  // namespace

void AddHealthCommand(CLI::App& app, Context& context) {
  auto args = std::make_shared<HealthArgs>();
  auto* cmd = app.add_subcommand(
      "health",
      "Overall and per-plugin health; exit 0 healthy, 1 degraded, 2 unhealthy, 3 no daemon");
  cmd->add_flag("--wait", args->wait, "Wait until healthy (or the timeout), polling");
  cmd->add_option("--timeout", args->timeout_seconds, "With --wait, seconds to wait (default 60)")
      ->check(CLI::PositiveNumber);
  cmd->callback([&context, args] { Health(context, *args); });
}

}  // namespace sg::cli
