// Locks (plugin_api/locks.h) on a NATS JetStream key-value bucket: a lease is a key made with
// create-if-absent, so one taker wins; the bucket's entries expire after `ttl` unless their
// holder renews them (every ttl/3, from one thread), so a holder killed with -9 lets go within
// `ttl`. Connects on first use and again after a failure.
#pragma once

#include <chrono>
#include <memory>

#include <spdlog/logger.h>

#include "config/config.h"
#include "daemon/plugin_api/locks.h"

namespace sg::bus {

/// nats.* for the server; the bucket "streamgate-locks".
std::shared_ptr<Locks> MakeNatsLocks(const config::Config& config,
                                     std::shared_ptr<spdlog::logger> logger,
                                     std::chrono::seconds ttl = std::chrono::seconds(30));

}  // namespace sg::bus
