// The cache plugin: offers the "cache" service, in process or on Redis as cache.backend says.
#pragma once

#include <memory>

#include "daemon/plugin_api/plugin.h"

namespace sg::plugins {

std::unique_ptr<Plugin> MakeCache();

}  // namespace sg::plugins
