// The auth plugin: API keys (made and revoked by the operator over the control socket, stored as
// SHA-256 hashes beside the catalogue), their exchange for short-lived tokens at
// POST /api/v1/auth/token, tokens for the local operator, and rotation of the signing keys.
// Checking tokens and playback capabilities is not its work: every process does that by itself
// with the "access" guard (plugin_api/access_guard.h).
#pragma once

#include <memory>

#include "daemon/plugin_api/plugin.h"

namespace sg::plugins {

std::unique_ptr<Plugin> MakeAuth();

}  // namespace sg::plugins
