// The configuration of streamgated: the daemon's own sections plus each built-in plugin's, as
// the plugins declare them in their folders. Data only, so the CLI links it without the plugins.
#pragma once

#include <vector>

#include "config/schema.h"

namespace sg::plugins {

/// Each built-in plugin's declaration, in the order of BuiltinPlugins(); a new plugin adds its
/// line here as it does there.
std::vector<config::ConfigDeclaration> BuiltinConfigs();

/// The whole schema: CoreConfig() then BuiltinConfigs(). Built on first use, lives for the
/// process; safe from any thread.
const config::Schema& BuiltinSchema();

}  // namespace sg::plugins
