// What one plugin registered through its context (bus subscriptions, metrics collectors, routes),
// owned by the kernel: nothing of it serves while the plugin is not running, what it registered
// while running is undone when it stops, and what Init registered when the kernel goes.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "daemon/plugin_api/bus.h"
#include "daemon/plugin_api/http.h"
#include "daemon/plugin_api/metrics.h"
#include "daemon/plugin_api/registration.h"

namespace sg::kernel {

/// Thread-safe. The views it hands out (bus, metrics, router) stay valid as long as it does.
class PluginScope {
 public:
  /// `metrics` and `router` may be null: the plugin then gets none.
  PluginScope(std::string owner, Bus& bus, MetricsRegistry* metrics,
              std::shared_ptr<Router> router);
  ~PluginScope();
  PluginScope(const PluginScope&) = delete;
  PluginScope& operator=(const PluginScope&) = delete;

  Bus& bus();
  MetricsRegistry* metrics();  // null when the daemon has no metrics registry
  Router* router();            // null when no plugin offers "http.router"

  /// Running: deliveries, scrapes and requests reach the plugin. Not running: its subscriptions
  /// drop messages, its collectors are left out of /metrics, its routes answer 503 naming it.
  void SetRunning(bool running);
  /// What is registered from now on belongs to this run, and EndRun undoes it.
  void BeginRun();
  /// Undoes what the plugin registered since BeginRun and did not undo itself.
  void EndRun();
  /// Undoes everything, Init's registrations too.
  void EndAll();

  struct Counts {
    size_t subscriptions = 0;
    size_t collectors = 0;
    size_t routes = 0;
  };
  /// What is registered now, for tests and leak checks.
  Counts counts() const;

 private:
  struct Shared;
  class ScopedBus;
  class ScopedRouter;

  std::shared_ptr<Shared> shared_;
  std::unique_ptr<ScopedBus> bus_;
  std::shared_ptr<MetricsRegistry> metrics_;
  std::unique_ptr<ScopedRouter> router_;
};

}  // namespace sg::kernel
