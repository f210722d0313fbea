// The real streamgated process: configuration errors, readiness, signals, reload and the pid file.
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>
#include <signal.h>

#include "tests/support/notify_socket.h"
#include "tests/support/process.h"

namespace sg::test {
namespace {

SpawnOptions DaemonEnv(const TempDir& dir) {
  SpawnOptions options;
  options.unset_env = {"STREAMGATE_CONFIG", "NOTIFY_SOCKET"};
  options.env["XDG_RUNTIME_DIR"] = dir.path();
  // Any free port on loopback: tests run side by side.
  options.env["STREAMGATE_SERVER_HOST"] = "127.0.0.1";
  options.env["STREAMGATE_SERVER_PORT"] = "0";
  options.env["STREAMGATE_MONITORING_PROMETHEUS_PORT"] = "0";
  options.env["STREAMGATE_METADATA_SQLITE_PATH"] = dir.path() + "/streamgate.db";
  options.env["XDG_CONFIG_HOME"] = dir.path() + "/xdg";
  options.cwd = dir.path();
  return options;
}

// DaemonEnv under a service manager: the daemon's notifications go to `notify`.
SpawnOptions ManagedEnv(const TempDir& dir, const NotifySocket& notify) {
  SpawnOptions options = DaemonEnv(dir);
  options.env["NOTIFY_SOCKET"] = notify.path();
  return options;
}

bool LogSays(const Process& p, const std::string& text) {
  return p.Stderr().find(text) != std::string::npos;
}

}  // namespace

TEST_CASE("streamgated with a bad configuration prints the diagnostics and exits 78", "[daemon]") {
  TempDir dir;
  const std::string file = dir.Write("bad.yaml", "server:\n  port: 70000\n");

  Process daemon({SG_DAEMON_BIN, "--config", file}, dir, DaemonEnv(dir));

  REQUIRE(daemon.Wait(10s) == 78);
  CHECK_THAT(daemon.Stderr(),
             Catch::Contains(file + ":2:9: error: server.port: '70000' is out of range"));
  CHECK_THAT(daemon.Stderr(), Catch::Contains("configuration is invalid: 1 error"));
}

TEST_CASE("streamgated rejects a bad flag value naming the flag", "[daemon]") {
  TempDir dir;

  Process daemon({SG_DAEMON_BIN, "--mode", "monolit"}, dir, DaemonEnv(dir));

  REQUIRE(daemon.Wait(10s) == 78);
  CHECK_THAT(
      daemon.Stderr(),
      Catch::Contains(
          "--mode: error: app.mode: 'monolit' is not a valid value; did you mean 'monolith'?"));
}

TEST_CASE("streamgated is ready within a deadline and stops cleanly on SIGTERM", "[daemon]") {
  TempDir dir;
  NotifySocket notify(dir.path() + "/notify");
  SpawnOptions env = ManagedEnv(dir, notify);
  Process daemon({SG_DAEMON_BIN, "--log-format", "json"}, dir, env);

  REQUIRE(notify.WaitFor("READY=1", 10s));
  const std::string log = daemon.Stderr();
  CHECK_THAT(log, Catch::Contains("\"msg\":\"Configuration loaded\""));
  CHECK_THAT(log, Catch::Contains("\"file\":\"built-in defaults\""));
  CHECK_THAT(log, Catch::Contains("\"msg\":\"Microkernel started successfully\""));
  daemon.Signal(SIGTERM);

  const auto code = daemon.Wait(10s);
  INFO(daemon.Stderr());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(notify.WaitFor("STOPPING=1", 1s));
  CHECK(LogSays(daemon, "StreamGate stopped"));
}

TEST_CASE("without a service manager streamgated maps no libsystemd, libcurl or libpq",
          "[daemon]") {
  // They are loaded when first needed (sd_notify under a Type=notify unit, S3, PostgreSQL), so a
  // monolith on embedded defaults does not map them and what they bring (tests/bench/README.md).
  TempDir dir;
  Process daemon({SG_DAEMON_BIN}, dir, DaemonEnv(dir));
  REQUIRE(WaitFor([&] { return LogSays(daemon, "Microkernel started successfully"); }, 10s));
  // A reload notifies twice (RELOADING=1, READY=1): the path that would load libsystemd has run.
  daemon.Signal(SIGHUP);
  REQUIRE(WaitFor([&] { return LogSays(daemon, "Configuration reloaded: nothing changed"); }, 10s));
  std::ifstream maps("/proc/" + std::to_string(daemon.pid()) + "/maps");
  std::stringstream text;
  text << maps.rdbuf();
  REQUIRE_THAT(text.str(), Catch::Contains("libc.so"));  // the file was read
  CHECK_THAT(text.str(), !Catch::Contains("libsystemd"));
  CHECK_THAT(text.str(), !Catch::Contains("libcurl"));
  CHECK_THAT(text.str(), !Catch::Contains("libpq"));
  daemon.Signal(SIGTERM);
  CHECK(daemon.Wait(10s) == 0);
}

TEST_CASE("under a service manager a libsystemd that cannot be loaded stops the start at once",
          "[daemon]") {
  TempDir dir;
  NotifySocket notify(dir.path() + "/notify");
  SpawnOptions env = ManagedEnv(dir, notify);
  // Found first on the library path, and not a library.
  dir.Write("libsystemd.so.0", "not an ELF file\n");
  env.env["LD_LIBRARY_PATH"] = dir.path();
  Process daemon({SG_DAEMON_BIN}, dir, env);

  REQUIRE(daemon.Wait(10s) == 1);
  CHECK_THAT(daemon.Stderr(), Catch::Contains("NOTIFY_SOCKET is set but the service manager "
                                              "cannot be told that the daemon is ready"));
  CHECK_THAT(daemon.Stderr(), Catch::Contains("apt install libsystemd0"));
}

TEST_CASE("SIGHUP with a bad file keeps the running configuration; a good one is applied",
          "[daemon]") {
  TempDir dir;
  NotifySocket notify(dir.path() + "/notify");
  SpawnOptions env = ManagedEnv(dir, notify);
  const std::string file = dir.Write("sg.yaml", "logging:\n  level: info\n");
  Process daemon({SG_DAEMON_BIN, "--config", file}, dir, env);
  REQUIRE(notify.WaitFor("READY=1", 10s));

  dir.Write("sg.yaml", "logging:\n  level: loud\n");
  daemon.Signal(SIGHUP);
  REQUIRE(WaitFor([&] { return LogSays(daemon, "Configuration reload rejected"); }, 10s));
  CHECK(LogSays(daemon, file + ":2:10: error: logging.level: 'loud' is not a valid value"));
  CHECK(daemon.Running());
  CHECK(notify.WaitFor("RELOADING=1", 1s));

  dir.Write("sg.yaml", "logging:\n  level: debug\n");
  daemon.Signal(SIGHUP);
  REQUIRE(WaitFor([&] { return LogSays(daemon, "Configuration reloaded"); }, 10s));
  CHECK(LogSays(daemon, "Configuration changed\tkey=logging.level from=info to=debug"));

  daemon.Signal(SIGTERM);
  CHECK(daemon.Wait(10s) == 0);
}

TEST_CASE("a second daemon on the same endpoint is refused, naming the first", "[daemon]") {
  TempDir dir;
  NotifySocket notify(dir.path() + "/notify");
  SpawnOptions env = ManagedEnv(dir, notify);
  Process first({SG_DAEMON_BIN}, dir, env);
  REQUIRE(notify.WaitFor("READY=1", 10s));

  Process second({SG_DAEMON_BIN}, dir, DaemonEnv(dir));

  REQUIRE(second.Wait(10s) == 1);
  CHECK_THAT(second.Stderr(),
             Catch::Contains("another streamgated (pid " + std::to_string(first.pid()) + ")"));
  CHECK(first.Running());
}

TEST_CASE("a stale pid file left by a killed daemon is detected and replaced", "[daemon]") {
  TempDir dir;
  NotifySocket notify(dir.path() + "/notify");
  SpawnOptions env = ManagedEnv(dir, notify);
  Process first({SG_DAEMON_BIN}, dir, env);
  REQUIRE(notify.WaitFor("READY=1", 10s));
  const pid_t old_pid = first.pid();
  first.Signal(SIGKILL);
  REQUIRE(first.Wait(10s) == 128 + SIGKILL);

  NotifySocket notify2(dir.path() + "/notify2");
  env.env["NOTIFY_SOCKET"] = notify2.path();
  Process second({SG_DAEMON_BIN}, dir, env);

  REQUIRE(notify2.WaitFor("READY=1", 10s));
  CHECK(LogSays(second, "Replaced a stale pid file"));
  CHECK(LogSays(second, "old_pid=" + std::to_string(old_pid)));
  second.Signal(SIGTERM);
  CHECK(second.Wait(10s) == 0);
}

TEST_CASE("a second SIGTERM during shutdown exits at once", "[daemon]") {
  TempDir dir;
  NotifySocket notify(dir.path() + "/notify");
  SpawnOptions env = ManagedEnv(dir, notify);
  Process daemon({SG_DAEMON_BIN}, dir, env);
  REQUIRE(notify.WaitFor("READY=1", 10s));

  daemon.Signal(SIGTERM);
  daemon.Signal(SIGTERM);

  // With no plugins the first signal may finish the shutdown before the second lands.
  const auto code = daemon.Wait(10s);
  REQUIRE(code.has_value());
  CHECK((*code == 0 || *code == 1));
}

TEST_CASE("microservice mode names the services", "[daemon]") {
  TempDir dir;

  const RunResult unknown =
      Run({SG_DAEMON_BIN, "--mode", "microservice", "--service", "cahce"}, DaemonEnv(dir));
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.err, Catch::Contains("did you mean 'cache'?") &&
                              Catch::Contains("api-gateway, upload, transcoder"));

  const RunResult missing = Run({SG_DAEMON_BIN, "--mode", "microservice"}, DaemonEnv(dir));
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("--service NAME"));
}

TEST_CASE("streamgated usage errors exit 2", "[daemon]") {
  const RunResult r = Run({SG_DAEMON_BIN, "--no-such-flag"});

  CHECK(r.exit_code == 2);
}

}  // namespace sg::test
