// The monitor plugin: Prometheus metrics at /metrics on a listener of its own, and a health
// watcher that publishes changes on the bus (monitor.health.changed).
#pragma once

#include <memory>

#include "daemon/plugin_api/plugin.h"

namespace sg::plugins {

std::unique_ptr<Plugin> MakeMonitor();

}  // namespace sg::plugins
