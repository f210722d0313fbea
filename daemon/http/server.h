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
#include "daemon/http/server_settings.h"
#include "daemon/http/session.h"
#include "daemon/plugin_api/plugin.h"

namespace sg::http {

/// Whether host:port could be listened on now (nobody else holds it); for checking a new
/// configuration before applying it.
Result<void> CheckBindable(const std::string& host, uint16_t port);

/// For a plugin's CheckConfig: a new address must be free now; the same address, or port 0,
/// needs no check.
Result<void> CheckAddressChange(const ServerSettings& current, const ServerSettings& next);

class HttpServer final : public HttpStats {
 public:
  /// `access_log`, when not null, takes a line per request of a listener whose settings say so.
  HttpServer(RouteTable& routes, std::shared_ptr<spdlog::logger> logger,
             std::shared_ptr<log::AccessLog> access_log);
  ~HttpServer() override;
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds and starts serving. kIo naming the address when it cannot bind.
  Result<void> Start(const std::shared_ptr<const ServerSettings>& settings);
  /// Stops accepting, lets in-flight requests finish until `deadline`, closes idle keep-alive
  /// connections at once and the rest at the deadline. Start may be called again afterwards.
  void Stop(Deadline deadline);
  /// Applies new settings: timeouts and limits at once for new requests; a new thread count
  /// hands the listening sockets to the new threads (nothing is closed, so no connection waiting
  /// to be accepted is lost); a new address listens there first, then drains the old listeners.
  Result<void> Update(const std::shared_ptr<const ServerSettings>& settings);
  /// The daemon is stopping: from now on every response carries `Connection: close`, so that
  /// keep-alive clients go elsewhere before the listener closes.
  void BeginDrain();

  /// The bound port (useful with port 0); 0 when not serving.
  uint16_t port() const { return port_.load(); }
  bool running() const;

  // HttpStats
  const std::vector<double>& LatencyBounds() const override;
  std::vector<HttpRouteStats> Snapshot() const override;
  uint64_t OpenConnections() const override { return connections_.load(); }

  /// Requests refused and connections dropped, by reason (RejectReason), since the start.
  std::vector<std::pair<std::string_view, uint64_t>> Rejections() const;
  /// The most connections served at once: server.max_connections, or less when the
  /// descriptor limit leaves less room (see common/fd_limits.h).
  uint64_t ConnectionLimit() const { return connection_limit_.load(); }

 private:
  /// Starts a new generation on `listeners` (taken over from the one before) plus new ones
  /// bound as needed; `exclusive` first checks that no other process holds the port.
  Result<void> Bind(const std::shared_ptr<const ServerSettings>& settings, bool exclusive,
                    std::vector<int> listeners = {}, uint16_t bound_port = 0);
  void UpdateConnectionLimit(const ServerSettings& settings);

  RouteTable& routes_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<log::AccessLog> access_log_;
  std::mutex mu_;
  std::shared_ptr<Generation> generation_;  // guarded by mu_
  std::vector<std::thread> retirers_;       // guarded by mu_: old listeners draining after a rebind
  std::atomic<uint16_t> port_{0};
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> connection_limit_{0};
  RejectCounters rejects_;
};

}  // namespace sg::http
