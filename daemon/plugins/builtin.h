// The explicit list of plugins built into streamgated: the one place a new plugin is added.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "daemon/plugin_api/plugin.h"

namespace sg::plugins {

/// A fresh instance of every built-in plugin, in a stable order.
std::vector<std::unique_ptr<Plugin>> BuiltinPlugins();

}  // namespace sg::plugins
