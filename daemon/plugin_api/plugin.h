// The plugin contract: what the kernel calls, and what it hands a plugin to work with. This
// folder is the only part of the daemon a plugin may include.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <spdlog/logger.h>

#include "common/result.h"
#include "config/config.h"
#include "daemon/plugin_api/blocking_pool.h"
#include "daemon/plugin_api/bus.h"
#include "daemon/plugin_api/health.h"
#include "daemon/plugin_api/http.h"
#include "daemon/plugin_api/metrics.h"
#include "daemon/plugin_api/services.h"
#include "daemon/plugin_api/storage.h"

namespace sg {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

/// What the kernel gives a plugin at Init. Everything in it outlives the plugin.
struct PluginContext {
  std::shared_ptr<const config::Config> config;  // the whole configuration at Init
  std::shared_ptr<spdlog::logger> logger;        // named after the plugin
  /// Another named logger, for a part of the plugin; an asynchronous one, whose caller only
  /// queues the record, when `async` is set. (HTTP access lines go to the daemon's access log,
  /// which the listeners write themselves.)
  std::function<std::shared_ptr<spdlog::logger>(const std::string& component, bool async)>
      make_logger;
  /// The event bus, as this plugin's view: what it subscribes gets nothing while the plugin is
  /// not running, and what it subscribed in Start is unsubscribed when it stops.
  Bus* bus = nullptr;
  ServiceRegistry* services = nullptr;  // other plugins' services, by interface
  /// The daemon's metrics, as this plugin's view: its collectors are left out of /metrics while
  /// it is not running, and those added in Start are removed when it stops. Null when none.
  MetricsRegistry* metrics = nullptr;
  /// The api-gateway's router ("http.router"), as this plugin's view: its routes answer 503
  /// naming the plugin while it is not running, and those added in Start are removed when it
  /// stops. Null unless the api-gateway runs when this plugin is initialized: depend on it.
  Router* router = nullptr;
  boost::asio::any_io_executor executor;  // the daemon's thread pool, for async work
  /// Threads for work that blocks (disk, a database, child processes): never block the executor
  /// or an HTTP I/O thread. Submit refuses when the queue is full; answer 503 then.
  BlockingPool* blocking = nullptr;
  /// Where media lives (storage.*: local disk or S3). Every call may block: make them on
  /// `blocking`, never on the executor or an HTTP I/O thread.
  Storage* storage = nullptr;
  /// Tells the kernel that the plugin failed while running (its listener died, say); the kernel
  /// marks it failed and applies its restart policy. Safe from any thread.
  std::function<void(const std::string& reason)> report_failure;
};

/// A plugin. The kernel calls Init once, then Start and Stop (possibly several times, for
/// restarts), from one thread at a time; CheckHealth may be called from any thread, concurrently
/// with the others. Anything a method throws marks the plugin failed.
class Plugin {
 public:
  virtual ~Plugin() = default;

  virtual std::string_view Name() const = 0;     // "api-gateway": lower case, hyphenated
  virtual std::string_view Version() const = 0;  // "1.0.0"
  /// The plugins that must be running before this one starts.
  virtual std::vector<std::string> Dependencies() const { return {}; }

  /// Takes configuration and resources; does not start serving. A failure is reported as is.
  virtual Result<void> Init(PluginContext& context) = 0;
  /// Starts serving and returns promptly; long work goes to the executor.
  virtual Result<void> Start() = 0;
  /// Stops serving, draining in-flight work until the deadline.
  virtual void Stop(Deadline deadline) = 0;
  /// The daemon is about to stop every plugin: stop inviting new work (mark responses
  /// `Connection: close`, say). Called on every running plugin before the first Stop; must not
  /// block. The default does nothing.
  virtual void PrepareStop() {}
  /// Cheap; called often.
  virtual HealthReport CheckHealth() const = 0;

  /// Checks a new configuration before any plugin applies it: an error rejects the whole reload
  /// (it is all or nothing). The default accepts everything.
  virtual Result<void> CheckConfig(const config::Config& /*config*/) const { return {}; }

  /// The configuration keys the plugin reads: dotted keys ("app.mode") and sections ending in a
  /// dot ("cache."). A reload that changes none of them leaves the plugin alone, and reports it
  /// "unchanged". Empty, the default: every key counts.
  virtual std::vector<std::string> ConfigKeys() const { return {}; }

  /// Applies a new configuration that every plugin accepted. Returns true when applied live,
  /// false when the plugin needs a restart to take it. The default takes nothing live.
  /// (By value: a plugin that applies it keeps it.)
  // NOLINTNEXTLINE(performance-unnecessary-value-param): overrides take ownership
  virtual Result<bool> Reconfigure(std::shared_ptr<const config::Config> /*config*/) {
    return false;
  }
};

}  // namespace sg
