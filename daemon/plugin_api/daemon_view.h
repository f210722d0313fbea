// What the daemon tells plugins about itself (in the service registry as "daemon"): identity,
// readiness and health, cheap enough to read on every request.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "daemon/plugin_api/health.h"

namespace sg {

struct PluginStatus {
  std::string name;
  std::string version;
  std::string state;  // "running", "stopped", "failed", ...
  HealthStatus health = HealthStatus::kHealthy;
  std::string message;
  double latency_ms = 0;
};

/// Another process of the deployment, in microservice mode.
struct ServiceStatus {
  std::string service;
  std::string id;
  std::string host;
  int64_t pid = 0;
  HealthStatus health = HealthStatus::kHealthy;
  bool alive = true;                       // heard from within two heartbeat intervals
  std::chrono::milliseconds silent{0};     // since its last heartbeat
  bool health_reported_unhealthy = false;  // its last heartbeat said "unhealthy"
  /// Where it serves HTTP ("http://10.0.0.5:41234"), or "" when it does not; the routes it
  /// serves there (method, pattern), and its open HTTP connections.
  std::string http_url;
  std::vector<std::pair<std::string, std::string>> routes;
  uint64_t load = 0;
};

struct DaemonStatus {
  std::string version;
  std::string mode;
  std::string service;
  int64_t uptime_seconds = 0;
  HealthStatus overall = HealthStatus::kHealthy;
  std::vector<PluginStatus> plugins;
  /// Enabled plugins that are not running, for /ready.
  std::vector<std::string> not_running;
  /// Microservice mode: every instance of the deployment heard from, this one included.
  std::vector<ServiceStatus> services;
  /// "memory", or the NATS connection's state ("connected", "reconnecting", ...).
  std::string bus;
};

/// Thread-safe and cheap: health comes from a cache the daemon refreshes in the background.
class DaemonView {
 public:
  virtual ~DaemonView() = default;
  virtual DaemonStatus Status() const = 0;
  /// Just the overall health from the cache; the cheapest call, for /health.
  virtual HealthStatus Overall() const = 0;
};

}  // namespace sg
