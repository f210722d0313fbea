// The upload plugin's configuration: the upload section (tus uploads at /api/v1/uploads).
#pragma once

#include "config/schema.h"

namespace sg::plugins {

/// The upload plugin's section; the plugin takes a change when it restarts.
config::ConfigDeclaration UploadConfig();

}  // namespace sg::plugins
