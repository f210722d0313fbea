// What the control commands act on. The daemon implements it; tests and the fuzzer use fakes.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "daemon/kernel/kernel.h"
#include "daemon/plugin_api/services.h"

namespace sg::control {

class ControlTarget {
 public:
  virtual ~ControlTarget() = default;

  /// pid, version, mode, uptime, config file, endpoints: everything `status` shows but plugins.
  virtual nlohmann::ordered_json Identity() = 0;

  virtual std::vector<kernel::PluginInfo> Plugins() = 0;
  virtual kernel::HealthSummary Health() = 0;
  virtual Result<kernel::PluginInfo> StartPlugin(const std::string& name) = 0;
  virtual Result<std::vector<kernel::PluginInfo>> StopPlugin(const std::string& name,
                                                             bool cascade) = 0;
  virtual Result<std::vector<kernel::PluginInfo>> RestartPlugin(const std::string& name,
                                                                bool cascade) = 0;

  /// The running configuration as `config show --json` prints it.
  virtual nlohmann::ordered_json ShowConfig() = 0;
  /// Validates `file`, or the file the daemon runs; the same shape as `config validate --json`.
  virtual nlohmann::ordered_json ValidateConfig(const std::optional<std::string>& file) = 0;
  /// Reloads, all or nothing; {"outcome": "applied"|"unchanged"|"rejected", ...}.
  virtual nlohmann::ordered_json Reload() = 0;

  virtual log::LogHub& Logs() = 0;
  /// Sets a level for all components ("" ) or one, reverting after `revert_after` when given.
  /// Returns when it reverts, if it does.
  virtual std::optional<std::chrono::system_clock::time_point> SetLogLevel(
      spdlog::level::level_enum level, const std::string& component,
      std::optional<std::chrono::seconds> revert_after) = 0;
  /// The log stream's endpoint; registers a viewer that wants records down to `level`.
  virtual std::string StreamLogs(spdlog::level::level_enum level) = 0;

  /// Begins a graceful shutdown and returns at once.
  virtual void Shutdown() = 0;

  /// Microservice mode: every instance of the deployment heard from; an empty list otherwise.
  virtual nlohmann::ordered_json Services() = 0;

  /// The services the plugins offer each other, where the videos.* and jobs.* commands find the
  /// catalogue ("metadata") and the job queue ("worker"). Null when there are none (a fake).
  virtual const ServiceRegistry* PluginServices() { return nullptr; }
};

}  // namespace sg::control
