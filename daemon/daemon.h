// The daemon process: configuration, logging, signals and the service-manager handshake around
// the microkernel. main() only parses flags and calls RunDaemon.
#pragma once

#include "daemon/options.h"

namespace sg::daemon {

/// Runs streamgated until a signal stops it. Returns the process exit code: 0 after a clean stop,
/// 78 for an invalid configuration, 1 for any other startup failure.
int RunDaemon(const Options& options);

}  // namespace sg::daemon
