// The HTTP/1.1 server behind the api-gateway, on Boost.Beast: one io_context and one
// SO_REUSEPORT acceptor per I/O thread (the kernel spreads connections, no lock is shared),
// every read and write under a timeout, header and body size limits, a connection limit,
// pipelined requests answered in order, and a graceful drain.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/logger.h>

#include "common/result.h"
#include "daemon/http/router.h"
#include "daemon/plugin_api/plugin.h"

namespace sg::http {

struct ServerSettings {
  std::string host = "0.0.0.0";                    // server.host
  uint16_t port = 8080;                            // server.port; 0 picks a free port
  int io_threads = 0;                              // server.io_threads; 0 for one per core
  std::chrono::milliseconds read_timeout{30000};   // server.read_timeout: one whole request
  std::chrono::milliseconds write_timeout{30000};  // server.write_timeout: one whole response
  std::chrono::milliseconds idle_timeout{60000};   // server.idle_timeout: between requests
  size_t max_header_bytes = 16 * 1024;             // server.max_header_bytes: past it, 431
  size_t max_body_bytes = 10 * 1024 * 1024;        // server.max_body_bytes: past it, 413
  size_t max_connections = 10000;                  // server.max_connections
  bool access_log = true;                          // server.access_log
};

/// Whether host:port could be listened on now (nobody else holds it); for checking a new
/// configuration before applying it.
Result<void> CheckBindable(const std::string& host, uint16_t port);

/// For a plugin's CheckConfig: a new address must be free now; the same address, or port 0,
/// needs no check.
Result<void> CheckAddressChange(const ServerSettings& current, const ServerSettings& next);

class HttpServer final : public HttpStats {
 public:
  HttpServer(RouteTable& routes, std::shared_ptr<spdlog::logger> logger,
             std::shared_ptr<spdlog::logger> access_logger);
  ~HttpServer() override;
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds and starts serving. kIo naming the address when it cannot bind.
  Result<void> Start(const std::shared_ptr<const ServerSettings>& settings);
  /// Stops accepting, lets in-flight requests finish until `deadline`, closes idle keep-alive
  /// connections at once and the rest at the deadline. Start may be called again afterwards.
  void Stop(Deadline deadline);
  /// Applies new settings: timeouts and limits at once for new requests; a new address or thread
  /// count rebinds (the new listener first) without dropping requests in flight.
  Result<void> Update(const std::shared_ptr<const ServerSettings>& settings);

  /// The bound port (useful with port 0); 0 when not serving.
  uint16_t port() const { return port_.load(); }
  bool running() const;

  // HttpStats
  const std::vector<double>& LatencyBounds() const override;
  std::vector<HttpRouteStats> Snapshot() const override;
  uint64_t OpenConnections() const override { return connections_.load(); }

  struct Worker;
  struct Generation;

 private:
  /// Binds a new generation; `exclusive` first checks that no other process holds the port.
  Result<void> Bind(const std::shared_ptr<const ServerSettings>& settings, bool exclusive);

  RouteTable& routes_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<spdlog::logger> access_logger_;
  std::mutex mu_;
  std::shared_ptr<Generation> generation_;  // guarded by mu_
  std::vector<std::thread> retirers_;       // guarded by mu_: old listeners draining after a rebind
  std::atomic<uint16_t> port_{0};
  std::atomic<uint64_t> connections_{0};
};

}  // namespace sg::http
