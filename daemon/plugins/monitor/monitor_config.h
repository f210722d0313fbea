// The monitor plugin's configuration: the monitoring section, with its metrics listener.
#pragma once

#include "config/schema.h"

namespace sg::plugins {

/// The monitor plugin's sections; it binds server.host too.
config::ConfigDeclaration MonitorConfig();

}  // namespace sg::plugins
