// The transcoder plugin's configuration: the transcoder section (the ffmpeg ladder).
#pragma once

#include "config/schema.h"

namespace sg::plugins {

/// The transcoder plugin's section; the plugin takes a change when it restarts.
config::ConfigDeclaration TranscoderConfig();

}  // namespace sg::plugins
