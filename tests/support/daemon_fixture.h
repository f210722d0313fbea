// A streamgated in the foreground for integration tests: a private runtime directory, loopback
// listeners on port 0, readiness through NOTIFY_SOCKET, and the ports it bound as
// `streamgate status --json` reports them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "tests/support/listener_port.h"
#include "tests/support/notify_socket.h"
#include "tests/support/process.h"

namespace sg::test {

/// For tests of the upload itself: every plugin the upload needs, and no transcoder to move a
/// finished upload's video on from "uploaded".
inline constexpr const char* kNoTranscoder =
    "plugins.enabled=[api-gateway,cache,monitor,metadata,worker,upload]";

struct RunningDaemon {
  /// `sets` are --set KEY=VALUE arguments; `config` a file for --config; `wrapper` a command
  /// that runs the daemon (prlimit, setpriv, ...).
  explicit RunningDaemon(std::vector<std::string> sets = {}, const std::string& config = "",
                         const std::vector<std::string>& wrapper = {}) {
    env.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT"};
    // Writes without a token, as most tests make them; the auth tests --set
    // auth.required=true, which wins over the environment.
    env.env["STREAMGATE_AUTH_REQUIRED"] = "false";
    env.env["XDG_RUNTIME_DIR"] = dir.path();
    env.env["NOTIFY_SOCKET"] = notify.path();
    // The catalogue's SQLite file of this daemon alone, in the folder the sandbox hands over to
    // the daemon's user (a --set of metadata.sqlite_path wins).
    env.env["STREAMGATE_METADATA_SQLITE_PATH"] = dir.path() + "/streamgate.db";
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
    // One status request for both: tests count the daemon's control requests.
    const std::string status = Cli({"--json", "status"}).out;
    port = test::ListenerPort(status, "http");
    metrics_port = test::ListenerPort(status, "metrics");
  }
  ~RunningDaemon() {
    daemon->Signal(SIGTERM);
    daemon->Wait(30s);
  }

  /// The port listener `name` bound now, from `streamgate --json status`; 0 when none.
  uint16_t ListenerPort(const std::string& name) const {
    return test::ListenerPort(Cli({"--json", "status"}).out, name);
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
