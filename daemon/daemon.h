// The daemon process: configuration, logging, signals and the service-manager handshake around
// the microkernel. main() only parses flags and calls RunDaemon. daemon.cpp starts and stops it;
// daemon_control.cpp answers what the control socket asks of it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/logging.h"
#include "config/loader.h"
#include "daemon/bus/nats_bus.h"
#include "daemon/control/control_server.h"
#include "daemon/control/dispatcher.h"
#include "daemon/discovery.h"
#include "daemon/kernel/kernel.h"
#include "daemon/log_level_timers.h"
#include "daemon/options.h"
#include "daemon/plugin_api/access_guard.h"
#include "daemon/plugin_api/blocking_pool.h"
#include "daemon/plugin_api/listeners.h"
#include "daemon/plugin_api/metrics.h"
#include "daemon/plugin_api/storage.h"
#include "daemon/plugins/builtin_config.h"
#include "daemon/plugins/worker/job_queue_client.h"
#include "daemon/status_cache.h"

namespace sg::daemon {

/// The daemon: one per process. Run() on the main thread; the control socket's workers call the
/// ControlTarget methods from their threads once it serves.
class Daemon final : public control::ControlTarget {
 public:
  explicit Daemon(const Options& options) : options_(options) {}
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  /// Starts everything, serves until a signal or a stop request, stops everything; returns the
  /// exit code (see RunDaemon).
  int Run();

  // control::ControlTarget
  nlohmann::ordered_json Identity() override;
  std::vector<kernel::PluginInfo> Plugins() override { return kernel_->Plugins(); }
  kernel::HealthSummary Health() override { return kernel_->CheckHealth(); }
  Result<kernel::PluginInfo> StartPlugin(const std::string& name) override {
    return kernel_->StartPlugin(name);
  }
  Result<std::vector<kernel::PluginInfo>> StopPlugin(const std::string& name,
                                                     bool cascade) override {
    return kernel_->StopPlugin(name, cascade);
  }
  Result<std::vector<kernel::PluginInfo>> RestartPlugin(const std::string& name,
                                                        bool cascade) override {
    return kernel_->RestartPlugin(name, cascade);
  }
  nlohmann::ordered_json ShowConfig() override;
  nlohmann::ordered_json ValidateConfig(const std::optional<std::string>& file) override;
  nlohmann::ordered_json Reload() override;
  log::LogHub& Logs() override { return *logs_; }
  std::optional<std::chrono::system_clock::time_point> SetLogLevel(
      spdlog::level::level_enum level, const std::string& component,
      std::optional<std::chrono::seconds> revert_after) override;
  std::string StreamLogs(spdlog::level::level_enum level) override;
  void Shutdown() override;
  nlohmann::ordered_json Services() override {
    if (!discovery_) return nlohmann::ordered_json::array();
    return discovery_->ToJson();
  }
  const ServiceRegistry* PluginServices() override { return &services_; }

 private:
  config::LoadResult LoadConfig() const {
    config::LoadOptions load;
    load.path = options_.config_path;
    load.env = config::ProcessEnvironment();
    load.overrides = options_.overrides;
    return config::Load(plugins::BuiltinSchema(), load);
  }

  std::shared_ptr<const config::Config> Current() {
    std::lock_guard lock(config_mu_);
    return config_;
  }

  /// Everything from the bus to the control socket, then waits for a stop; returns the exit code.
  /// Whatever it started, Teardown stops, on every path.
  int Serve(const config::Config& config);
  void Teardown();
  void WaitForSignals();
  void DoWaitSignal();
  void OnSignal(const boost::system::error_code& ec, int signo);
  void RequestStop(const std::string& why);
  void LogShutdownProgress();
  void RefreshStatus();
  // What this process serves over HTTP, for its heartbeats.
  HttpPresence HttpPresenceNow() const;
  /// Tells the service manager (sd_notify, libsystemd loaded on first use); a no-op when none
  /// listens (no NOTIFY_SOCKET).
  static void Notify(const std::string& state);

  const Options& options_;
  std::mutex config_mu_;
  std::shared_ptr<const config::Config> config_;  // guarded by config_mu_ once threads run
  std::unique_ptr<log::LogHub> logs_;
  std::shared_ptr<spdlog::logger> logger_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;  // run io_
  std::unique_ptr<LogLevelTimers> levels_;
  std::unique_ptr<boost::asio::signal_set> signals_;
  std::unique_ptr<boost::asio::steady_timer> progress_timer_;
  std::unique_ptr<Bus> bus_;
  bus::NatsBus* nats_ = nullptr;  // bus_ in microservice mode
  std::unique_ptr<Discovery> discovery_;
  // Microservice mode, in every process but the worker's: the "worker" service on the shared
  // JetStream queue. Goes before bus_ (and is shut down explicitly after the plugins stop).
  std::unique_ptr<plugins::JobQueueClient> jobs_;
  std::shared_ptr<AccessGuard> access_;
  // How often the health cache is refreshed: each second, or in microservice mode each half
  // heartbeat, so that a lost service shows within two heartbeats.
  std::chrono::milliseconds status_period_{1000};
  ServiceRegistry services_;
  std::unique_ptr<BlockingPool> blocking_;  // outlives the kernel: plugins' work runs on it
  std::unique_ptr<Storage> storage_;        // storage.*; outlives the kernel too
  std::unique_ptr<kernel::Kernel> kernel_;
  std::shared_ptr<StatusCache> status_;
  std::shared_ptr<MetricsRegistry> metrics_ = std::make_shared<MetricsRegistry>();
  std::shared_ptr<Listeners> listeners_ = std::make_shared<Listeners>();
  std::unique_ptr<boost::asio::steady_timer> status_timer_;

  std::unique_ptr<control::Dispatcher> dispatcher_;
  std::unique_ptr<control::ControlServer> control_;
  std::string endpoint_;
  std::string log_endpoint_;  // set before the control socket serves; read by its workers
  std::string service_;
  const std::chrono::system_clock::time_point started_at_ = std::chrono::system_clock::now();

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_requested_ = false;  // guarded by mu_
  std::mutex reload_mu_;         // one reload at a time
};

/// Runs streamgated until a signal stops it. Returns the process exit code: 0 after a clean stop,
/// 78 for an invalid configuration, 1 for any other startup failure.
int RunDaemon(const Options& options);

}  // namespace sg::daemon
