// The daemon's own settings, taken from the configuration: the log hub's options, the plugins'
// restart policy, the NATS connection and the control socket. Pure functions of the config.
#pragma once

#include <string>

#include "common/logging.h"
#include "config/config.h"
#include "daemon/bus/nats_bus.h"
#include "daemon/control/control_server.h"
#include "daemon/kernel/kernel.h"

namespace sg::daemon {

/// logging.*; `service` is the name printed in prod and json records.
log::Options LogOptionsFrom(const config::Config& config, const std::string& service);

/// plugins.restart, plugins.restart_limit, plugins.restart_backoff(_max).
kernel::RestartPolicy PolicyFrom(const config::Config& config);

/// nats.*; `name` is the connection's name on the server.
bus::NatsOptions NatsOptionsFrom(const config::Config& config, const std::string& name);

/// control.curve_*, for the control socket at `endpoint` (already resolved).
control::ServerSettings ControlSettingsFrom(const config::Config& config,
                                            const std::string& endpoint);

}  // namespace sg::daemon
