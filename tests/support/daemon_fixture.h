// A streamgated in the foreground for integration tests: a private runtime directory, loopback
// listeners on free ports, readiness through NOTIFY_SOCKET, and the ports it bound read back from
// its log.
#pragma once

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <signal.h>

#include "tests/support/notify_socket.h"
#include "tests/support/process.h"

namespace sg::test {

/// The port= field of the newest log line starting with `message` (prod format) in a daemon's
/// output; 0 if none.
inline uint16_t LoggedPort(const Process& daemon, const std::string& message) {
  const std::string log = daemon.Stderr();
  const std::regex line(message + "\\t.*port=(\\d+)");
  uint16_t found = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator();
       ++it) {
    found = static_cast<uint16_t>(std::stoi((*it)[1]));
  }
  return found;
}

struct RunningDaemon {
  /// `sets` are --set KEY=VALUE arguments; `config` a file for --config; `wrapper` a command
  /// that runs the daemon (prlimit, setpriv, ...).
  explicit RunningDaemon(std::vector<std::string> sets = {}, const std::string& config = "",
                         const std::vector<std::string>& wrapper = {}) {
    env.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT"};
    env.env["XDG_RUNTIME_DIR"] = dir.path();
    env.env["NOTIFY_SOCKET"] = notify.path();
    env.cwd = dir.path();
    std::vector<std::string> argv = {SG_DAEMON_BIN, "--set", "server.host=127.0.0.1"};
    if (config.empty()) {
      argv.insert(argv.end(), {"--set", "server.port=0"});
    } else {
      argv.insert(argv.end(), {"--config", config});
    }
    // Tests run side by side: the monitor's listener on any free port too.
    argv.insert(argv.end(), {"--set", "monitoring.prometheus_port=0"});
    for (const auto& s : sets) argv.insert(argv.end(), {"--set", s});
    argv.insert(argv.begin(), wrapper.begin(), wrapper.end());
    daemon = std::make_unique<Process>(argv, dir, env);
    INFO(daemon->Stderr());
    REQUIRE(notify.WaitFor("READY=1", 10s));
    port = LoggedPort("API Gateway started successfully");
    metrics_port = LoggedPort("Metrics served");
  }
  ~RunningDaemon() {
    daemon->Signal(SIGTERM);
    daemon->Wait(30s);
  }

  uint16_t LoggedPort(const std::string& message) const {
    return test::LoggedPort(*daemon, message);
  }

  bool LogSays(const std::string& text) const {
    return daemon->Stderr().find(text) != std::string::npos;
  }

  RunResult Cli(std::vector<std::string> args) const {
    args.insert(args.begin(), SG_CLI_BIN);
    return Run(args, env, 60s);
  }

  TempDir dir;
  NotifySocket notify{dir.path() + "/notify"};
  SpawnOptions env;
  std::unique_ptr<Process> daemon;
  uint16_t port = 0;
  uint16_t metrics_port = 0;
};

inline bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace sg::test
