#include "config/value_parser.h"

#include <catch2/catch.hpp>

#include "daemon/plugins/builtin_config.h"

namespace sg::config {
namespace {

// The schema streamgated is built with: the daemon's sections and every built-in plugin's.
const Schema& Builtin() { return plugins::BuiltinSchema(); }

const KeySpec& Spec(std::string_view path) {
  const KeySpec* spec = Builtin().Find(path);
  REQUIRE(spec != nullptr);
  return *spec;
}

Value Ok(std::string_view path, std::string_view text) {
  ParsedValue parsed = ParseScalar(Spec(path), text);
  INFO(parsed.message);
  REQUIRE(parsed.value.has_value());
  return *parsed.value;
}

std::string Bad(std::string_view path, std::string_view text) {
  ParsedValue parsed = ParseScalar(Spec(path), text);
  REQUIRE_FALSE(parsed.value.has_value());
  return parsed.message + "; " + parsed.hint;
}

}  // namespace

TEST_CASE("ports are checked against their range", "[config]") {
  CHECK(std::get<int64_t>(Ok("server.port", "8080")) == 8080);
  CHECK(std::get<int64_t>(Ok("server.port", "0")) == 0);
  CHECK_THAT(Bad("server.port", "70000"),
             Catch::Contains("out of range") && Catch::Contains("0 to 65535"));
  CHECK_THAT(Bad("database.port", "0"), Catch::Contains("1 to 65535"));
  CHECK_THAT(Bad("server.port", "80a"), Catch::Contains("expected a port number"));
  CHECK_THAT(Bad("server.port", "99999999999999999999"), Catch::Contains("expected a port number"));
}

TEST_CASE("durations take seconds or a unit and must be positive", "[config]") {
  CHECK(std::get<int64_t>(Ok("server.read_timeout", "30")) == 30000);
  CHECK(std::get<int64_t>(Ok("server.read_timeout", "500ms")) == 500);
  CHECK(std::get<int64_t>(Ok("server.read_timeout", "2m")) == 120000);
  CHECK_THAT(Bad("server.read_timeout", "0"), Catch::Contains("out of range"));
  CHECK_THAT(Bad("server.read_timeout", "-5"), Catch::Contains("negative"));
  CHECK_THAT(Bad("server.read_timeout", "5 fortnights"), Catch::Contains("unknown unit"));
  CHECK_THAT(Bad("server.read_timeout", "9999999999999999h"), Catch::Contains("too long"));
}

TEST_CASE("sizes take bytes or binary units", "[config]") {
  CHECK(std::get<int64_t>(Ok("logging.max_size", "10MiB")) == int64_t{10} * 1024 * 1024);
  CHECK(std::get<int64_t>(Ok("logging.max_size", "8192")) == 8192);
  CHECK_THAT(Bad("logging.max_size", "10 parsecs"), Catch::Contains("unknown unit"));
  CHECK_THAT(Bad("logging.max_size", "1"), Catch::Contains("out of range"));
}

TEST_CASE("pool sizes must be positive", "[config]") {
  CHECK_THAT(Bad("redis.poolsize", "0"), Catch::Contains("out of range"));
  CHECK_THAT(Bad("database.maxconns", "-3"), Catch::Contains("out of range"));
}

TEST_CASE("enums list the valid values and suggest the closest", "[config]") {
  CHECK(std::get<std::string>(Ok("app.mode", "microservice")) == "microservice");
  const std::string message = Bad("app.mode", "monolit");
  CHECK_THAT(message, Catch::Contains("did you mean 'monolith'?"));
  CHECK_THAT(message, Catch::Contains("monolith, microservice"));
}

TEST_CASE("booleans accept the YAML spellings", "[config]") {
  CHECK(std::get<bool>(Ok("app.debug", "yes")));
  CHECK_FALSE(std::get<bool>(Ok("app.debug", "Off")));
  CHECK_THAT(Bad("app.debug", "maybe"), Catch::Contains("true or false"));
}

TEST_CASE("URLs need a known scheme and a host", "[config]") {
  CHECK(std::get<std::string>(Ok("nats.url", "nats://user:pw@10.0.0.1:4222")) ==
        "nats://user:pw@10.0.0.1:4222");
  CHECK_THAT(Bad("nats.url", "localhost:4222"), Catch::Contains("not a URL"));
  CHECK_THAT(Bad("nats.url", "http://localhost:4222"), Catch::Contains("use one of: nats, tls"));
  CHECK_THAT(Bad("nats.url", "nats://"), Catch::Contains("no host"));
  CHECK_THAT(Bad("nats.url", "nats://host:99999"), Catch::Contains("bad port"));
  CHECK_THAT(Bad("nats.url", ""), Catch::Contains("empty"));
  CHECK(std::get<std::string>(Ok("monitoring.jaeger_endpoint", "")).empty());
}

TEST_CASE("hosts, host:port pairs and control endpoints are checked", "[config]") {
  CHECK_THAT(Bad("database.host", "postgres://db"),
             Catch::Contains("not a URL") || Catch::Contains("URL"));
  CHECK_THAT(Bad("database.host", "bad host"), Catch::Contains("not a host"));
  CHECK_THAT(Bad("storage.endpoint", "localhost"), Catch::Contains("not a host:port"));
  CHECK(std::get<std::string>(Ok("control.endpoint", "ipc:///tmp/x.sock")) == "ipc:///tmp/x.sock");
  CHECK(std::get<std::string>(Ok("control.endpoint", "tcp://127.0.0.1:7400")) ==
        "tcp://127.0.0.1:7400");
  CHECK_THAT(Bad("control.endpoint", "udp://x:1"), Catch::Contains("not a control endpoint"));
  CHECK_THAT(Bad("control.endpoint", "ipc://" + std::string(200, 'a')),
             Catch::Contains("1 to 107 bytes"));
}

TEST_CASE("list items are checked against the allowed names", "[config]") {
  ParsedValue ok = ParseListText(Spec("plugins.enabled"), "api-gateway, monitor");
  REQUIRE(ok.value.has_value());
  CHECK(std::get<std::vector<std::string>>(*ok.value).size() == 2);
  CHECK(std::get<std::vector<std::string>>(*ParseListText(Spec("plugins.enabled"), "[]").value)
            .empty());

  ParsedValue bad = ParseListText(Spec("plugins.enabled"), "api-gateway,montor");
  CHECK_FALSE(bad.value.has_value());
  CHECK_THAT(bad.hint, Catch::Contains("did you mean 'monitor'?"));
}

}  // namespace sg::config
