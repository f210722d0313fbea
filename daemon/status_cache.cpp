#include "daemon/status_cache.h"

#include <algorithm>

#include "common/build_info.h"

namespace sg::daemon {

void StatusCache::Attach(const bus::NatsBus* nats, const Discovery* discovery) {
  std::lock_guard lock(mu_);
  nats_ = nats;
  discovery_ = discovery;
}

void StatusCache::Refresh() {
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

DaemonStatus StatusCache::Status() const {
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
    const auto now = std::chrono::steady_clock::now();
    for (const auto& in : discovery_->Instances()) {
      HealthStatus h = HealthStatus::kUnhealthy;
      if (in.alive && in.health == "healthy") h = HealthStatus::kHealthy;
      if (in.alive && in.health == "degraded") h = HealthStatus::kDegraded;
      ServiceStatus s;
      s.service = in.service;
      s.id = in.id;
      s.host = in.host;
      s.pid = in.pid;
      s.health = h;
      s.alive = in.alive;
      s.silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - in.last_seen);
      s.health_reported_unhealthy = in.health == "unhealthy";
      s.http_url = in.http_url;
      s.routes = in.routes;
      s.load = in.load;
      status.services.push_back(std::move(s));
    }
  }
  return status;
}

}  // namespace sg::daemon
