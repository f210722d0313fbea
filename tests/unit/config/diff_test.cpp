#include "config/diff.h"

#include <catch2/catch.hpp>

#include "config/loader.h"
#include "daemon/plugins/builtin_config.h"

namespace sg::config {
namespace {

// The schema streamgated is built with: the daemon's sections and every built-in plugin's.
const Schema& Builtin() { return plugins::BuiltinSchema(); }

Config Loaded(const std::string& yaml) {
  LoadResult r = LoadText(Builtin(), yaml, "f.yaml");
  REQUIRE(r.Ok());
  return std::move(r.config);
}

}  // namespace

TEST_CASE("the diff of a configuration with itself is empty", "[config][diff]") {
  const Config config = Loaded("server:\n  port: 8081\n");

  CHECK(Diff(config, config).empty());
}

TEST_CASE("the diff names each changed key in schema order, as config show prints it",
          "[config][diff]") {
  const Config before = Loaded("server:\n  port: 8081\n");
  const Config after = Loaded("logging:\n  level: debug\nserver:\n  port: 8082\n");

  const auto changes = Diff(before, after);

  REQUIRE(changes.size() == 2);
  const bool logging_first = Builtin().Find("logging.level") < Builtin().Find("server.port");
  const KeyChange& port = logging_first ? changes[1] : changes[0];
  const KeyChange& level = logging_first ? changes[0] : changes[1];
  CHECK(port.key == "server.port");
  CHECK(port.from == "8081");
  CHECK(port.to == "8082");
  CHECK_FALSE(port.needs_daemon_restart);
  CHECK(level.key == "logging.level");
  CHECK(level.to == "debug");
  CHECK_FALSE(level.needs_daemon_restart);
}

TEST_CASE("a changed secret is reported redacted", "[config][diff]") {
  const Config before = Loaded("nats:\n  password: first-secret\n");
  const Config after = Loaded("nats:\n  password: second-secret\n");

  const auto changes = Diff(before, after);

  REQUIRE(changes.size() == 1);
  CHECK(changes[0].key == "nats.password");
  CHECK(changes[0].from.find("first-secret") == std::string::npos);
  CHECK(changes[0].to.find("second-secret") == std::string::npos);
  CHECK(changes[0].needs_daemon_restart);
}

TEST_CASE("keys the daemon applies at startup are declared as needing a daemon restart",
          "[config][diff]") {
  for (const char* key : {"app.mode", "app.name", "control.endpoint", "daemon.blocking_threads",
                          "daemon.blocking_queue", "nats.url", "logging.format", "logging.file"}) {
    INFO(key);
    const KeySpec* spec = Builtin().Find(key);
    REQUIRE(spec != nullptr);
    CHECK(spec->reload == Reload::kRestartDaemon);
  }
  for (const char* key : {"logging.level", "server.port", "daemon.shutdown_timeout"}) {
    INFO(key);
    const KeySpec* spec = Builtin().Find(key);
    REQUIRE(spec != nullptr);
    CHECK(spec->reload != Reload::kRestartDaemon);
  }
}

}  // namespace sg::config
