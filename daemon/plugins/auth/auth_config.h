// The auth plugin's configuration: the auth section (API keys, tokens, playback capabilities).
#pragma once

#include "config/schema.h"

namespace sg::plugins {

/// The auth section. The daemon reads auth.required, auth.keys_file and auth.capability_ttl in
/// every process (each checks tokens by itself); the plugin reads the rest.
config::ConfigDeclaration AuthConfig();

}  // namespace sg::plugins
