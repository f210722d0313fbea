// The explicit list of plugins built into streamgated (no static self-registration, which static
// linking can drop). A new plugin adds one line to BuiltinPlugins() and its declaration to
// BuiltinConfigs() (builtin_config.h); the README's "How to add a plugin" has the rest.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "daemon/plugin_api/plugin.h"

namespace sg::plugins {

/// A fresh instance of every built-in plugin, in a stable order: the order of BuiltinConfigs(),
/// and the kernel's registration order, which breaks ties in the start order.
std::vector<std::unique_ptr<Plugin>> BuiltinPlugins();

}  // namespace sg::plugins
