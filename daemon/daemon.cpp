#include "daemon/daemon.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include "common/build_info.h"
#include "common/exit_codes.h"
#include "common/fd_limits.h"
#include "common/paths.h"
#include "common/shared_library.h"
#include "common/strings.h"
#include "daemon/bus/memory_bus.h"
#include "daemon/bus/nats_locks.h"
#include "daemon/daemon_metrics.h"
#include "daemon/http/plugin_listener.h"
#include "daemon/pid_file.h"
#include "daemon/plugin_api/cache_rpc.h"
#include "daemon/plugin_api/catalogue_rpc.h"
#include "daemon/plugins/builtin.h"
#include "daemon/settings.h"
#include "daemon/storage/storage_factory.h"

namespace sg::daemon {

namespace asio = boost::asio;

namespace {

// Raises the soft open-file limit to the hard one, as nginx's worker_rlimit_nofile does: every
// HTTP connection is a descriptor.
void RaiseFileLimit(spdlog::logger& logger) {
  const DescriptorLimit before = CurrentDescriptorLimit();
  const DescriptorLimit after = RaiseDescriptorLimit();
  if (after.soft != before.soft) {
    logger.debug(log::With(
        "Raised the open file limit",
        {{"from", static_cast<int64_t>(before.soft)}, {"to", static_cast<int64_t>(after.soft)}}));
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

// sd_notify from libsystemd, loaded when there is a service manager to tell (systemd sets
// NOTIFY_SOCKET for a Type=notify unit). Linked, libsystemd and the six libraries it brings
// (libgcrypt, libgpg-error, liblzma, libzstd, liblz4, libcap) cost every other daemon about
// 1 MiB of resident memory (tests/bench/README.md).
struct SystemdLibrary {
  int (*notify)(int unset_environment, const char* state) = nullptr;
};

Result<SystemdLibrary> LoadSystemd() {
  auto library = OpenLibrary("libsystemd.so.0", "libsystemd0");
  if (!library) return library.error();
  SystemdLibrary table;
  std::string missing;
  BindSymbol(*library, "sd_notify", table.notify, missing);
  if (!missing.empty()) return Fail(ErrorCode::kUnavailable, "libsystemd.so.0 has no " + missing);
  return table;
}

bool HasServiceManager() { return std::getenv("NOTIFY_SOCKET") != nullptr; }

}  // namespace

void Daemon::Notify(const std::string& state) {
  if (!HasServiceManager()) return;
  // Run() checked the load before the first notification: this cannot fail then.
  auto systemd = LoadOnce<SystemdLibrary, LoadSystemd>();
  if (systemd) (*systemd)->notify(0, state.c_str());
}

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
  // Under a service manager that waits for READY=1, a libsystemd that cannot be loaded would
  // only show as a start timeout (and a restart loop): say so now, and stop.
  if (HasServiceManager()) {
    if (auto systemd = LoadOnce<SystemdLibrary, LoadSystemd>(); !systemd) {
      std::cerr << "streamgated: NOTIFY_SOCKET is set but the service manager cannot be told "
                   "that the daemon is ready: "
                << systemd.error().message << '\n';
      return kExitFailure;
    }
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
  levels_ = std::make_unique<LogLevelTimers>(io_.get_executor(), *logs_, logger_);
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
  auto pid_file = PidFile::Acquire(PidFileFor(endpoint_), stale, stale_pid);
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

  work_.emplace(io_.get_executor());
  const unsigned thread_count = std::max(2u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < thread_count; ++i) threads_.emplace_back([this] { io_.run(); });
  const int exit_code = Serve(config);
  Teardown();
  return exit_code;
}

int Daemon::Serve(const config::Config& config) {
  const std::string& mode = config.String("app.mode");
  const bool monolith = mode == "monolith";
  if (monolith) {
    bus_ = std::make_unique<bus::MemoryBus>(io_.get_executor(), logs_->Get("bus"));
  } else {
    auto made = bus::NatsBus::Create(NatsOptionsFrom(config, service_), logs_->Get("bus"));
    if (!made) {
      logger_->critical(log::With("Cannot set up the NATS bus", {{"error", made.error().message}}));
      std::cerr << "streamgated: " << made.error().message << '\n';
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
  auto storage = storage::MakeStorage(config);
  if (!storage) {
    logger_->critical(log::With("Cannot set up storage", {{"error", storage.error().message}}));
    std::cerr << "streamgated: " << storage.error().message << '\n';
    return kExitConfig;
  }
  storage_ = std::move(storage).value();
  kernel_options.storage = storage_.get();
  // Every process checks tokens and playback capabilities by itself, with the keys of
  // auth.keys_file (made at the first start): the plugins find the check as "access".
  auto access = AccessGuard::Open(config);
  if (!access) {
    logger_->critical(log::With("Cannot read the auth keys", {{"error", access.error().message}}));
    std::cerr << "streamgated: " << access.error().message << '\n';
    return kExitConfig;
  }
  access_ = std::move(access).value();
  // A write past the file size limit (RLIMIT_FSIZE) then fails with EFBIG, which the store
  // reports as no space, rather than killing the daemon.
  signal(SIGXFSZ, SIG_IGN);
  kernel_ = std::make_unique<kernel::Kernel>(kernel_options, config_, *logs_, *bus_, services_,
                                             io_.get_executor());
  status_ = std::make_shared<StatusCache>(*kernel_, mode, service_);
  services_.Provide<DaemonView>("daemon", status_);
  services_.Provide<MetricsRegistry>("metrics", metrics_);
  services_.Provide<Listeners>("listeners", listeners_);
  services_.Provide<AccessGuard>("access", access_);
  services_.Provide<HttpListenerFactory>(
      "http.listeners", std::make_shared<http::ListenerFactory>(listeners_, logs_->Access()));
  if (!monolith && options_.service != "cache") {
    // The cache lives in its own process: calls to it travel over NATS.
    services_.Provide<Cache>("cache",
                             MakeRemoteCache(*bus_, config.Duration("nats.request_timeout")));
  }
  if (!monolith && options_.service != "metadata") {
    // So does the catalogue: the metadata process answers on svc.metadata.rpc.
    services_.Provide<Catalogue>(
        "metadata", MakeRemoteCatalogue(*bus_, config.Duration("nats.request_timeout")));
  }
  if (!monolith) {
    // Leases across the deployment's processes (an upload's writer), on JetStream.
    services_.Provide<Locks>("locks", bus::MakeNatsLocks(config, logs_->Get("locks")));
  }
  if (!monolith && options_.service != "worker") {
    // And the job queue is one stream on JetStream that every process reaches by itself: here
    // plugins queue jobs, and the kinds they handle (the metadata plugin's delete-video) run
    // here, taken from the shared queue. The worker process alone queues the periodic jobs.
    jobs_ = std::make_unique<plugins::JobQueueClient>(config, logs_->Get("jobs"));
    services_.Provide<JobQueue>("worker", jobs_->Queue());
  }
  MetricSources sources{kernel_.get(),
                        bus_.get(),
                        logs_.get(),
                        blocking_.get(),
                        [this] { return dispatcher_.get(); },
                        {},
                        mode,
                        service_};
  if (nats_ != nullptr) {
    sources.nats = [nats = nats_] {
      return std::pair<std::string, uint64_t>(nats->State(), nats->Reconnects());
    };
  }
  RegisterDaemonMetrics(*metrics_, sources);
  const kernel::RestartPolicy policy = PolicyFrom(config);
  int registered = 0;
  for (auto& plugin : plugins::BuiltinPlugins()) {
    const std::string name(plugin->Name());
    // A service that serves HTTP routes (upload, streaming, auth, metadata) runs with a listener of
    // its own in its process, on a free port unless server.port is set: it announces the address
    // and its routes in its heartbeats, and the api-gateway service proxies them.
    const bool front = (options_.service == "upload" || options_.service == "streaming" ||
                        options_.service == "auth" || options_.service == "metadata") &&
                       name == "api-gateway";
    // And every process serves its own /metrics (on a free port, unless
    // monitoring.prometheus_port is set), announced in its heartbeats too.
    const bool metrics = name == "monitor" && config.PluginEnabled("monitor");
    const bool wanted =
        monolith ? config.PluginEnabled(name) : name == options_.service || front || metrics;
    if (!wanted) continue;
    if (auto ok = kernel_->Register(std::move(plugin), policy); !ok) {
      logger_->critical(ok.error().message);
      return kExitFailure;
    }
    ++registered;
  }
  if (!monolith && registered == 0) {
    const std::string message = fmt::format(
        "service '{}' is not built into this streamgated yet; nothing to run", options_.service);
    logger_->critical(message);
    std::cerr << "streamgated: " << message << '\n';
    return kExitNotBuilt;
  }
  if (registered == 0) {
    logger_->warn("No plugins in this build yet; the daemon runs with none");
  }
  if (auto started = kernel_->StartAll(); !started) {
    logger_->critical(
        log::With("Microkernel failed to start", {{"error", started.error().message}}));
    std::cerr << "streamgated: " << started.error().message << '\n';
    return kExitFailure;
  }
  logger_->info("Microkernel started successfully");
  if (nats_ != nullptr) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    Instance self;
    self.service = options_.service;
    self.id = NewInstanceId(host);
    self.version = SG_VERSION;
    self.host = host;
    self.pid = getpid();
    self.endpoint = endpoint_;
    self.health = "healthy";
    discovery_ = std::make_unique<Discovery>(
        *bus_, io_.get_executor(), config.Duration("nats.heartbeat_interval"), self,
        [this] { return status_->Local(); }, [this] { return HttpPresenceNow(); },
        logs_->Get("discovery"));
    if (auto started_discovery = discovery_->Start(); !started_discovery) {
      logger_->error(
          log::With("Discovery did not start", {{"error", started_discovery.error().message}}));
    }
    status_->Attach(nats_, discovery_.get());
    status_period_ = std::min(status_period_, config.Duration("nats.heartbeat_interval") / 2);
  }
  RefreshStatus();
  log_endpoint_ = control::LogEndpointFor(endpoint_);
  dispatcher_ = std::make_unique<control::Dispatcher>(*this);
  auto server =
      control::ControlServer::Create(ControlSettingsFrom(config, endpoint_), *dispatcher_, *logs_);
  if (!server) {
    logger_->critical(
        log::With("Cannot serve the control socket", {{"error", server.error().message}}));
    std::cerr << "streamgated: " << server.error().message << '\n';
    return server.error().code == ErrorCode::kConfig ? kExitConfig : kExitFailure;
  }
  control_ = std::move(server).value();
  logger_->info(log::With("Control socket ready", {{"endpoint", control_->endpoint()},
                                                   {"logs", control_->log_endpoint()}}));
  logger_->info(monolith ? "StreamGate Monolithic Mode started successfully"
                         : "StreamGate Microservice Mode started successfully");
  Notify(fmt::format("READY=1\nSTATUS=running, {} plugins\nMAINPID={}", registered, getpid()));
  WaitForSignals();
  return kExitOk;
}

// The one way down, from wherever Serve returned: what was started stops, in reverse.
void Daemon::Teardown() {
  Notify("STOPPING=1\nSTATUS=stopping");
  if (kernel_) {
    // Graceful shutdown: plugins stop in reverse order within the budget.
    const auto timeout = Current()->Duration("daemon.shutdown_timeout");
    progress_timer_ = std::make_unique<asio::steady_timer>(io_);
    LogShutdownProgress();
    if (discovery_) discovery_->Stop();
    kernel_->StopAll(Clock::now() + timeout);
    progress_timer_->cancel();
    // The plugins' job handlers are gone with them; the queue's worker and its connection go
    // before the bus does.
    if (jobs_) jobs_->Shutdown(Clock::now() + timeout);
  }
  if (status_timer_) status_timer_->cancel();
  signals_->cancel();
  levels_->Cancel();
  // The control socket goes last, so that `streamgate stop` can watch the plugins stop.
  control_.reset();
  work_.reset();
  io_.stop();
  for (auto& t : threads_) t.join();
  logger_->info("StreamGate stopped");
  logs_->Flush();
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

HttpPresence Daemon::HttpPresenceNow() const {
  HttpPresence presence;
  const auto urls = listeners_->All();
  if (const auto metrics = urls.find("metrics"); metrics != urls.end())
    presence.metrics_url = metrics->second;
  // The front door announces no routes: gateways never proxy to each other.
  if (options_.service == "api-gateway") return presence;
  auto stats = services_.Find<HttpStats>("http.stats");
  if (!stats) return presence;
  const auto url = urls.find("http");
  if (url == urls.end()) return presence;
  presence.url = url->second;
  presence.load = (*stats)->OpenConnections();
  for (auto& route : (*stats)->Snapshot()) {
    if (route.route.starts_with('/'))
      presence.routes.emplace_back(std::move(route.method), std::move(route.route));
  }
  return presence;
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

void Daemon::Shutdown() {
  // Only the first request counts; a second one over the socket must not kill the daemon.
  {
    std::lock_guard lock(mu_);
    if (stop_requested_) return;
  }
  RequestStop("control request");
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

int RunDaemon(const Options& options) {
  Daemon daemon(options);
  return daemon.Run();
}

}  // namespace sg::daemon
