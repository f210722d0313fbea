// The cache plugin's configuration: the cache section, and redis for its shared backend.
#pragma once

#include "config/schema.h"

namespace sg::plugins {

/// The cache plugin's sections; the plugin takes a change when it restarts.
config::ConfigDeclaration CacheConfig();

}  // namespace sg::plugins
