#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include "common/build_info.h"
#include "config/diff.h"
#include "daemon/daemon.h"

// What the control socket asks of the daemon: identity, configuration, reload and log levels.
namespace sg::daemon {

nlohmann::ordered_json Daemon::Identity() {
  const auto config = Current();
  const auto now = std::chrono::system_clock::now();
  return {
      {"pid", getpid()},
      {"version", SG_VERSION},
      {"commit", SG_GIT_COMMIT},
      {"mode", config->String("app.mode")},
      {"service", service_},
      {"started_at", fmt::format("{:%Y-%m-%dT%H:%M:%S}Z",
                                 fmt::gmtime(std::chrono::system_clock::to_time_t(started_at_)))},
      {"uptime_seconds",
       std::chrono::duration_cast<std::chrono::seconds>(now - started_at_).count()},
      {"config_file", config->file()},
      {"endpoint", endpoint_},
      {"log_endpoint", log_endpoint_},
      // The URLs the plugins serve at, with the ports actually bound.
      {"listeners", listeners_->All()}};
}

nlohmann::ordered_json Daemon::ShowConfig() {
  const auto config = Current();
  return {{"file", config->file()}, {"keys", config->ToJson()}};
}

nlohmann::ordered_json Daemon::ValidateConfig(const std::optional<std::string>& file) {
  config::LoadOptions load;
  load.path = file ? file : options_.config_path;
  if (!load.path && !Current()->file().empty()) load.path = Current()->file();
  load.search = false;
  load.env = config::ProcessEnvironment();
  if (!file) load.overrides = options_.overrides;
  const config::LoadResult result = config::Load(Current()->schema(), load);
  nlohmann::ordered_json diagnostics = nlohmann::ordered_json::array();
  for (const auto& d : result.diagnostics) diagnostics.push_back(d.ToJson());
  return {{"file", result.config.file()}, {"valid", result.Ok()},
          {"errors", result.Errors()},    {"warnings", result.Warnings()},
          {"diagnostics", diagnostics},   {"summary", config::Summary(result, false)}};
}

std::optional<std::chrono::system_clock::time_point> Daemon::SetLogLevel(
    spdlog::level::level_enum level, const std::string& component,
    std::optional<std::chrono::seconds> revert_after) {
  return levels_->Set(level, component, revert_after);
}

std::string Daemon::StreamLogs(spdlog::level::level_enum level) {
  levels_->LeaseViewer(level);
  return log_endpoint_;
}

nlohmann::ordered_json Daemon::Reload() {
  std::lock_guard reload(reload_mu_);
  Notify(fmt::format(
      "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC={}",
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
          .count()));
  logger_->info("Reloading configuration");
  config::LoadResult loaded = LoadConfig();
  nlohmann::ordered_json result;
  result["file"] = loaded.config.file();
  if (!loaded.Ok()) {
    nlohmann::ordered_json diagnostics = nlohmann::ordered_json::array();
    for (const auto& d : loaded.diagnostics) {
      logger_->error(d.Format());
      diagnostics.push_back(d.ToJson());
    }
    logger_->error(log::With("Configuration reload rejected; keeping the running configuration",
                             {{"errors", static_cast<int64_t>(loaded.Errors())}}));
    Notify("READY=1\nSTATUS=running (last reload rejected)");
    result["outcome"] = "rejected";
    result["message"] = config::Summary(loaded, false) + "; kept the running configuration";
    result["diagnostics"] = diagnostics;
    return result;
  }
  auto next = std::make_shared<const config::Config>(std::move(loaded.config));
  const auto current = Current();
  nlohmann::ordered_json changed = nlohmann::ordered_json::array();
  for (const auto& c : config::Diff(*current, *next)) {
    changed.push_back({{"key", c.key},
                       {"from", c.from},
                       {"to", c.to},
                       {"needs_daemon_restart", c.needs_daemon_restart}});
    logger_->info(
        log::With("Configuration changed", {{"key", c.key}, {"from", c.from}, {"to", c.to}}));
    if (c.needs_daemon_restart)
      logger_->warn(log::With("Change takes effect after a daemon restart", {{"key", c.key}}));
  }
  result["changed"] = changed;
  if (changed.empty()) {
    logger_->info("Configuration reloaded: nothing changed");
    result["outcome"] = "unchanged";
    result["plugins"] = nlohmann::ordered_json::object();
    Notify("READY=1\nSTATUS=running");
    return result;
  }
  const auto outcome = kernel_->Reconfigure(next);
  nlohmann::ordered_json plugins = nlohmann::ordered_json::object();
  for (const auto& [plugin, what] : outcome.plugins) {
    plugins[plugin] = what;
    logger_->info(log::With("Plugin reconfigured", {{"name", plugin}, {"outcome", what}}));
  }
  result["plugins"] = plugins;
  if (!outcome.applied) {
    logger_->error("Configuration reload rejected by a plugin; keeping the running configuration");
    result["outcome"] = "rejected";
    result["message"] = "a plugin rejected the new configuration; kept the running configuration";
    Notify("READY=1\nSTATUS=running (last reload rejected)");
    return result;
  }
  logs_->SetLevel(log::ParseLevel(next->String("logging.level")).value_or(spdlog::level::info));
  {
    std::lock_guard lock(config_mu_);
    config_ = next;
  }
  logger_->info(
      log::With("Configuration reloaded", {{"changed", static_cast<int64_t>(changed.size())}}));
  result["outcome"] = "applied";
  Notify("READY=1\nSTATUS=running");
  return result;
}

}  // namespace sg::daemon
