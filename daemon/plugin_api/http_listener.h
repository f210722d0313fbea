// HTTP listeners a plugin opens (the api-gateway's front door, the monitor's /metrics): the
// daemon's HTTP server behind an interface (in the service registry as "http.listeners"), so
// that no plugin includes daemon/http/.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/logger.h>

#include "common/result.h"
#include "config/config.h"
#include "daemon/plugin_api/daemon_view.h"
#include "daemon/plugin_api/http.h"

namespace sg {

/// How a listener serves: the server.* keys for the api-gateway.
struct ListenerSettings {
  std::string host = "0.0.0.0";                    // server.host
  uint16_t port = 8080;                            // server.port; 0 picks a free port
  int io_threads = 0;                              // server.io_threads; 0 for one per core
  std::chrono::milliseconds read_timeout{30000};   // server.read_timeout: one whole request
  std::chrono::milliseconds write_timeout{30000};  // server.write_timeout: one whole response
  std::chrono::milliseconds idle_timeout{60000};   // server.idle_timeout: between requests
  size_t max_header_bytes = 16 * 1024;       // server.max_header_bytes: headers and trailers; 431
  size_t max_header_fields = 100;            // server.max_header_fields: past it, 431
  size_t max_body_bytes = 10 * 1024 * 1024;  // server.max_body_bytes: past it, 413
  size_t max_connections = 10000;            // server.max_connections
  bool access_log = true;                    // server.access_log
};

/// What a listener is, besides its settings.
struct ListenerSpec {
  std::string name;        // "http", "metrics": its URL's name in the daemon's status
  std::string path;        // shown after the URL ("/metrics"); "" for none
  std::string config_key;  // the key that sets its address ("server.port"), named in errors
  std::shared_ptr<spdlog::logger> logger;  // the server's own messages; requests go to the
                                           // daemon's access log when access_log is set
};

/// One HTTP listener with its own routes. Start, Stop and Reconfigure come from the kernel's
/// calls into the plugin (one at a time); the stats and router are thread-safe.
class HttpListener : public HttpStats {
 public:
  /// The listener's routes; they serve while it listens.
  virtual Router& router() = 0;
  /// Binds and serves; the URL is then in the daemon's status. kIo naming the address when it
  /// cannot bind. Start may be called again after Stop.
  virtual Result<void> Start() = 0;
  /// The daemon is stopping: responses from now on carry `Connection: close`.
  virtual void BeginDrain() = 0;
  /// Stops accepting, drains in-flight requests until `deadline`, and withdraws the URL.
  virtual void Stop(std::chrono::steady_clock::time_point deadline) = 0;
  /// For a plugin's CheckConfig: an error naming the spec's config key when `next` moves to an
  /// address that is taken now; the same address, or port 0, needs no check.
  virtual Result<void> Check(const ListenerSettings& next) const = 0;
  /// For a plugin's Reconfigure: applies `next` live (see the server's Update) and updates the
  /// URL in the daemon's status.
  virtual Result<void> Reconfigure(const ListenerSettings& next) = 0;

  virtual const ListenerSettings& settings() const = 0;
  virtual uint16_t port() const = 0;  // the bound port; 0 when not serving
  virtual bool running() const = 0;
  /// The most connections served at once (max_connections, or less by the descriptor limit).
  virtual uint64_t ConnectionLimit() const = 0;
  /// Requests refused and connections dropped, by reason, since the start.
  virtual std::vector<std::pair<std::string_view, uint64_t>> Rejections() const = 0;
};

/// Opens listeners ("http.listeners" in the service registry). Thread-safe.
class HttpListenerFactory {
 public:
  virtual ~HttpListenerFactory() = default;
  /// A listener that is not yet listening: add its routes, then Start it.
  virtual std::shared_ptr<HttpListener> Open(ListenerSpec spec, ListenerSettings settings) = 0;
};

/// Whether this process is one service of a microservice deployment other than `home` (the one
/// whose listener the key belongs to: "api-gateway" for server.port, "monitor" for
/// monitoring.prometheus_port). Such a process listens on a free port unless the key was set:
/// many services and instances share one machine, and the gateway and operators find each one's
/// address in its heartbeats (`streamgate services`).
inline bool ListensAside(const config::Config& config, const DaemonStatus& status,
                         std::string_view home) {
  // The status names a process APP-SERVICE ("streamgate-upload").
  return status.mode == "microservice" &&
         status.service != config.String("app.name") + "-" + std::string(home);
}

/// The port a listener binds: `key`'s value, or 0 (a free port) when `aside` and the key was
/// left at its default.
inline uint16_t ListenerPortFor(const config::Config& config, const std::string& key, bool aside) {
  if (aside && config.Get(key).origin.kind == config::Origin::Kind::kDefault) return 0;
  return static_cast<uint16_t>(config.Int(key));
}

}  // namespace sg
