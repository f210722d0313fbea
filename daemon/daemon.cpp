#include "daemon/daemon.h"

#include <condition_variable>
#include <iostream>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "common/build_info.h"
#include "common/exit_codes.h"
#include "common/logging.h"
#include "common/paths.h"
#include "common/strings.h"
#include "daemon/bus/memory_bus.h"
#include "daemon/kernel/kernel.h"
#include "daemon/pid_file.h"
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
         (key.starts_with("logging.") && key != "logging.level");
}

class Daemon {
 public:
  explicit Daemon(const Options& options) : options_(options) {}

  int Run();

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
  void Reload();
  void LogShutdownProgress();

  const Options& options_;
  std::mutex config_mu_;
  std::shared_ptr<const config::Config> config_;  // guarded by config_mu_ once threads run
  std::unique_ptr<log::LogHub> logs_;
  std::shared_ptr<spdlog::logger> logger_;
  asio::io_context io_;
  std::unique_ptr<asio::signal_set> signals_;
  std::unique_ptr<asio::steady_timer> progress_timer_;
  std::unique_ptr<bus::MemoryBus> bus_;
  ServiceRegistry services_;
  std::unique_ptr<kernel::Kernel> kernel_;

  std::mutex mu_;
  std::condition_variable cv_;
  int stop_signal_ = 0;   // guarded by mu_
  std::mutex reload_mu_;  // one reload at a time
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
  const std::string mode = config.String("app.mode");
  const bool monolith = mode == "monolith";
  if (!monolith && options_.service.empty()) {
    std::cerr << "streamgated: microservice mode runs one service per process: name it with "
                 "--service NAME (one of: "
              << Join(config::ServiceNames(), ", ") << "), or use 'streamgate start --mode "
              << "microservice' to start them all\n";
    return kExitFailure;
  }
  const std::string service =
      config.String("app.name") + "-" + (monolith ? std::string("monolith") : options_.service);

  auto hub = log::LogHub::Create(LogOptionsFrom(config, service));
  if (!hub) {
    std::cerr << "streamgated: " << hub.error().message << '\n';
    return kExitFailure;
  }
  logs_ = std::move(hub).value();
  logger_ = logs_->Get("daemon");
  logger_->info(log::With(monolith ? "Starting StreamGate Monolithic Mode..."
                                   : "Starting StreamGate Microservice Mode...",
                          {{"version", SG_VERSION}, {"pid", static_cast<int64_t>(getpid())}}));
  for (const auto& d : loaded.diagnostics) logger_->warn(d.Format());
  logger_->info(log::With("Configuration loaded",
                          {{"mode", mode},
                           {"port", config.Int("server.port")},
                           {"file", config.file().empty() ? "built-in defaults" : config.file()}}));

  // One daemon per control endpoint.
  const std::string endpoint = ControlEndpoint(config.String("control.endpoint"));
  if (config.String("control.endpoint").empty()) {
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

  bus_ = std::make_unique<bus::MemoryBus>(io_.get_executor(), logs_->Get("bus"));
  kernel::KernelOptions kernel_options;
  kernel_options.mode = mode;
  kernel_options.call_timeout = config.Duration("daemon.plugin_timeout");
  kernel_options.health_timeout = config.Duration("daemon.health_timeout");
  kernel_ = std::make_unique<kernel::Kernel>(kernel_options, config_, *logs_, *bus_, services_,
                                             io_.get_executor());
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
    exit_code = kExitFailure;
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
      logger_->info(monolith ? "StreamGate Monolithic Mode started successfully"
                             : "StreamGate Microservice Mode started successfully");
      Notify(fmt::format("READY=1\nSTATUS=running, {} plugins\nMAINPID={}", registered, getpid()));
      WaitForSignals();
    }
  }

  // Graceful shutdown: plugins stop in reverse order within the budget.
  const auto timeout = Current()->Duration("daemon.shutdown_timeout");
  Notify("STOPPING=1\nSTATUS=stopping");
  progress_timer_ = std::make_unique<asio::steady_timer>(io_);
  LogShutdownProgress();
  kernel_->StopAll(Clock::now() + timeout);
  progress_timer_->cancel();
  signals_->cancel();
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
  cv_.wait(lock, [this] { return stop_signal_ != 0; });
}

void Daemon::DoWaitSignal() {
  signals_->async_wait(
      [this](const boost::system::error_code& ec, int signo) { OnSignal(ec, signo); });
}

void Daemon::OnSignal(const boost::system::error_code& ec, int signo) {
  if (ec) return;
  if (signo == SIGHUP) {
    // Reloading blocks on plugins; do it off the signal path so a second signal still works.
    asio::post(io_, [this] { Reload(); });
  } else {
    std::lock_guard lock(mu_);
    if (stop_signal_ != 0) {
      logger_->warn(
          log::With("Second signal: exiting now without waiting", {{"signal", strsignal(signo)}}));
      logs_->Flush();
      _exit(kExitFailure);
    }
    stop_signal_ = signo;
    logger_->info(log::With("Shutting down", {{"signal", strsignal(signo)}}));
    cv_.notify_all();
  }
  DoWaitSignal();
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

void Daemon::Reload() {
  std::lock_guard reload(reload_mu_);
  Notify(fmt::format(
      "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC={}",
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
          .count()));
  logger_->info("Reloading configuration");
  config::LoadResult loaded = LoadConfig();
  if (!loaded.Ok()) {
    for (const auto& d : loaded.diagnostics) logger_->error(d.Format());
    logger_->error(log::With("Configuration reload rejected; keeping the running configuration",
                             {{"errors", static_cast<int64_t>(loaded.Errors())}}));
    Notify("READY=1\nSTATUS=running (last reload rejected)");
    return;
  }
  auto next = std::make_shared<const config::Config>(std::move(loaded.config));
  const auto current = Current();
  int changed = 0;
  for (const auto& spec : config::Schema()) {
    if (current->Get(spec.path).value == next->Get(spec.path).value) continue;
    ++changed;
    const std::string key(spec.path);
    logger_->info(log::With(
        "Configuration changed",
        {{"key", key}, {"from", current->Show(spec.path)}, {"to", next->Show(spec.path)}}));
    if (NeedsDaemonRestart(key)) {
      logger_->warn(log::With("Change takes effect after a daemon restart", {{"key", key}}));
    }
  }
  if (changed == 0) {
    logger_->info("Configuration reloaded: nothing changed");
  } else {
    logs_->SetLevel(log::ParseLevel(next->String("logging.level")).value_or(spdlog::level::info));
    for (const auto& [plugin, outcome] : kernel_->Reconfigure(next)) {
      logger_->info(log::With("Plugin reconfigured", {{"name", plugin}, {"outcome", outcome}}));
    }
    logger_->info(log::With("Configuration reloaded", {{"changed", changed}}));
  }
  {
    std::lock_guard lock(config_mu_);
    config_ = next;
  }
  Notify("READY=1\nSTATUS=running");
}

}  // namespace

int RunDaemon(const Options& options) {
  Daemon daemon(options);
  return daemon.Run();
}

}  // namespace sg::daemon
