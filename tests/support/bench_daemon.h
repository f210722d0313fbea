// A streamgated for benchmarks, outside Catch: the given --set keys on top of loopback listeners
// on any free port and warn-level logs, a private runtime folder, readiness through NOTIFY_SOCKET,
// and the ports it bound as `streamgate --json status` reports them.
#pragma once

#include <cstdio>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <signal.h>

#include "tests/support/listener_port.h"
#include "tests/support/notify_socket.h"
#include "tests/support/process.h"

namespace sg::test {

class BenchDaemon {
 public:
  BenchDaemon(const TempDir& dir, const std::vector<std::string>& sets)
      : notify_(dir.path() + "/notify") {
    using namespace std::chrono_literals;
    env_.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT"};
    env_.env["STREAMGATE_AUTH_REQUIRED"] = "false";
    env_.env["XDG_RUNTIME_DIR"] = dir.path();
    env_.env["NOTIFY_SOCKET"] = notify_.path();
    env_.cwd = dir.path();
    std::vector<std::string> argv = {SG_DAEMON_BIN,
                                     "--log-level",
                                     "warn",
                                     "--set",
                                     "server.host=127.0.0.1",
                                     "--set",
                                     "server.port=0",
                                     "--set",
                                     "monitoring.prometheus_port=0"};
    for (const auto& s : sets) argv.insert(argv.end(), {"--set", s});
    process_ = std::make_unique<Process>(argv, dir, env_);
  }
  ~BenchDaemon() {
    using namespace std::chrono_literals;
    process_->Signal(SIGTERM);
    if (!process_->Wait(30s)) process_->Signal(SIGKILL);
  }
  BenchDaemon(const BenchDaemon&) = delete;
  BenchDaemon& operator=(const BenchDaemon&) = delete;

  pid_t pid() const { return process_->pid(); }
  const SpawnOptions& env() const { return env_; }

  /// Waits for READY=1; the HTTP port, or 0 (the daemon's stderr printed) when it is not ready in
  /// time. Sets metrics_port too.
  uint16_t WaitReady() {
    using namespace std::chrono_literals;
    uint16_t port = 0;
    if (notify_.WaitFor("READY=1", 60s)) {
      const std::string status = Run({SG_CLI_BIN, "--json", "status"}, env_, 60s).out;
      port = ListenerPort(status, "http");
      metrics_port = ListenerPort(status, "metrics");
    }
    if (port == 0) {
      std::fprintf(stderr, "streamgated did not get ready:\n%s\n", process_->Stderr().c_str());
    }
    return port;
  }
  std::string Stderr() const { return process_->Stderr(); }

  /// Uploads `file` with the CLI to the daemon's HTTP `port` and waits until its video is
  /// ready: the video's id, or "" (with the CLI's message on stderr) when it did not become one.
  std::string UploadReady(const std::string& file, uint16_t port) const {
    using namespace std::chrono_literals;
    const auto up = Run({SG_CLI_BIN, "upload", file, "--url",
                         "http://127.0.0.1:" + std::to_string(port), "--wait", "--json"},
                        env_, 300s);
    std::smatch m;
    if (up.exit_code != 0 ||
        !std::regex_search(up.out, m, std::regex(R"re("video":"([0-9A-Z]{26})")re"))) {
      std::fprintf(stderr, "the clip did not become a ready video: %s\n", up.err.c_str());
      return "";
    }
    return m[1];
  }

  uint16_t metrics_port = 0;

 private:
  NotifySocket notify_;
  SpawnOptions env_;
  std::unique_ptr<Process> process_;
};

}  // namespace sg::test
