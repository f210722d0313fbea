// The streaming plugin's configuration: the streaming section (HLS and DASH delivery).
#pragma once

#include "config/schema.h"

namespace sg::plugins {

/// The streaming plugin's section; the plugin takes a change when it restarts.
config::ConfigDeclaration StreamingConfig();

}  // namespace sg::plugins
