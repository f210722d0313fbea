// The api-gateway plugin's configuration: the server section, its HTTP listener.
#pragma once

#include "config/schema.h"

namespace sg::plugins {

/// The api-gateway plugin's sections; a reload applies every key live.
config::ConfigDeclaration ApiGatewayConfig();

}  // namespace sg::plugins
