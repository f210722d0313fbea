#include "daemon/daemon_metrics.h"

#include <fstream>
#include <sstream>

#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "common/build_info.h"

namespace sg::daemon {
namespace {

struct ProcessStats {
  double cpu_seconds = 0;
  double rss_bytes = 0;
  double virtual_bytes = 0;
  double start_time_seconds = 0;
  double open_fds = 0;
};

ProcessStats ReadProcess() {
  ProcessStats p;
  std::ifstream stat_file("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (paren != std::string::npos) {
    std::istringstream fields(text.substr(paren + 2));
    std::vector<std::string> f;
    std::string field;
    while (fields >> field) f.push_back(field);
    // After the command: state is field 3 in proc(5); f[0] is field 3.
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    if (f.size() > 21) {
      p.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;  // utime, stime
      p.virtual_bytes = std::stod(f[20]);
      p.rss_bytes = std::stod(f[21]) * page;
      // starttime is in ticks since boot; add the boot time, taken from the clocks rather than
      // /proc/stat, which the service's ProcSubset=pid hides.
      timespec now{};
      timespec since_boot{};
      clock_gettime(CLOCK_REALTIME, &now);
      clock_gettime(CLOCK_BOOTTIME, &since_boot);
      const double boot = static_cast<double>(now.tv_sec - since_boot.tv_sec) +
                          static_cast<double>(now.tv_nsec - since_boot.tv_nsec) / 1e9;
      p.start_time_seconds = boot + std::stod(f[19]) / ticks;
    }
  }
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(dir)) {
      if (e->d_name[0] != '.') ++p.open_fds;
    }
    closedir(dir);
    --p.open_fds;  // the one opendir itself holds
  }
  return p;
}

MetricFamily Gauge(std::string name, std::string help) {
  return {std::move(name), std::move(help), "gauge", {}};
}
MetricFamily Counter(std::string name, std::string help) {
  return {std::move(name), std::move(help), "counter", {}};
}

}  // namespace

void RegisterDaemonMetrics(MetricsRegistry& registry, MetricSources s) {
  registry.Add([s](std::vector<MetricFamily>& out) {
    const ProcessStats p = ReadProcess();
    out.push_back(
        Counter("streamgate_process_cpu_seconds_total", "User and system CPU time spent"));
    out.back().samples.push_back({"", {}, p.cpu_seconds});
    out.push_back(Gauge("streamgate_process_resident_memory_bytes", "Resident memory size"));
    out.back().samples.push_back({"", {}, p.rss_bytes});
    out.push_back(Gauge("streamgate_process_virtual_memory_bytes", "Virtual memory size"));
    out.back().samples.push_back({"", {}, p.virtual_bytes});
    out.push_back(Gauge("streamgate_process_open_fds", "Open file descriptors"));
    out.back().samples.push_back({"", {}, p.open_fds});
    out.push_back(
        Gauge("streamgate_process_start_time_seconds", "Start time since the Unix epoch"));
    out.back().samples.push_back({"", {}, p.start_time_seconds});
    out.push_back(
        Gauge("streamgate_build_info", "The build: always 1, with its version as labels"));
    out.back().samples.push_back({"",
                                  {{"version", SG_VERSION},
                                   {"commit", SG_GIT_COMMIT},
                                   {"mode", s.mode},
                                   {"service", s.service}},
                                  1});
  });

  registry.Add([s](std::vector<MetricFamily>& out) {
    auto state =
        Gauge("streamgate_plugin_state", "1 for the state each plugin is in, 0 for the others");
    auto health =
        Gauge("streamgate_plugin_health", "1 for each plugin's health status, 0 for the others");
    auto restarts = Counter("streamgate_plugin_restarts_total",
                            "Restarts of each plugin by its restart policy");
    const kernel::HealthSummary summary = s.kernel->CheckHealth();
    for (const auto& info : s.kernel->Plugins()) {
      for (auto st : {kernel::PluginState::kRegistered, kernel::PluginState::kInitialized,
                      kernel::PluginState::kStarting, kernel::PluginState::kRunning,
                      kernel::PluginState::kStopping, kernel::PluginState::kStopped,
                      kernel::PluginState::kFailed}) {
        state.samples.push_back(
            {"",
             {{"plugin", info.name}, {"state", std::string(kernel::PluginStateName(st))}},
             info.state == st ? 1.0 : 0.0});
      }
      restarts.samples.push_back({"", {{"plugin", info.name}}, static_cast<double>(info.restarts)});
    }
    for (const auto& h : summary.plugins) {
      for (auto hs : {HealthStatus::kHealthy, HealthStatus::kDegraded, HealthStatus::kUnhealthy}) {
        health.samples.push_back(
            {"",
             {{"plugin", h.name}, {"status", std::string(HealthStatusName(hs))}},
             h.report.status == hs ? 1.0 : 0.0});
      }
    }
    out.push_back(std::move(state));
    out.push_back(std::move(health));
    out.push_back(std::move(restarts));
  });

  registry.Add([s](std::vector<MetricFamily>& out) {
    auto published =
        Counter("streamgate_bus_messages_published_total", "Messages published, by subject prefix");
    auto delivered = Counter("streamgate_bus_messages_delivered_total",
                             "Messages delivered to a handler, by subject prefix");
    auto dropped = Counter("streamgate_bus_messages_dropped_total",
                           "Deliveries dropped for a slow subscriber, by subject prefix");
    for (const auto& p : s.bus->StatsByPrefix()) {
      published.samples.push_back({"", {{"prefix", p.prefix}}, static_cast<double>(p.published)});
      delivered.samples.push_back({"", {{"prefix", p.prefix}}, static_cast<double>(p.delivered)});
      dropped.samples.push_back({"", {{"prefix", p.prefix}}, static_cast<double>(p.dropped)});
    }
    out.push_back(std::move(published));
    out.push_back(std::move(delivered));
    out.push_back(std::move(dropped));
    if (s.nats) {
      const auto [state, reconnects] = s.nats();
      auto connected = Gauge("streamgate_bus_connected", "1 while the NATS connection is up");
      connected.samples.push_back({"", {{"state", state}}, state == "connected" ? 1.0 : 0.0});
      auto again = Counter("streamgate_bus_reconnects_total", "NATS reconnections since start");
      again.samples.push_back({"", {}, static_cast<double>(reconnects)});
      out.push_back(std::move(connected));
      out.push_back(std::move(again));
    }

    auto records = Counter("streamgate_log_records_total", "Log records, by level");
    const auto counts = s.logs->Ring().CountsByLevel();
    for (size_t i = 0; i < counts.size(); ++i) {
      records.samples.push_back(
          {"",
           {{"level", std::string(log::LevelName(static_cast<spdlog::level::level_enum>(i)))}},
           static_cast<double>(counts[i])});
    }
    out.push_back(std::move(records));

    auto requests =
        Counter("streamgate_control_requests_total", "Control socket requests, by command");
    if (const control::Dispatcher* d = s.dispatcher ? s.dispatcher() : nullptr) {
      for (const auto& [command, n] : d->Counts()) {
        requests.samples.push_back({"", {{"command", command}}, static_cast<double>(n)});
      }
    }
    out.push_back(std::move(requests));
  });

  registry.Add([pool = s.blocking](std::vector<MetricFamily>& out) {
    const BlockingPool::Stats b = pool->Snapshot();
    auto add = [&out](const char* name, const char* help, const char* type, double v) {
      out.push_back({name, help, type, {{"", {}, v}}});
    };
    add("streamgate_blocking_threads", "Threads for plugins' blocking work", "gauge",
        static_cast<double>(b.threads));
    add("streamgate_blocking_busy_threads", "Blocking-work threads running work now", "gauge",
        static_cast<double>(b.busy));
    add("streamgate_blocking_queue_depth", "Blocking work waiting for a thread", "gauge",
        static_cast<double>(b.queued));
    add("streamgate_blocking_completed_total", "Blocking work finished", "counter",
        static_cast<double>(b.completed));
    add("streamgate_blocking_failed_total", "Blocking work that threw", "counter",
        static_cast<double>(b.failed));
    add("streamgate_blocking_rejected_total",
        "Blocking work refused because daemon.blocking_queue jobs already waited", "counter",
        static_cast<double>(b.rejected));
  });
}

}  // namespace sg::daemon
