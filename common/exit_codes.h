// Exit codes of `streamgate` and `streamgated`. They are documented in streamgate(1) and
// streamgated(8) and are never renumbered: scripts depend on them.
#pragma once

namespace sg {

enum ExitCode : int {
  kExitOk = 0,              // success; for `health`, healthy
  kExitFailure = 1,         // the operation failed; for `health`, degraded
  kExitUsage = 2,           // bad command line; for `health`, unhealthy
  kExitUnreachable = 3,     // no daemon answered on the control endpoint
  kExitAlreadyRunning = 4,  // `start`: a daemon already answers on the control endpoint
  kExitNotFound = 5,        // `videos`, `jobs`: no video or job has that id
  kExitPluginDown = 6,      // `videos`, `jobs`: the plugin that serves it is not running
  kExitNoInput = 66,        // `upload`: the file is missing or unreadable (sysexits EX_NOINPUT)
  kExitNotBuilt = 69,  // streamgated --service NAME: that service is not built yet (EX_UNAVAILABLE)
  kExitConfig = 78,    // the configuration is invalid or unreadable (sysexits EX_CONFIG)
  kExitInterrupted = 130,  // `upload`: stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells say)
};

}  // namespace sg
