// The kernel's record of one plugin: private to daemon/kernel, shared by the files that split
// the kernel by concept (lifecycle, dependency graph, restarts, health).
#pragma once

#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "daemon/kernel/kernel.h"
#include "daemon/kernel/plugin_scope.h"

namespace sg::kernel {

struct HealthAnswer {
  HealthReport report;
  std::chrono::microseconds latency{0};
};

struct Kernel::Slot {
  // Declared first so that it goes last: a plugin's own handles undo through its views.
  std::unique_ptr<PluginScope> scope;  // what it registered through its context
  std::shared_ptr<sg::Plugin> plugin;
  std::string name;
  std::string version;
  std::vector<std::string> dependencies;
  RestartPolicy policy;
  // Set by InitSlot; shared with the calls into the plugin, which may outlive a timeout.
  std::shared_ptr<PluginContext> context;
  std::shared_ptr<ServiceRegistry> services;  // the plugin's view: what it offers is its own
  bool initialized = false;
  bool blocked = false;  // stopped because a dependency is not running; restarted with it
  PluginState state = PluginState::kRegistered;
  std::string reason;
  std::chrono::system_clock::time_point since = std::chrono::system_clock::now();
  int restarts = 0;
  std::optional<std::chrono::system_clock::time_point> next_restart;
  std::unique_ptr<boost::asio::steady_timer> restart_timer;
  std::shared_future<HealthAnswer> health_probe;  // guarded by mu_: the check in flight, if any
};

}  // namespace sg::kernel
