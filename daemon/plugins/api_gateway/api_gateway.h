// The api-gateway plugin: StreamGate's HTTP front door. It serves the health endpoints and offers
// its router to other plugins ("http.router") and its counters to the monitor ("http.stats").
#pragma once

#include <memory>

#include "daemon/plugin_api/plugin.h"

namespace sg::plugins {

/// Makes the plugin.
std::unique_ptr<Plugin> MakeApiGateway();

}  // namespace sg::plugins
