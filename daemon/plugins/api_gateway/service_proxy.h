// The front door of a microservice deployment. Services that serve HTTP (upload, streaming,
// metadata, auth) announce their address and routes in their heartbeats; the api-gateway service
// adds those routes to its own table and passes each request on to a healthy instance of the
// service (the one with the fewest requests in flight, in turn on a tie), with request and
// response bodies streamed both ways, never held whole; a large response body of known length
// goes from socket to socket by splice(2), never through user space.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <spdlog/logger.h>

#include "daemon/plugin_api/daemon_view.h"
#include "daemon/plugin_api/http.h"
#include "daemon/plugin_api/metrics.h"

namespace sg::plugins {

struct ProxySettings {
  std::chrono::milliseconds connect_timeout{2000};
  /// From the last request byte to the response's head: server.write_timeout.
  std::chrono::milliseconds response_timeout{30000};
  /// Between two pieces of a response body: server.read_timeout.
  std::chrono::milliseconds read_timeout{30000};
  /// An instance that refused a connection gets no new requests for this long, unless it is
  /// the only one left.
  std::chrono::milliseconds eject_for{2000};
  /// An instance not heard from is still tried, when no other instance of its service is, for
  /// this long: a NATS restart silences every heartbeat at once, while the instances serve on.
  std::chrono::milliseconds silent_grace{5000};
  size_t idle_per_instance = 64;  // kept-alive connections parked per instance and I/O thread
};

/// Thread-safe.
class ServiceProxy {
 public:
  ServiceProxy(Router& router, boost::asio::any_io_executor executor, ProxySettings settings,
               std::shared_ptr<spdlog::logger> logger);
  ~ServiceProxy();
  ServiceProxy(const ServiceProxy&) = delete;
  ServiceProxy& operator=(const ServiceProxy&) = delete;

  /// Takes the deployment as heard in heartbeats: routes announced for the first time are
  /// added to the router (a route the gateway already serves stays the gateway's); instances
  /// that are gone or unhealthy get no new requests. A route whose service has no instance left
  /// answers 503 saying which service to start.
  void Update(const std::vector<ServiceStatus>& services);

  /// Removes the proxied routes and closes parked connections; requests in flight finish.
  /// Call it while the listener's I/O threads still run: parked connections live on them.
  void Stop();

  /// Closes the parked connections: before the listener changes its I/O threads (a reload).
  void CloseIdle();

  /// Requests by service and outcome, retries, requests in flight and instances per service.
  void Collect(std::vector<MetricFamily>& out) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sg::plugins
