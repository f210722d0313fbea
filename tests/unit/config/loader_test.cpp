#include "config/loader.h"

#include <filesystem>
#include <fstream>
#include <set>

#include <catch2/catch.hpp>
#include <sys/stat.h>

#include "daemon/plugins/builtin_config.h"

namespace sg::config {
namespace {

// The schema streamgated is built with: the daemon's sections and every built-in plugin's.
const Schema& Builtin() { return plugins::BuiltinSchema(); }

std::string AllDiagnostics(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.Format() + "\n";
  return out;
}

// The one diagnostic of a result, which must have exactly one.
Diagnostic Only(const LoadResult& r) {
  INFO(AllDiagnostics(r));
  REQUIRE(r.diagnostics.size() == 1);
  return r.diagnostics[0];
}

std::string TempFile(const std::string& name, const std::string& content) {
  const auto path = std::filesystem::temp_directory_path() / ("sg-unit-" + name);
  std::ofstream(path, std::ios::binary) << content;
  return path.string();
}

}  // namespace

TEST_CASE("with no file the built-in defaults make a valid monolith", "[config]") {
  LoadOptions options;
  options.search = false;

  const LoadResult r = Load(Builtin(), options);

  INFO(AllDiagnostics(r));
  CHECK(r.Ok(true));
  CHECK(r.config.String("app.mode") == "monolith");
  CHECK(r.config.Int("server.port") == 8080);
  CHECK(r.config.Duration("daemon.shutdown_timeout") == std::chrono::seconds(30));
  CHECK(r.config.file().empty());
  CHECK(r.config.Get("server.port").origin.kind == Origin::Kind::kDefault);
}

TEST_CASE("the seed's config.yaml is valid, warning about placeholders and default secrets",
          "[config]") {
  LoadOptions options;
  options.path = SG_SOURCE_DIR "/tests/data/seed-config.yaml";

  const LoadResult r = Load(Builtin(), options);

  const std::string all = AllDiagnostics(r);
  INFO(all);
  CHECK(r.Errors() == 0);
  CHECK(r.Ok());
  CHECK_FALSE(r.Ok(true));
  CHECK_THAT(all, Catch::Contains("web3.ethereum_rpc: the value looks like a placeholder"));
  CHECK_THAT(all, Catch::Contains("database.password: is a well-known default credential"));
  CHECK_THAT(all, Catch::Contains("storage.secretkey: is a well-known default credential"));
  CHECK_THAT(all,
             Catch::Contains(
                 "seed-config.yaml:52:20: warning: monitoring.prometheus_port: port 9090 is "
                 "also grpc.port (no clash now: this release opens no listener on grpc.port)"));
  CHECK(r.config.String("storage.type") == "minio");
}

TEST_CASE("the shipped example config is valid without warnings", "[config]") {
  LoadOptions options;
  options.path = SG_SOURCE_DIR "/config/streamgate.yaml";

  const LoadResult r = Load(Builtin(), options);

  INFO(AllDiagnostics(r));
  CHECK(r.Ok(true));
}

TEST_CASE("an unknown key is reported at its position with a suggestion", "[config]") {
  const LoadResult r = LoadText(Builtin(), "server:\n  prot: 8081\n", "f.yaml");

  const Diagnostic d = Only(r);
  CHECK(d.Format() ==
        "f.yaml:2:3: error: server.prot: unknown key (did you mean 'port'?); valid keys in server: "
        "host, port, read_timeout, write_timeout, idle_timeout, io_threads, max_header_bytes, "
        "max_header_fields, max_body_bytes, max_connections, access_log, web_root");
  CHECK(d.key == "server.prot");
}

TEST_CASE("an unknown section suggests the closest, or the section of a stray key", "[config]") {
  CHECK_THAT(Only(LoadText(Builtin(), "servr:\n  port: 1\n", "f")).Format(),
             Catch::StartsWith("f:1:1: error: servr: unknown section (did you mean 'server'?)"));
  CHECK_THAT(Only(LoadText(Builtin(), "port: 8080\n", "f")).hint,
             Catch::Contains("server.port") && Catch::Contains("app.port"));
}

TEST_CASE("every problem in a file is reported in one run", "[config]") {
  const LoadResult r = LoadText(Builtin(),
                                "app:\n"
                                "  mode: monolit\n"
                                "server:\n"
                                "  port: 70000\n"
                                "  read_timeout: 0\n"
                                "  write_timeout: [1, 2]\n"
                                "redis:\n"
                                "  poolsize: -1\n"
                                "nats:\n"
                                "  url: localhost:4222\n",
                                "f.yaml");

  const std::string all = AllDiagnostics(r);
  INFO(all);
  CHECK(r.Errors() == 6);
  CHECK_THAT(
      all,
      Catch::Contains(
          "f.yaml:2:9: error: app.mode: 'monolit' is not a valid value; did you mean 'monolith'?"));
  CHECK_THAT(
      all,
      Catch::Contains(
          "f.yaml:4:9: error: server.port: '70000' is out of range; use a port from 0 to 65535"));
  CHECK_THAT(all, Catch::Contains("f.yaml:5:17: error: server.read_timeout: '0' is out of range"));
  CHECK_THAT(all, Catch::Contains(
                      "f.yaml:6:18: error: server.write_timeout: expected a duration, got a list"));
  CHECK_THAT(all, Catch::Contains("f.yaml:8:13: error: redis.poolsize: '-1' is out of range"));
  CHECK_THAT(all, Catch::Contains("f.yaml:10:8: error: nats.url: 'localhost:4222' is not a URL"));
}

TEST_CASE("wrong shapes are type errors", "[config]") {
  CHECK_THAT(Only(LoadText(Builtin(), "- a\n- b\n", "f")).message,
             Catch::Contains("not a mapping of sections"));
  CHECK_THAT(Only(LoadText(Builtin(), "server: 8080\n", "f")).message,
             Catch::Contains("must be a mapping"));
  CHECK_THAT(Only(LoadText(Builtin(), "plugins:\n  enabled: api-gateway\n", "f")).message,
             Catch::Contains("expected a list"));
  CHECK_THAT(Only(LoadText(Builtin(), "plugins:\n  enabled: [[a]]\n", "f")).message,
             Catch::Contains("expected a name, got a list"));
  CHECK_THAT(Only(LoadText(Builtin(), "server:\n  port:\n", "f")).message,
             Catch::Contains("has no value"));
}

TEST_CASE("duplicate sections and keys are errors naming the first", "[config]") {
  CHECK_THAT(Only(LoadText(Builtin(), "server:\n  port: 1\n  port: 2\n", "f")).Format(),
             Catch::Contains("f:3:3: error: server.port: key appears twice (first at line 2)"));
  CHECK_THAT(Only(LoadText(Builtin(), "app: {}\napp: {}\n", "f")).message,
             Catch::Contains("appears twice"));
}

TEST_CASE("two listeners on one port: an error when both open, a warning when one never does",
          "[config]") {
  const Diagnostic clash = Only(LoadText(Builtin(), "monitoring:\n  prometheus_port: 8080\n", "f"));
  CHECK(clash.severity == Severity::kError);
  CHECK_THAT(
      clash.Format(),
      Catch::Contains("f:2:20: error: monitoring.prometheus_port: port 8080 is also server.port"));

  const Diagnostic off = Only(
      LoadText(Builtin(),
               "monitoring:\n  prometheus_port: 8080\nplugins:\n  enabled: [api-gateway]\n", "f"));
  CHECK(off.severity == Severity::kWarning);
  CHECK_THAT(off.message, Catch::Contains("the monitor plugin is not enabled"));

  CHECK(Only(LoadText(Builtin(), "grpc:\n  port: 8080\n", "f")).severity == Severity::kWarning);
  CHECK(Only(LoadText(Builtin(), "control:\n  endpoint: tcp://127.0.0.1:8080\n", "f")).severity ==
        Severity::kError);
}

TEST_CASE("an alias that disagrees with its key is an error; one that agrees is fine", "[config]") {
  CHECK(LoadText(Builtin(), "app:\n  port: 8080\nserver:\n  port: 8080\n", "f").Ok(true));

  const Diagnostic d =
      Only(LoadText(Builtin(), "app:\n  port: 8081\nserver:\n  port: 8080\n", "f"));
  CHECK_THAT(
      d.Format(),
      Catch::Contains("f:2:9: error: app.port: 8081 conflicts with server.port (8080, at f:4:9)"));

  const LoadResult alone = LoadText(Builtin(), "app:\n  port: 8082\n", "f");
  CHECK(alone.Ok(true));
  CHECK(alone.config.Int("server.port") == 8082);
  CHECK(alone.config.Get("server.port").origin.Describe() == "f:2:9");
}

TEST_CASE("app.debug lowers the level only when logging.level is not set", "[config]") {
  CHECK(LoadText(Builtin(), "app:\n  debug: true\n", "f").config.String("logging.level") ==
        "debug");
  CHECK(LoadText(Builtin(), "app:\n  debug: true\nlogging:\n  level: warn\n", "f")
            .config.String("logging.level") == "warn");
}

TEST_CASE("sources take precedence: default < file < environment < flag", "[config]") {
  const std::string yaml = "server:\n  port: 8081\n  read_timeout: 5\n  write_timeout: 6\n";
  const Environment env = {{"STREAMGATE_SERVER_PORT", "8082"},
                           {"STREAMGATE_SERVER_READ_TIMEOUT", "7s"}};
  const std::vector<Override> flags = {{"server.port", "8083", "--set server.port=8083"}};

  const LoadResult r = LoadText(Builtin(), yaml, "f", env, flags);

  INFO(AllDiagnostics(r));
  REQUIRE(r.Ok());
  CHECK(r.config.Int("server.port") == 8083);
  CHECK(r.config.Get("server.port").origin.Describe() == "--set server.port=8083");
  CHECK(r.config.Duration("server.read_timeout") == std::chrono::seconds(7));
  CHECK(r.config.Get("server.read_timeout").origin.Describe() == "STREAMGATE_SERVER_READ_TIMEOUT");
  CHECK(r.config.Duration("server.write_timeout") == std::chrono::seconds(6));
  CHECK(r.config.Get("server.write_timeout").origin.Describe(false) == "f:4");
  CHECK(r.config.Get("server.host").origin.Describe() == "default");
}

TEST_CASE("environment values are parsed by type and errors name the variable", "[config]") {
  const Environment env = {{"STREAMGATE_SERVER_PORT", "eighty"},
                           {"STREAMGATE_PLUGINS_ENABLED", "api-gateway, monitor"},
                           {"STREAMGATE_APP_DEBUG", "true"}};

  const LoadResult r = LoadText(Builtin(), "", "f", env);

  const Diagnostic d = Only(r);
  CHECK(d.Format() ==
        "STREAMGATE_SERVER_PORT: error: server.port: expected a port number, got 'eighty'");
  CHECK(r.config.List("plugins.enabled") == std::vector<std::string>{"api-gateway", "monitor"});
  CHECK(r.config.Bool("app.debug"));
}

TEST_CASE("an unknown STREAMGATE_ variable is a warning with a suggestion", "[config]") {
  const Diagnostic d = Only(
      LoadText(Builtin(), "", "f", {{"STREAMGATE_SERVR_PORT", "1"}, {"STREAMGATE_CONFIG", "x"}}));

  CHECK(d.severity == Severity::kWarning);
  CHECK_THAT(d.message, Catch::Contains("did you mean 'STREAMGATE_SERVER_PORT'?"));
}

TEST_CASE("an unknown flag key is an error with a suggestion", "[config]") {
  const Diagnostic d =
      Only(LoadText(Builtin(), "", "f", {}, {{"server.prot", "1", "--set server.prot=1"}}));

  CHECK_THAT(
      d.Format(),
      Catch::StartsWith(
          "--set server.prot=1: error: server.prot: unknown key (did you mean 'server.port'?)"));
}

TEST_CASE("storage backends other than local need their keys", "[config]") {
  const LoadResult r = LoadText(Builtin(), "storage:\n  type: s3\n", "f");

  CHECK(r.Errors() == 2);
  CHECK_THAT(AllDiagnostics(r),
             Catch::Contains("storage.accesskey: is empty but storage.type is s3"));
}

TEST_CASE("secrets are redacted in show and JSON, URL passwords masked", "[config]") {
  const LoadResult r = LoadText(
      Builtin(),
      "database:\n  password: hunter22\nnats:\n  url: nats://app:s3cret@nats.internal:4222\n"
      "web3:\n  ethereum_rpc: https://mainnet.infura.io/v3/abcdef\n",
      "f");
  REQUIRE(r.Ok());

  CHECK(r.config.Show("database.password") == "<redacted>");
  CHECK(r.config.Show("database.password", true) == "hunter22");
  CHECK(r.config.Show("redis.password").empty());
  CHECK(r.config.Show("nats.url") == "nats://app:***@nats.internal:4222");
  CHECK(r.config.Show("web3.ethereum_rpc") == "<redacted>");
  const std::string json = r.config.ToJson().dump();
  CHECK(json.find("hunter22") == std::string::npos);
  CHECK(json.find("s3cret") == std::string::npos);
  CHECK(json.find("abcdef") == std::string::npos);
  CHECK(RedactUrl("nats://user@host:1") == "nats://user@host:1");
}

TEST_CASE("show formats durations and sizes in their units", "[config]") {
  const LoadResult r =
      LoadText(Builtin(), "server:\n  read_timeout: 1500ms\nlogging:\n  max_size: 2048KiB\n", "f");

  CHECK(r.config.Show("server.read_timeout") == "1500ms");
  CHECK(r.config.Show("logging.max_size") == "2MiB");
  CHECK(r.config.Show("daemon.shutdown_timeout") == "30s");
}

TEST_CASE("hostile input: text that is not YAML", "[config][hostile]") {
  const Diagnostic d = Only(LoadText(Builtin(), "server:\n  port: [8080\n", "f"));
  CHECK(d.where.line > 0);
  CHECK_THAT(d.message, Catch::StartsWith("not valid YAML"));
  CHECK_THAT(Only(LoadText(Builtin(), "a: b: c\n", "f")).message,
             Catch::StartsWith("not valid YAML"));
}

TEST_CASE("hostile input: binary garbage is named as such with its position", "[config][hostile]") {
  const std::string garbage("app:\n  name: a\x00\xff\xfe", 16);
  const Diagnostic d = Only(LoadText(Builtin(), garbage, "f"));
  CHECK_THAT(d.Format(), Catch::StartsWith("f:2:10: error: not a text file"));

  CHECK_THAT(Only(LoadText(Builtin(), "\xc3\x28 invalid utf8", "f")).message,
             Catch::Contains("not UTF-8"));
}

TEST_CASE("hostile input: a huge file is refused before parsing", "[config][hostile]") {
  const std::string huge(kMaxConfigBytes + 1, '#');
  CHECK_THAT(Only(LoadText(Builtin(), huge, "f")).message,
             Catch::Contains("the limit is 1048576 bytes"));

  const std::string path = TempFile("huge.yaml", huge);
  LoadOptions options;
  options.path = path;
  CHECK_THAT(Only(Load(Builtin(), options)).message, Catch::Contains("the limit is 1048576 bytes"));
  std::filesystem::remove(path);
}

TEST_CASE("hostile input: deep nesting is an error, not a stack overflow", "[config][hostile]") {
  const std::string deep = "app: " + std::string(100000, '[') + std::string(100000, ']') + "\n";
  CHECK_THAT(Only(LoadText(Builtin(), deep, "f")).message, Catch::StartsWith("not valid YAML"));

  std::string nested;
  for (int i = 0; i < 3000; ++i) nested += std::string(static_cast<size_t>(i), ' ') + "a:\n";
  CHECK_FALSE(LoadText(Builtin(), nested, "f").Ok());
}

TEST_CASE("hostile input: alias bombs do not expand", "[config][hostile]") {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'z'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i)
      bomb += std::string(i ? ", " : "") + "*" + static_cast<char>(c - 1);
    bomb += "]\n";
  }
  bomb += "plugins:\n  enabled: *z\n";

  const LoadResult r = LoadText(Builtin(), bomb, "f");

  CHECK_FALSE(r.Ok());
  CHECK(r.diagnostics.size() < 100);
}

TEST_CASE("hostile input: aliases to valid values work", "[config][hostile]") {
  const LoadResult r =
      LoadText(Builtin(), "server:\n  read_timeout: &t 45\n  write_timeout: *t\n", "f");
  INFO(AllDiagnostics(r));
  CHECK(r.Ok());
  CHECK(r.config.Duration("server.write_timeout") == std::chrono::seconds(45));
}

TEST_CASE("hostile input: a missing file, a folder, a device", "[config][hostile]") {
  LoadOptions options;
  options.path = "/nonexistent/streamgate.yaml";
  CHECK(Only(Load(Builtin(), options)).Format() ==
        "/nonexistent/streamgate.yaml: error: cannot open: No such file or directory; check the "
        "path, or leave out --config to use the built-in defaults");

  options.path = "/tmp";
  CHECK_THAT(Only(Load(Builtin(), options)).message, Catch::Contains("is a directory"));

  options.path = "/dev/zero";
  CHECK_THAT(Only(Load(Builtin(), options)).message, Catch::Contains("not a regular file"));
}

TEST_CASE("hostile input: too many problems stop at a bound", "[config][hostile]") {
  std::string many = "server:\n";
  for (int i = 0; i < 1000; ++i) many += "  k" + std::to_string(i) + ": 1\n";

  const LoadResult r = LoadText(Builtin(), many, "f");

  CHECK(r.diagnostics.size() == 201);
  CHECK_THAT(r.diagnostics.back().message, Catch::Contains("too many problems"));
}

TEST_CASE("an empty file or empty sections mean the defaults", "[config]") {
  CHECK(LoadText(Builtin(), "", "f").Ok(true));
  CHECK(LoadText(Builtin(), "# only a comment\n", "f").Ok(true));
  CHECK(LoadText(Builtin(), "server:\nlogging:\n", "f").Ok(true));
}

TEST_CASE("the search finds STREAMGATE_CONFIG first, then the XDG file", "[config]") {
  CHECK(FindConfigFile({{"STREAMGATE_CONFIG", "/x/y.yaml"}}) == "/x/y.yaml");

  const auto dir = std::filesystem::temp_directory_path() / "sg-unit-xdg";
  std::filesystem::create_directories(dir / "streamgate");
  std::ofstream(dir / "streamgate" / "streamgate.yaml") << "app: {}\n";
  CHECK(FindConfigFile({{"XDG_CONFIG_HOME", dir.string()}}) ==
        (dir / "streamgate" / "streamgate.yaml").string());
  std::filesystem::remove_all(dir);
}

TEST_CASE("the summary line counts errors and warnings", "[config]") {
  CHECK(Summary(LoadText(Builtin(), "", "f.yaml"), false) ==
        "f.yaml: configuration is valid (0 errors, 0 warnings)");
  CHECK(Summary(LoadText(Builtin(), "grpc:\n  port: 8080\n", "f.yaml"), true) ==
        "f.yaml: configuration is invalid: 0 errors, 1 warning (warnings fail with --strict)");
}

TEST_CASE("microservice mode on state one host keeps to itself is a warning naming what to share",
          "[config]") {
  const LoadResult local = LoadText(Builtin(), "app:\n  mode: microservice\n", "f.yaml");
  INFO(AllDiagnostics(local));
  CHECK(local.Ok(false));
  CHECK_FALSE(local.Ok(true));
  std::set<std::string> keys;
  for (const auto& d : local.diagnostics) {
    CHECK(d.severity == Severity::kWarning);
    keys.insert(d.key);
  }
  CHECK(keys == std::set<std::string>{"metadata.engine", "storage.type", "cache.backend"});
  CHECK_THAT(AllDiagnostics(local), Catch::Contains("set metadata.engine: postgres"));

  const LoadResult shared = LoadText(Builtin(),
                                     "app:\n  mode: microservice\nmetadata:\n  engine: postgres\n"
                                     "storage:\n  type: s3\n  accesskey: a\n  secretkey: b\n"
                                     "cache:\n  backend: redis\n",
                                     "f.yaml");
  INFO(AllDiagnostics(shared));
  CHECK(shared.Ok(true));
  // A monolith on the same defaults is fine.
  CHECK(LoadText(Builtin(), "app:\n  mode: monolith\n", "f.yaml").Ok(true));
}

}  // namespace sg::config
