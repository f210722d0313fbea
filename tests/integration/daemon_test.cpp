// The real streamgated process: configuration errors, readiness and signals.
#include <signal.h>

#include <catch2/catch.hpp>

#include "tests/support/process.h"

namespace sg::test {
namespace {

SpawnOptions DaemonEnv(const TempDir& dir) {
  SpawnOptions options;
  options.unset_env = {"STREAMGATE_CONFIG", "NOTIFY_SOCKET"};
  options.env["XDG_RUNTIME_DIR"] = dir.path();
  options.env["XDG_CONFIG_HOME"] = dir.path() + "/xdg";
  options.cwd = dir.path();
  return options;
}

}  // namespace

TEST_CASE("streamgated with a bad configuration prints the diagnostics and exits 78", "[daemon]") {
  TempDir dir;
  const std::string file = dir.Write("bad.yaml", "server:\n  port: 70000\n");

  Process daemon({SG_DAEMON_BIN, "--config", file}, dir, DaemonEnv(dir));

  REQUIRE(daemon.Wait(10s) == 78);
  CHECK_THAT(daemon.Stderr(), Catch::Contains(file + ":2:9: error: server.port: '70000' is out of range"));
  CHECK_THAT(daemon.Stderr(), Catch::Contains("configuration is invalid: 1 error"));
}

TEST_CASE("streamgated rejects a bad flag value naming the flag", "[daemon]") {
  TempDir dir;

  Process daemon({SG_DAEMON_BIN, "--mode", "monolit"}, dir, DaemonEnv(dir));

  REQUIRE(daemon.Wait(10s) == 78);
  CHECK_THAT(daemon.Stderr(), Catch::Contains("--mode: error: app.mode: 'monolit' is not a valid value; did you mean 'monolith'?"));
}

TEST_CASE("streamgated starts on embedded defaults and stops cleanly on SIGTERM", "[daemon]") {
  TempDir dir;
  Process daemon({SG_DAEMON_BIN, "--log-format", "json"}, dir, DaemonEnv(dir));

  REQUIRE(WaitFor([&] { return daemon.Stderr().find("started successfully") != std::string::npos; }, 10s));
  const std::string log = daemon.Stderr();
  CHECK_THAT(log, Catch::Contains("\"msg\":\"Configuration loaded\""));
  CHECK_THAT(log, Catch::Contains("\"file\":\"built-in defaults\""));
  daemon.Signal(SIGTERM);

  CHECK(daemon.Wait(10s) == 0);
}

TEST_CASE("streamgated usage errors exit 2", "[daemon]") {
  const RunResult r = Run({SG_DAEMON_BIN, "--no-such-flag"});

  CHECK(r.exit_code == 2);
}

}  // namespace sg::test
