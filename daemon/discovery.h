// Discovery in microservice mode: each process announces itself on the bus every heartbeat
// interval (heartbeat.SERVICE), and keeps a registry of the instances it hears, with expiry.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "daemon/plugin_api/bus.h"
#include "daemon/plugin_api/daemon_view.h"

namespace sg::daemon {

struct Instance {
  std::string service;
  std::string id;  // host-pid-random: unique per process start
  std::string version;
  std::string host;
  int64_t pid = 0;
  std::string endpoint;  // its control endpoint
  std::string health;    // "healthy", "degraded", "unhealthy"
  std::chrono::steady_clock::time_point last_seen;
  bool alive = true;  // false once silent for two intervals
  // Where it serves HTTP, when it does: "http://127.0.0.1:41234", its routes as method and
  // pattern, and its open connections (its load). The gateway proxies those routes to it.
  std::string http_url;
  std::vector<std::pair<std::string, std::string>> routes;
  uint64_t load = 0;
  std::string metrics_url;  // its /metrics, when it serves one
};

/// What a process says of its HTTP side in each heartbeat; an empty url when it serves no
/// routes, an empty metrics_url when it serves no /metrics.
struct HttpPresence {
  std::string url;
  std::string metrics_url;
  std::vector<std::pair<std::string, std::string>> routes;
  uint64_t load = 0;
};

/// Thread-safe.
class Discovery {
 public:
  /// `self` describes this process; `health` is asked at each heartbeat.
  Discovery(Bus& bus, const boost::asio::any_io_executor& executor,
            std::chrono::milliseconds interval, Instance self, std::function<HealthStatus()> health,
            std::function<HttpPresence()> http, std::shared_ptr<spdlog::logger> logger);
  ~Discovery();

  Result<void> Start();
  void Stop();

  /// Every instance heard from, this one included, newest state; gone ones stay listed, not
  /// alive, for ten minutes.
  std::vector<Instance> Instances() const;
  nlohmann::ordered_json ToJson() const;

 private:
  void Beat();
  void OnHeartbeat(const Message& m);

  Bus& bus_;
  boost::asio::steady_timer timer_;
  const std::chrono::milliseconds interval_;
  Instance self_;
  std::function<HealthStatus()> health_;
  std::function<HttpPresence()> http_;
  std::shared_ptr<spdlog::logger> logger_;
  Bus::SubscriptionId subscription_ = 0;
  mutable std::mutex mu_;
  std::map<std::string, Instance> instances_;  // guarded by mu_, by id
  bool running_ = false;                       // guarded by mu_
};

/// A fresh instance id: host-pid-random.
std::string NewInstanceId(const std::string& host);

}  // namespace sg::daemon
