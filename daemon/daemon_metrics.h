// The daemon's own metrics: the process, the build, each plugin, the bus, the control socket and
// the log.
#pragma once

#include <functional>
#include <string>

#include "common/logging.h"
#include "daemon/control/dispatcher.h"
#include "daemon/kernel/kernel.h"
#include "daemon/plugin_api/blocking_pool.h"
#include "daemon/plugin_api/bus.h"
#include "daemon/plugin_api/metrics.h"

namespace sg::daemon {

struct MetricSources {
  const kernel::Kernel* kernel = nullptr;
  const Bus* bus = nullptr;
  const log::LogHub* logs = nullptr;
  const BlockingPool* blocking = nullptr;  // plugins' blocking work
  /// The control dispatcher, once it exists (it starts after the plugins).
  std::function<const control::Dispatcher*()> dispatcher;
  /// The NATS connection's state ("connected", ...) and reconnect count; empty in monolith mode.
  std::function<std::pair<std::string, uint64_t>()> nats;
  std::string mode;
  std::string service;
};

/// Registers collectors for everything the daemon itself knows.
void RegisterDaemonMetrics(MetricsRegistry& registry, MetricSources sources);

}  // namespace sg::daemon
