// The microkernel: the plugin registry, their lifecycle (start in dependency order, stop in
// reverse, every call bounded by a timeout), runtime control, restart policies and health. The
// lifecycle lives in kernel.cpp; the dependency graph, restarts and health probing in files of
// their own.
#pragma once

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/logging.h"
#include "daemon/kernel/dependency_graph.h"
#include "daemon/kernel/plugin_scope.h"
#include "daemon/kernel/restart_backoff.h"
#include "daemon/plugin_api/blocking_pool.h"
#include "daemon/plugin_api/plugin.h"

namespace sg::kernel {

enum class PluginState {
  kRegistered,
  kInitialized,
  kStarting,
  kRunning,
  kStopping,
  kStopped,
  kFailed
};

/// "registered", "initialized", "starting", "running", "stopping", "stopped", "failed".
std::string_view PluginStateName(PluginState state);

struct KernelOptions {
  std::string mode = "monolith";                  // for the log lines
  std::chrono::milliseconds call_timeout{10000};  // daemon.plugin_timeout: Init, Start, Reconfigure
  std::chrono::milliseconds health_timeout{2000};  // daemon.health_timeout
  BlockingPool* blocking = nullptr;                // handed to every plugin for its blocking work
  Storage* storage = nullptr;                      // storage.*: handed to every plugin
};

/// A snapshot of one plugin, for status, health and the control socket.
struct PluginInfo {
  std::string name;
  std::string version;
  std::vector<std::string> dependencies;
  PluginState state = PluginState::kRegistered;
  std::string reason;                           // why failed or stopped; "" otherwise
  std::chrono::system_clock::time_point since;  // when the state last changed
  int restarts = 0;                             // restarts by the policy so far
  std::optional<std::chrono::system_clock::time_point> next_restart;
  RestartPolicy policy;
};

struct PluginHealth {
  std::string name;
  std::string version;
  PluginState state = PluginState::kRegistered;
  HealthReport report;
  std::chrono::microseconds latency{0};
};

struct HealthSummary {
  HealthStatus overall = HealthStatus::kHealthy;
  std::vector<PluginHealth> plugins;
};

/// Thread-safe: lifecycle operations run one at a time; snapshots and health may be read
/// concurrently from any thread.
class Kernel {
 public:
  Kernel(KernelOptions options, std::shared_ptr<const config::Config> config, log::LogHub& logs,
         Bus& bus, ServiceRegistry& services, boost::asio::any_io_executor executor);
  ~Kernel();
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;

  /// Adds a plugin; kInvalidArgument for a duplicate name.
  Result<void> Register(std::unique_ptr<Plugin> plugin, RestartPolicy policy = {});

  /// Checks the dependency graph (a missing dependency or a cycle is an error naming the plugins)
  /// then initializes and starts every plugin in dependency order. A plugin that fails is marked
  /// failed and its dependents are not started; that is not an error of StartAll.
  Result<void> StartAll();

  /// Stops every plugin in reverse start order, each with the time left until `deadline`.
  void StopAll(Deadline deadline);

  /// Starts one stopped or failed plugin (initializing it first if it never was).
  Result<PluginInfo> StartPlugin(const std::string& name);
  /// Stops one plugin. kFailedPrecondition, naming them, when running plugins depend on it,
  /// unless `cascade`, which stops them first. Returns every plugin it stopped.
  Result<std::vector<PluginInfo>> StopPlugin(const std::string& name, bool cascade);
  /// Stops then starts; with `cascade`, its dependents too.
  Result<std::vector<PluginInfo>> RestartPlugin(const std::string& name, bool cascade);

  std::vector<PluginInfo> Plugins() const;
  Result<PluginInfo> Plugin(const std::string& name) const;
  /// The names of every plugin, for did-you-mean messages.
  std::vector<std::string> Names() const;
  /// The plugin still inside Stop() during StopAll, for "waiting for" messages; "" when none.
  std::string Stopping() const;

  /// What a plugin registered through its context and still holds: kNotFound for a name not
  /// registered. Nothing registered while it ran is left once it stopped.
  Result<PluginScope::Counts> Registrations(const std::string& name) const;

  /// Asks every running plugin for its health, in parallel, each bounded by the health timeout.
  HealthSummary CheckHealth() const;

  struct ReconfigureOutcome {
    bool applied = false;  // false: some plugin rejected it, and nothing changed
    /// Per running plugin: "applied", "restart required", "unchanged" (none of its keys
    /// changed), "rejected: reason", "not applied" or "failed: reason".
    std::map<std::string, std::string> plugins;
  };
  /// Offers a new configuration to the running plugins, all or nothing: every plugin checks it
  /// first, and only when all accept is it applied.
  ReconfigureOutcome Reconfigure(const std::shared_ptr<const config::Config>& config);

 private:
  struct Slot;  // daemon/kernel/slot.h

  Slot* Find(const std::string& name) const;                     // requires mu_
  std::vector<PluginNode> Nodes(bool in_start_order) const;      // requires mu_
  Error NoSuchPlugin(const std::string& name) const;             // requires mu_
  std::vector<Slot*> RunningDependents(const Slot& slot) const;  // requires mu_
  void SetState(Slot& slot, PluginState state, std::string reason = {});
  PluginInfo Snapshot(const Slot& slot) const;  // requires mu_

  /// `config_error`, when given, receives an Init failure of code kConfig: one that only the
  /// operator can fix (a data file that is not what it should be), which fails the daemon's start.
  bool InitSlot(Slot& slot, std::optional<Error>* config_error = nullptr);  // requires op_mu_
  bool StartSlot(Slot& slot);                                               // requires op_mu_
  void StopSlot(Slot& slot, Deadline deadline, const std::string& reason);  // requires op_mu_
  void StartBlockedDependents();                                            // requires op_mu_
  void OnFailure(const std::string& name, const std::string& reason);
  void ScheduleRestart(Slot& slot);                        // requires op_mu_
  void MarkFailed(Slot& slot, const std::string& reason);  // requires op_mu_

  const KernelOptions options_;
  std::shared_ptr<const config::Config> config_;
  log::LogHub& logs_;
  std::shared_ptr<spdlog::logger> logger_;
  Bus& bus_;
  ServiceRegistry& services_;
  boost::asio::any_io_executor executor_;

  std::mutex op_mu_;  // serializes lifecycle operations; taken before mu_
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Slot>> slots_;  // guarded by mu_ (the vector; slots live as long)
  std::vector<std::string> start_order_;      // guarded by mu_
  std::string stopping_;                      // guarded by mu_
  bool shutting_down_ = false;                // guarded by mu_
};

}  // namespace sg::kernel
