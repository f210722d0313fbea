// The metadata plugin: the video catalogue on SQLite or PostgreSQL (metadata.engine), offered as
// the "metadata" service (in process, and over the bus in microservice mode), and the REST API
// /api/v1/videos on the api-gateway's router.
#pragma once

#include <memory>

#include "daemon/plugin_api/plugin.h"

namespace sg::plugins {

std::unique_ptr<Plugin> MakeMetadata();

}  // namespace sg::plugins
