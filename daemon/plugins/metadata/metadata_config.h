// The metadata plugin's configuration: the metadata section, and the core database section that
// its PostgreSQL engine reads.
#pragma once

#include "config/schema.h"

namespace sg::plugins {

/// The metadata plugin's section; the plugin takes a change when it restarts.
config::ConfigDeclaration MetadataConfig();

}  // namespace sg::plugins
