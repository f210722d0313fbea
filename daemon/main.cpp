// streamgated: the StreamGate daemon.
#include <csignal>
#include <exception>
#include <iostream>

#include "common/exit_codes.h"
#include "daemon/daemon.h"
#include "daemon/options.h"

int main(int argc, char** argv) {
  // A client that goes while a file is sent with sendfile(2) (which has no MSG_NOSIGNAL) must
  // not kill the daemon: the write fails with EPIPE instead. Children get the default back.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    sg::daemon::Options options;
    if (auto rc = sg::daemon::ParseOptions(argc, argv, options)) return *rc;
    return sg::daemon::RunDaemon(options);
  } catch (const std::exception& e) {
    // Last resort: every expected failure is handled where it happens.
    std::cerr << "streamgated: fatal: " << e.what() << '\n';
    return sg::kExitFailure;
  }
}
