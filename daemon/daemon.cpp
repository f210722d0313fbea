#include "daemon/daemon.h"

#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <map>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "common/build_info.h"
#include "common/exit_codes.h"
#include "common/fd_limits.h"
#include "common/logging.h"
#include "common/paths.h"
#include "common/strings.h"
#include "daemon/bus/memory_bus.h"
#include "daemon/bus/nats_bus.h"
#include "daemon/control/control_server.h"
#include "daemon/control/dispatcher.h"
#include "daemon/daemon_metrics.h"
#include "daemon/discovery.h"
#include "daemon/kernel/kernel.h"
#include "daemon/pid_file.h"
#include "daemon/plugin_api/cache_rpc.h"
#include "daemon/plugin_api/daemon_view.h"
#include "daemon/plugin_api/listeners.h"
#include "daemon/plugin_api/metrics.h"
#include "daemon/plugins/builtin.h"

namespace sg::daemon {
namespace {

namespace asio = boost::asio;

log::Options LogOptionsFrom(const config::Config& config, const std::string& service) {
  log::Options options;
  options.level = log::ParseLevel(config.String("logging.level")).value_or(spdlog::level::info);
  options.format = log::ParseFormat(config.String("logging.format")).value_or(log::Format::kProd);
  options.file = config.String("logging.file");
  options.max_file_bytes = static_cast<size_t>(config.Int("logging.max_size"));
  options.max_files = static_cast<size_t>(config.Int("logging.max_files"));
  options.ring_size = static_cast<size_t>(config.Int("logging.ring_size"));
  options.service = service;
  return options;
}

kernel::RestartPolicy PolicyFrom(const config::Config& config) {
  kernel::RestartPolicy policy;
  policy.mode = config.String("plugins.restart") == "never"
                    ? kernel::RestartPolicy::Mode::kNever
                    : kernel::RestartPolicy::Mode::kOnFailure;
  policy.limit = static_cast<int>(config.Int("plugins.restart_limit"));
  policy.backoff = config.Duration("plugins.restart_backoff");
  policy.max_backoff = config.Duration("plugins.restart_backoff_max");
  return policy;
}

void Notify(const std::string& state) { sd_notify(0, state.c_str()); }

// Keys the daemon applies itself on reload; everything else goes to the plugins, and these need a
// restart of the daemon to change.
bool NeedsDaemonRestart(std::string_view key) {
  return key == "app.mode" || key == "app.name" || key == "control.endpoint" ||
         key.starts_with("daemon.blocking_") ||
         key.starts_with("nats.") || (key.starts_with("logging.") && key != "logging.level");
}

// Raises the soft open-file limit to the hard one, as nginx's worker_rlimit_nofile does: every
// HTTP connection is a descriptor.
void RaiseFileLimit(spdlog::logger& logger) {
  const DescriptorLimit before = CurrentDescriptorLimit();
  const DescriptorLimit after = RaiseDescriptorLimit();
  if (after.soft != before.soft) {
    logger.debug(log::With("Raised the open file limit",
                           {{"from", static_cast<int64_t>(before.soft)},
                            {"to", static_cast<int64_t>(after.soft)}}));
  }
}

// Nothing the daemon does needs root (a port below 1024 needs one capability), so running as root
// only widens what a flaw in it could reach: say so, once, with the way out. Silent otherwise.
void WarnIfRoot(spdlog::logger& logger) {
  if (geteuid() != 0) return;
  // systemd sets INVOCATION_ID for every unit it runs.
  const bool service = std::getenv("INVOCATION_ID") != nullptr;
  logger.warn(log::With(
      "Running as root, which streamgated does not need",
      {{"remedy",
        service ? "the shipped streamgated.service runs it as the unprivileged user streamgate: "
                  "remove User=root (or the drop-in that sets it) and restart"
                : "run it as the service (systemctl enable --now streamgated), which uses the "
                  "unprivileged user streamgate, or start it as any user who is not root"}}));
}

// What plugins may know of the daemon: identity, readiness, and health from a cache that a
// timer refreshes, so that /health costs an atomic load.
class StatusCache final : public DaemonView {
 public:
  StatusCache(kernel::Kernel& kernel, std::string mode, std::string service)
      : kernel_(kernel), mode_(std::move(mode)), service_(std::move(service)) {}

  // Microservice mode: the NATS connection and the rest of the deployment count too.
  void Attach(const bus::NatsBus* nats, const Discovery* discovery) {
    std::lock_guard lock(mu_);
    nats_ = nats;
    discovery_ = discovery;
  }

  void Refresh() {
    kernel::HealthSummary summary = kernel_.CheckHealth();
    local_ = summary.overall;
    HealthStatus overall = summary.overall;
    std::lock_guard lock(mu_);
    if (nats_ != nullptr && !nats_->Connected()) overall = Worst(overall, HealthStatus::kDegraded);
    if (discovery_ != nullptr) {
      const auto instances = discovery_->Instances();
      for (const auto& in : instances) {
        // A dead instance whose service runs again elsewhere (a restart) was replaced.
        const bool replaced =
            !in.alive && std::any_of(instances.begin(), instances.end(), [&](const Instance& o) {
              return o.alive && o.service == in.service;
            });
        // Another service gone or unwell makes this deployment degraded, not this process down.
        if (!replaced && (!in.alive || in.health != "healthy"))
          overall = Worst(overall, HealthStatus::kDegraded);
      }
    }
    overall_ = overall;
    health_ = std::move(summary);
  }

  HealthStatus Overall() const override { return overall_.load(); }
  /// This process's own plugins only, for its heartbeat.
  HealthStatus Local() const { return local_.load(); }

  DaemonStatus Status() const override {
    DaemonStatus status;
    status.version = SG_VERSION;
    status.mode = mode_;
    status.service = service_;
    status.uptime_seconds =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count();
    status.overall = overall_.load();
    std::lock_guard lock(mu_);
    for (const auto& info : kernel_.Plugins()) {
      PluginStatus p{info.name,
                     info.version,
                     std::string(kernel::PluginStateName(info.state)),
                     HealthStatus::kUnhealthy,
                     info.reason,
                     0};
      for (const auto& h : health_.plugins) {
        if (h.name != info.name) continue;
        p.health = h.report.status;
        if (p.message.empty()) p.message = h.report.message;
        p.latency_ms = static_cast<double>(h.latency.count()) / 1000.0;
      }
      if (info.state != kernel::PluginState::kRunning) status.not_running.push_back(info.name);
      status.plugins.push_back(std::move(p));
    }
    status.bus = nats_ != nullptr ? nats_->State() : "memory";
    if (discovery_ != nullptr) {
      for (const auto& in : discovery_->Instances()) {
        HealthStatus h = HealthStatus::kUnhealthy;
        if (in.alive && in.health == "healthy") h = HealthStatus::kHealthy;
        if (in.alive && in.health == "degraded") h = HealthStatus::kDegraded;
        status.services.push_back({in.service, in.id, in.host, in.pid, h, in.alive});
      }
    }
    return status;
  }

 private:
  kernel::Kernel& kernel_;
  const std::string mode_;
  const std::string service_;
  const Clock::time_point started_ = Clock::now();
  std::atomic<HealthStatus> overall_{HealthStatus::kHealthy};
  std::atomic<HealthStatus> local_{HealthStatus::kHealthy};
  mutable std::mutex mu_;
  kernel::HealthSummary health_;          // guarded by mu_
  const bus::NatsBus* nats_ = nullptr;    // guarded by mu_
  const Discovery* discovery_ = nullptr;  // guarded by mu_
};

class Daemon final : public control::ControlTarget {
 public:
  explicit Daemon(const Options& options) : options_(options) {}

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

 private:
  config::LoadResult LoadConfig() const {
    config::LoadOptions load;
    load.path = options_.config_path;
    load.env = config::ProcessEnvironment();
    load.overrides = options_.overrides;
    return config::Load(load);
  }

  std::shared_ptr<const config::Config> Current() {
    std::lock_guard lock(config_mu_);
    return config_;
  }

  void WaitForSignals();
  void DoWaitSignal();
  void OnSignal(const boost::system::error_code& ec, int signo);
  void RequestStop(const std::string& why);
  void LogShutdownProgress();
  void UpdateViewerFloor();
  void RefreshStatus();

  const Options& options_;
  std::mutex config_mu_;
  std::shared_ptr<const config::Config> config_;  // guarded by config_mu_ once threads run
  std::unique_ptr<log::LogHub> logs_;
  std::shared_ptr<spdlog::logger> logger_;
  asio::io_context io_;
  std::unique_ptr<asio::signal_set> signals_;
  std::unique_ptr<asio::steady_timer> progress_timer_;
  std::unique_ptr<Bus> bus_;
  bus::NatsBus* nats_ = nullptr;  // bus_ in microservice mode
  std::unique_ptr<Discovery> discovery_;
  // How often the health cache is refreshed: each second, or in microservice mode each half
  // heartbeat, so that a lost service shows within two heartbeats.
  std::chrono::milliseconds status_period_{1000};
  ServiceRegistry services_;
  std::unique_ptr<BlockingPool> blocking_;  // outlives the kernel: plugins' work runs on it
  std::unique_ptr<kernel::Kernel> kernel_;
  std::shared_ptr<StatusCache> status_;
  std::shared_ptr<MetricsRegistry> metrics_ = std::make_shared<MetricsRegistry>();
  std::shared_ptr<Listeners> listeners_ = std::make_shared<Listeners>();
  std::unique_ptr<asio::steady_timer> status_timer_;

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

  std::mutex levels_mu_;
  // Timers that revert a temporary level, per component ("" for the default level).
  struct LevelTimer {
    std::unique_ptr<asio::steady_timer> timer;
    std::optional<spdlog::level::level_enum> previous;  // the level to go back to
  };
  std::map<std::string, LevelTimer> level_timers_;  // guarded by levels_mu_
  // Log viewers' levels and when each registration lapses.
  std::vector<std::pair<spdlog::level::level_enum, Clock::time_point>>
      viewers_;                                       // guarded by levels_mu_
  std::unique_ptr<asio::steady_timer> viewer_timer_;  // guarded by levels_mu_
};

int Daemon::Run() {
  // Take the signals first: one that arrives during startup waits for WaitForSignals instead of
  // killing the process half-started.
  signals_ = std::make_unique<asio::signal_set>(io_, SIGINT, SIGTERM, SIGHUP);
  config::LoadResult loaded = LoadConfig();
  if (!loaded.Ok()) {
    for (const auto& d : loaded.diagnostics) std::cerr << d.Format() << '\n';
    std::cerr << "streamgated: " << config::Summary(loaded, false) << '\n';
    return kExitConfig;
  }
  config_ = std::make_shared<const config::Config>(std::move(loaded.config));
  // The startup configuration, held here: a reload replaces config_ while this runs.
  const std::shared_ptr<const config::Config> startup_config = config_;
  const config::Config& config = *startup_config;
  const std::string& mode = config.String("app.mode");
  const bool monolith = mode == "monolith";
  if (monolith && !options_.service.empty()) {
    std::cerr << "streamgated: --service " << options_.service
              << " runs one service of a microservice deployment: add --mode microservice (or set "
                 "app.mode: microservice)\n";
    return kExitUsage;
  }
  if (!monolith && options_.service.empty()) {
    std::cerr << "streamgated: microservice mode runs one service per process: name it with "
                 "--service NAME (one of: "
              << Join(config::ServiceNames(), ", ") << ")\n";
    return kExitFailure;
  }
  service_ =
      config.String("app.name") + "-" + (monolith ? std::string("monolith") : options_.service);

  auto hub = log::LogHub::Create(LogOptionsFrom(config, service_));
  if (!hub) {
    std::cerr << "streamgated: " << hub.error().message << '\n';
    return kExitFailure;
  }
  logs_ = std::move(hub).value();
  logger_ = logs_->Get("daemon");
  RaiseFileLimit(*logger_);
  logger_->info(log::With(monolith ? "Starting StreamGate Monolithic Mode..."
                                   : "Starting StreamGate Microservice Mode...",
                          {{"version", SG_VERSION}, {"pid", static_cast<int64_t>(getpid())}}));
  WarnIfRoot(*logger_);
  for (const auto& d : loaded.diagnostics) logger_->warn(d.Format());
  logger_->info(log::With("Configuration loaded",
                          {{"mode", mode},
                           {"port", config.Int("server.port")},
                           {"file", config.file().empty() ? "built-in defaults" : config.file()}}));

  // One daemon per control endpoint.
  endpoint_ = ControlEndpoint(config.String("control.endpoint"), monolith ? "" : options_.service);
  const std::string& endpoint = endpoint_;
  // The runtime directory holds the default socket and the pid files of every endpoint but a
  // custom ipc path.
  if (!config.String("control.endpoint").starts_with("ipc://")) {
    if (auto made = EnsurePrivateDir(RuntimeDir()); !made) {
      logger_->critical(
          log::With("Cannot prepare the runtime directory", {{"error", made.error().message}}));
      return kExitFailure;
    }
  }
  bool stale = false;
  pid_t stale_pid = 0;
  auto pid_file = PidFile::Acquire(PidFileFor(endpoint), stale, stale_pid);
  if (!pid_file) {
    logger_->critical(pid_file.error().message);
    std::cerr << "streamgated: " << pid_file.error().message << '\n';
    return kExitFailure;
  }
  if (stale) {
    logger_->warn(
        log::With("Replaced a stale pid file left by a daemon that is gone",
                  {{"file", (*pid_file)->path()}, {"old_pid", static_cast<int64_t>(stale_pid)}}));
  }

  auto work = asio::make_work_guard(io_);
  const unsigned thread_count = std::max(2u, std::thread::hardware_concurrency());
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < thread_count; ++i) threads.emplace_back([this] { io_.run(); });

  if (monolith) {
    bus_ = std::make_unique<bus::MemoryBus>(io_.get_executor(), logs_->Get("bus"));
  } else {
    bus::NatsOptions nats;
    nats.urls.push_back(config.String("nats.url"));
    for (const auto& u : config.List("nats.urls")) nats.urls.push_back(u);
    nats.user = config.String("nats.user");
    nats.password = config.String("nats.password");
    nats.token = config.String("nats.token");
    nats.tls_ca = config.String("nats.tls_ca");
    nats.tls_cert = config.String("nats.tls_cert");
    nats.tls_key = config.String("nats.tls_key");
    nats.subject_prefix = config.String("nats.subject_prefix");
    nats.reconnect_wait = config.Duration("nats.reconnect_wait");
    nats.max_reconnects = static_cast<int>(config.Int("nats.max_reconnects"));
    nats.reconnect_buffer_bytes = static_cast<int>(config.Int("nats.reconnect_buffer"));
    nats.name = service_;
    auto made = bus::NatsBus::Create(nats, logs_->Get("bus"));
    if (!made) {
      logger_->critical(log::With("Cannot set up the NATS bus", {{"error", made.error().message}}));
      std::cerr << "streamgated: " << made.error().message << '\n';
      work.reset();
      io_.stop();
      for (auto& t : threads) t.join();
      return made.error().code == ErrorCode::kConfig ? kExitConfig : kExitFailure;
    }
    nats_ = made->get();
    bus_ = std::move(made).value();
  }
  kernel::KernelOptions kernel_options;
  kernel_options.mode = mode;
  kernel_options.call_timeout = config.Duration("daemon.plugin_timeout");
  kernel_options.health_timeout = config.Duration("daemon.health_timeout");
  blocking_ = std::make_unique<BlockingPool>(
      static_cast<size_t>(config.Int("daemon.blocking_threads")),
      static_cast<size_t>(config.Int("daemon.blocking_queue")), logs_->Get("blocking"));
  kernel_options.blocking = blocking_.get();
  kernel_ = std::make_unique<kernel::Kernel>(kernel_options, config_, *logs_, *bus_, services_,
                                             io_.get_executor());
  status_ = std::make_shared<StatusCache>(*kernel_, mode, service_);
  services_.Provide<DaemonView>("daemon", status_);
  services_.Provide<MetricsRegistry>("metrics", metrics_);
  services_.Provide<Listeners>("listeners", listeners_);
  if (!monolith && options_.service != "cache") {
    // The cache lives in its own process: calls to it travel over NATS.
    services_.Provide<Cache>("cache",
                             MakeRemoteCache(*bus_, config.Duration("nats.request_timeout")));
  }
  MetricSources sources{
      kernel_.get(), bus_.get(), logs_.get(), [this] { return dispatcher_.get(); }, {},
      mode,          service_};
  if (nats_ != nullptr) {
    sources.nats = [nats = nats_] {
      return std::pair<std::string, uint64_t>(nats->State(), nats->Reconnects());
    };
  }
  RegisterDaemonMetrics(*metrics_, sources);
  metrics_->Add([pool = blocking_.get()](std::vector<MetricFamily>& out) {
    const BlockingPool::Stats s = pool->Snapshot();
    auto add = [&out](const char* name, const char* help, const char* type, double v) {
      out.push_back({name, help, type, {{"", {}, v}}});
    };
    add("streamgate_blocking_threads", "Threads for plugins' blocking work", "gauge",
        static_cast<double>(s.threads));
    add("streamgate_blocking_busy_threads", "Blocking-work threads running work now", "gauge",
        static_cast<double>(s.busy));
    add("streamgate_blocking_queue_depth", "Blocking work waiting for a thread", "gauge",
        static_cast<double>(s.queued));
    add("streamgate_blocking_completed_total", "Blocking work finished", "counter",
        static_cast<double>(s.completed));
    add("streamgate_blocking_failed_total", "Blocking work that threw", "counter",
        static_cast<double>(s.failed));
    add("streamgate_blocking_rejected_total",
        "Blocking work refused because daemon.blocking_queue jobs already waited", "counter",
        static_cast<double>(s.rejected));
  });
  const kernel::RestartPolicy policy = PolicyFrom(config);
  int registered = 0;
  for (auto& plugin : plugins::BuiltinPlugins()) {
    const std::string name(plugin->Name());
    const bool wanted = monolith ? config.PluginEnabled(name) : name == options_.service;
    if (!wanted) continue;
    if (auto ok = kernel_->Register(std::move(plugin), policy); !ok) {
      logger_->critical(ok.error().message);
      work.reset();
      io_.stop();
      for (auto& t : threads) t.join();
      return kExitFailure;
    }
    ++registered;
  }
  int exit_code = kExitOk;
  if (!monolith && registered == 0) {
    const std::string message = fmt::format(
        "service '{}' is not built into this streamgated yet; nothing to run", options_.service);
    logger_->critical(message);
    std::cerr << "streamgated: " << message << '\n';
    exit_code = kExitNotBuilt;
  } else {
    if (registered == 0) {
      logger_->warn("No plugins in this build yet; the daemon runs with none");
    }
    if (auto started = kernel_->StartAll(); !started) {
      logger_->critical(
          log::With("Microkernel failed to start", {{"error", started.error().message}}));
      std::cerr << "streamgated: " << started.error().message << '\n';
      exit_code = kExitFailure;
    } else {
      logger_->info("Microkernel started successfully");
      if (nats_ != nullptr) {
        char host[256] = {};
        gethostname(host, sizeof host - 1);
        Instance self{options_.service, NewInstanceId(host), SG_VERSION, host, getpid(),
                      endpoint_,        "healthy",           {},         true};
        discovery_ = std::make_unique<Discovery>(
            *bus_, io_.get_executor(), config.Duration("nats.heartbeat_interval"), self,
            [this] { return status_->Local(); }, logs_->Get("discovery"));
        if (auto started_discovery = discovery_->Start(); !started_discovery) {
          logger_->error(
              log::With("Discovery did not start", {{"error", started_discovery.error().message}}));
        }
        status_->Attach(nats_, discovery_.get());
        status_period_ = std::min(status_period_, config.Duration("nats.heartbeat_interval") / 2);
      }
      RefreshStatus();
      control::ServerSettings settings;
      settings.endpoint = endpoint;
      settings.curve_server_key = config.String("control.curve_server_key");
      settings.curve_authorized_keys = config.String("control.curve_authorized_keys");
      log_endpoint_ = control::LogEndpointFor(endpoint);
      dispatcher_ = std::make_unique<control::Dispatcher>(*this);
      auto server = control::ControlServer::Create(settings, *dispatcher_, *logs_);
      if (!server) {
        logger_->critical(
            log::With("Cannot serve the control socket", {{"error", server.error().message}}));
        std::cerr << "streamgated: " << server.error().message << '\n';
        exit_code = server.error().code == ErrorCode::kConfig ? kExitConfig : kExitFailure;
      } else {
        control_ = std::move(server).value();
        logger_->info(log::With("Control socket ready", {{"endpoint", control_->endpoint()},
                                                         {"logs", control_->log_endpoint()}}));
        logger_->info(monolith ? "StreamGate Monolithic Mode started successfully"
                               : "StreamGate Microservice Mode started successfully");
        Notify(
            fmt::format("READY=1\nSTATUS=running, {} plugins\nMAINPID={}", registered, getpid()));
        WaitForSignals();
      }
    }
  }

  // Graceful shutdown: plugins stop in reverse order within the budget.
  const auto timeout = Current()->Duration("daemon.shutdown_timeout");
  Notify("STOPPING=1\nSTATUS=stopping");
  progress_timer_ = std::make_unique<asio::steady_timer>(io_);
  LogShutdownProgress();
  if (discovery_) discovery_->Stop();
  kernel_->StopAll(Clock::now() + timeout);
  progress_timer_->cancel();
  if (status_timer_) status_timer_->cancel();
  signals_->cancel();
  {
    std::lock_guard lock(levels_mu_);
    for (auto& [name, pending] : level_timers_) pending.timer->cancel();
    if (viewer_timer_) viewer_timer_->cancel();
  }
  // The control socket goes last, so that `streamgate stop` can watch the plugins stop.
  control_.reset();
  work.reset();
  io_.stop();
  for (auto& t : threads) t.join();
  logger_->info("StreamGate stopped");
  logs_->Flush();
  return exit_code;
}

void Daemon::WaitForSignals() {
  DoWaitSignal();
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return stop_requested_; });
}

void Daemon::DoWaitSignal() {
  signals_->async_wait(
      [this](const boost::system::error_code& ec, int signo) { OnSignal(ec, signo); });
}

void Daemon::OnSignal(const boost::system::error_code& ec, int signo) {
  if (ec) return;
  if (signo == SIGHUP) {
    // Reloading blocks on plugins; do it off the signal path so a second signal still works.
    asio::post(io_, [this] { (void)Reload(); });
  } else {
    RequestStop(strsignal(signo));
  }
  DoWaitSignal();
}

void Daemon::RequestStop(const std::string& why) {
  std::lock_guard lock(mu_);
  if (stop_requested_) {
    logger_->warn(log::With("Second stop request: exiting now without waiting", {{"cause", why}}));
    logs_->Flush();
    _exit(kExitFailure);
  }
  stop_requested_ = true;
  logger_->info(log::With("Shutting down", {{"cause", why}}));
  cv_.notify_all();
}

void Daemon::Shutdown() {
  // Only the first request counts; a second one over the socket must not kill the daemon.
  {
    std::lock_guard lock(mu_);
    if (stop_requested_) return;
  }
  RequestStop("control request");
}

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
  const config::LoadResult result = config::Load(load);
  nlohmann::ordered_json diagnostics = nlohmann::ordered_json::array();
  for (const auto& d : result.diagnostics) diagnostics.push_back(d.ToJson());
  return {{"file", result.config.file()}, {"valid", result.Ok()},
          {"errors", result.Errors()},    {"warnings", result.Warnings()},
          {"diagnostics", diagnostics},   {"summary", config::Summary(result, false)}};
}

std::optional<std::chrono::system_clock::time_point> Daemon::SetLogLevel(
    spdlog::level::level_enum level, const std::string& component,
    std::optional<std::chrono::seconds> revert_after) {
  std::lock_guard lock(levels_mu_);
  // What to go back to: the level before any temporary change of this component.
  const auto levels = logs_->Levels();
  std::optional<spdlog::level::level_enum> previous;
  if (component.empty()) {
    previous = logs_->DefaultLevel();
  } else if (auto it = levels.find(component); it != levels.end() && it->second.second) {
    previous = it->second.first;
  }
  if (auto it = level_timers_.find(component); it != level_timers_.end()) {
    // A temporary level replacing another still goes back to the level from before the first.
    previous = it->second.previous;
    it->second.timer->cancel();
    level_timers_.erase(it);
  }
  if (component.empty()) {
    logs_->SetLevel(level);
  } else {
    logs_->SetComponentLevel(component, level);
  }
  logger_->info(
      log::With("Log level set", {{"target", component.empty() ? "*" : component},
                                  {"new_level", log::LevelName(level)},
                                  {"for_seconds", revert_after ? revert_after->count() : 0}}));
  if (!revert_after) return std::nullopt;
  auto timer = std::make_unique<asio::steady_timer>(io_, *revert_after);
  timer->async_wait([this, component, previous](const boost::system::error_code& ec) {
    if (ec) return;
    std::lock_guard timers(levels_mu_);
    if (component.empty()) {
      logs_->SetLevel(previous.value_or(spdlog::level::info));
    } else {
      logs_->SetComponentLevel(component, previous);
    }
    logger_->info(
        log::With("Log level reverted", {{"target", component.empty() ? "*" : component}}));
    level_timers_.erase(component);
  });
  level_timers_[component] = LevelTimer{std::move(timer), previous};
  return std::chrono::system_clock::now() + *revert_after;
}

std::string Daemon::StreamLogs(spdlog::level::level_enum level) {
  {
    std::lock_guard lock(levels_mu_);
    // One lease per level, the latest: however often viewers renew, the list stays short.
    const auto until = Clock::now() + std::chrono::seconds(30);
    auto same = std::find_if(viewers_.begin(), viewers_.end(),
                             [level](const auto& v) { return v.first == level; });
    if (same == viewers_.end()) {
      viewers_.emplace_back(level, until);
    } else {
      same->second = until;
    }
  }
  UpdateViewerFloor();
  return log_endpoint_;
}

void Daemon::RefreshStatus() {
  try {
    status_->Refresh();
  } catch (const std::exception& e) {
    // Out of threads, say: keep the last status and try again at the next tick.
    logger_->error(log::With("Health refresh failed", {{"error", e.what()}}));
  }
  if (!status_timer_) status_timer_ = std::make_unique<asio::steady_timer>(io_);
  status_timer_->expires_after(status_period_);
  status_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) RefreshStatus();
  });
}

void Daemon::UpdateViewerFloor() {
  std::lock_guard lock(levels_mu_);
  const auto now = Clock::now();
  std::erase_if(viewers_, [now](const auto& v) { return v.second <= now; });
  std::optional<spdlog::level::level_enum> floor;
  for (const auto& [level, until] : viewers_) floor = floor ? std::min(*floor, level) : level;
  logs_->SetViewerFloor(floor);
  if (viewers_.empty()) return;
  // Look again when the next registration lapses.
  if (!viewer_timer_) viewer_timer_ = std::make_unique<asio::steady_timer>(io_);
  viewer_timer_->expires_after(std::chrono::seconds(5));
  viewer_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) UpdateViewerFloor();
  });
}

void Daemon::LogShutdownProgress() {
  progress_timer_->expires_after(std::chrono::seconds(1));
  progress_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    const std::string waiting = kernel_->Stopping();
    if (!waiting.empty())
      logger_->info(log::With("Waiting for plugin to stop", {{"name", waiting}}));
    LogShutdownProgress();
  });
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
  for (const auto& spec : config::Schema()) {
    if (current->Get(spec.path).value == next->Get(spec.path).value) continue;
    const std::string key(spec.path);
    const bool restart = NeedsDaemonRestart(key);
    changed.push_back({{"key", key},
                       {"from", current->Show(spec.path)},
                       {"to", next->Show(spec.path)},
                       {"needs_daemon_restart", restart}});
    logger_->info(log::With(
        "Configuration changed",
        {{"key", key}, {"from", current->Show(spec.path)}, {"to", next->Show(spec.path)}}));
    if (restart)
      logger_->warn(log::With("Change takes effect after a daemon restart", {{"key", key}}));
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

}  // namespace

int RunDaemon(const Options& options) {
  Daemon daemon(options);
  return daemon.Run();
}

}  // namespace sg::daemon
