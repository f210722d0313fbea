// The metadata plugin in a real streamgated: the videos API over HTTP on SQLite, bad input, a data
// file that is not SQLite, and PostgreSQL down at start, up, down in the middle and back.
// Videos are made by the test itself, through the catalogue API on the same database (the SQLite
// file the daemon uses, or the same PostgreSQL database): the REST API has no create.
#include <fstream>
#include <utility>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "daemon/bus/nats_bus.h"
#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/catalogue_rpc.h"
#include "daemon/plugin_api/sql.h"
#include "daemon/plugins/metadata/sql_catalogue.h"
#include "tests/support/daemon_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/notify_socket.h"
#include "tests/support/postgres_server.h"
#include "tests/support/process.h"

namespace sg::test {
namespace {

using nlohmann::json;

// One request with a body, on a connection of its own.
std::optional<HttpReply> Http(uint16_t port, const std::string& method, const std::string& target,
                              const std::string& body = "") {
  HttpConnection c(port);
  c.Send(method + " " + target +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  return c.Read(std::chrono::seconds(15));
}

json BodyOf(const std::optional<HttpReply>& reply) {
  if (!reply) return json();
  return json::parse(reply->body, nullptr, false);
}

// The catalogue on the daemon's own SQLite file, opened beside it.
std::shared_ptr<Catalogue> SqliteCatalogue(const std::string& path) {
  auto db = OpenSqlite({path});
  REQUIRE(db.has_value());
  auto migrated = (*db)->Migrate("metadata", plugins::MetadataMigrations());
  REQUIRE(migrated.has_value());
  return plugins::MakeSqlCatalogue(*db);
}

Video Make(Catalogue& catalogue, const std::string& title, const std::string& owner = "alice") {
  NewVideo v;
  v.title = title;
  v.owner = owner;
  v.source_key = "uploads/" + title;
  auto made = catalogue.Create(v);
  REQUIRE(made.has_value());
  return *made;
}

std::string Scrape(uint16_t port) {
  HttpConnection c(port);
  auto r = c.Request("GET", "/metrics");
  return r ? r->body : "";
}

}  // namespace

TEST_CASE("the videos API over HTTP on SQLite: list, get, patch, delete", "[metadata]") {
  RunningDaemon d({"plugins.enabled=[api-gateway,monitor,metadata]"});
  REQUIRE(d.port != 0);
  auto catalogue = SqliteCatalogue(d.dir.path() + "/streamgate.db");
  const Video a = Make(*catalogue, "first");
  const Video b = Make(*catalogue, "second", "bob");

  const json list = BodyOf(Http(d.port, "GET", "/api/v1/videos?limit=1"));
  REQUIRE(list["videos"].size() == 1);
  REQUIRE(list["next_cursor"].is_string());
  const json rest = BodyOf(Http(
      d.port, "GET", "/api/v1/videos?limit=1&cursor=" + list["next_cursor"].get<std::string>()));
  REQUIRE(rest["videos"].size() == 1);
  CHECK(rest["next_cursor"].is_null());
  CHECK(list["videos"][0]["id"] != rest["videos"][0]["id"]);
  CHECK(BodyOf(Http(d.port, "GET", "/api/v1/videos?owner=bob"))["videos"][0]["id"] == b.id);

  auto got = Http(d.port, "GET", "/api/v1/videos/" + a.id);
  REQUIRE(got);
  CHECK(got->status == 200);
  CHECK(BodyOf(got)["title"] == "first");

  auto patched = Http(d.port, "PATCH", "/api/v1/videos/" + a.id,
                      R"({"title": "renamed", "visibility": "private"})");
  REQUIRE(patched);
  CHECK(patched->status == 200);
  CHECK(catalogue->Get(a.id)->title == "renamed");
  CHECK(catalogue->Get(a.id)->visibility == Visibility::kPrivate);

  auto deleted = Http(d.port, "DELETE", "/api/v1/videos/" + a.id);
  REQUIRE(deleted);
  CHECK(deleted->status == 200);
  CHECK(catalogue->Get(a.id)->state == VideoState::kDeleted);
  auto again = Http(d.port, "DELETE", "/api/v1/videos/" + a.id);
  REQUIRE(again);
  CHECK(again->status == 409);
  CHECK(BodyOf(again)["code"] == "failed_precondition");
  CHECK(Http(d.port, "GET", "/api/v1/videos/01ARZ3NDEKTSV4RRFFQ69G5FAV")->status == 404);
  // Writes are logged with their request id.
  CHECK(WaitFor([&] { return d.LogSays("Video deleted"); }, 5s));
  CHECK(d.LogSays("request_id="));

  const std::string metrics = Scrape(d.metrics_port);
  CHECK(Contains(metrics, "streamgate_metadata_requests_total{"));
  CHECK(Contains(metrics, R"(route="/api/v1/videos/{id}")"));
  CHECK(Contains(metrics, "streamgate_metadata_request_duration_seconds_bucket"));
  CHECK(Contains(metrics, "streamgate_metadata_up{engine=\"sqlite\"} 1"));
}

TEST_CASE("the videos API refuses bad input field by field; SQL metacharacters are data",
          "[metadata]") {
  RunningDaemon d({"plugins.enabled=[api-gateway,monitor,metadata]"});
  auto catalogue = SqliteCatalogue(d.dir.path() + "/streamgate.db");
  const std::string nasty = "x'); DROP TABLE videos; -- \" \\ % _ $1 ?";
  const Video v = Make(*catalogue, "target", nasty);
  const std::string path = "/api/v1/videos/" + v.id;

  struct Case {
    std::string method, target, body, field;
    unsigned status;
  };
  const std::vector<Case> cases = {
      {"PATCH", path, R"({"title": "x",)", "body", 400},
      {"PATCH", path, R"({"title": 42})", "title", 400},
      {"PATCH", path, R"({"visibility": "everyone"})", "visibility", 400},
      {"PATCH", path, R"({"state": "ready"})", "state", 400},
      {"PATCH", path, "{\"title\": \"" + std::string(100 * 1024, 'x') + "\"}", "body", 413},
      {"GET", "/api/v1/videos?limit=100000", "", "limit", 400},
      {"GET", "/api/v1/videos?cursor=eyJpZCI6IngifQ", "", "cursor", 400},
      {"GET", "/api/v1/videos?state=%27%20OR%201%3D1", "", "state", 400},
  };
  for (const auto& c : cases) {
    INFO(c.method << " " << c.target << " " << c.body.substr(0, 60));
    auto r = Http(d.port, c.method, c.target, c.body);
    REQUIRE(r);
    CHECK(r->status == c.status);
    const json body = BodyOf(r);
    CHECK(body["error"].is_string());
    CHECK(body.value("field", "") == c.field);
  }

  auto patched =
      Http(d.port, "PATCH", path, json({{"title", nasty}, {"description", nasty}}).dump());
  REQUIRE(patched);
  CHECK(patched->status == 200);
  const json got = BodyOf(Http(d.port, "GET", path));
  CHECK(got["title"] == nasty);
  CHECK(got["description"] == nasty);
  CHECK(got["owner"] == nasty);
  std::string encoded;
  for (const unsigned char c : nasty) encoded += fmt::format("%{:02X}", c);
  const json mine = BodyOf(Http(d.port, "GET", "/api/v1/videos?owner=" + encoded));
  REQUIRE(mine["videos"].size() == 1);
  CHECK(mine["videos"][0]["id"] == v.id);
  CHECK(BodyOf(Http(d.port, "GET", "/api/v1/videos?owner=x%27%20OR%20%271%27%3D%271"))["videos"]
            .empty());
  CHECK(catalogue->Get(v.id).has_value());
}

TEST_CASE("a catalogue file that is not SQLite: streamgated does not start, and says why",
          "[metadata]") {
  TempDir dir;
  const std::string file = dir.Write("streamgate.db", std::string(8192, 'z'));
  SpawnOptions env;
  env.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT", "NOTIFY_SOCKET"};
  env.env["STREAMGATE_AUTH_REQUIRED"] = "false";
  env.env["XDG_RUNTIME_DIR"] = dir.path();
  env.cwd = dir.path();
  Process daemon({SG_DAEMON_BIN, "--set", "server.host=127.0.0.1", "--set", "server.port=0",
                  "--set", "monitoring.prometheus_port=0", "--set", "metadata.sqlite_path=" + file},
                 dir, env);
  const auto code = daemon.Wait(30s);
  INFO(daemon.Stderr());
  REQUIRE(code.has_value());
  CHECK(*code != 0);
  CHECK(Contains(daemon.Stderr(), file + " is not a SQLite database"));
  CHECK(Contains(daemon.Stderr(), "metadata"));
}

TEST_CASE(
    "PostgreSQL down at start, up later, down in the middle and back: degraded and 503 "
    "while away, recovered by itself",
    "[metadata][postgres]") {
  auto pg = PostgresServer::StartOrSkip();
  pg->Stop();
  RunningDaemon d({"plugins.enabled=[api-gateway,monitor,metadata]", "metadata.engine=postgres",
                   "metadata.retry_interval=200ms", "database.host=" + pg->host(),
                   "database.port=" + std::to_string(pg->port()), "database.user=" + pg->user(),
                   "database.password=" + pg->password(), "database.database=" + pg->database(),
                   "database.sslmode=disable"});
  REQUIRE(d.port != 0);
  auto metadata_health = [&] {
    const json h = json::parse(d.Cli({"--json", "health"}).out, nullptr, false);
    if (h.is_discarded()) return std::pair<std::string, std::string>();
    for (const auto& p : h.value("plugins", json::array())) {
      if (p.value("name", "") == "metadata") {
        return std::pair<std::string, std::string>(p.value("status", ""), p.value("message", ""));
      }
    }
    return std::pair<std::string, std::string>();
  };
  auto status_of = [&](const std::string& target) {
    auto r = Http(d.port, "GET", target);
    return r ? r->status : 0U;
  };

  // Down at start: the daemon runs, the plugin is degraded and says why and what to do.
  {
    INFO(d.Cli({"--json", "health"}).out);
    const auto [state, message] = metadata_health();
    CHECK(state == "degraded");
    CHECK(Contains(message, "PostgreSQL at " + pg->host()));
    CHECK(Contains(message, "start PostgreSQL"));
  }
  auto away = Http(d.port, "GET", "/api/v1/videos");
  REQUIRE(away);
  CHECK(away->status == 503);
  CHECK(BodyOf(away)["code"] == "unavailable");
  CHECK(Contains(BodyOf(away)["error"].get<std::string>(), "PostgreSQL"));

  // Up: the migration runs in the background and the API serves.
  pg->Start();
  REQUIRE(WaitFor([&] { return status_of("/api/v1/videos") == 200; }, 30s));
  CHECK(WaitFor([&] { return metadata_health().first == "healthy"; }, 10s));
  CHECK(Contains(metadata_health().second, "schema version"));
  auto db = OpenPostgres(pg->Options());
  REQUIRE(db.has_value());
  auto catalogue = plugins::MakeSqlCatalogue(*db);
  const Video v = Make(*catalogue, "on postgres");
  CHECK(status_of("/api/v1/videos/" + v.id) == 200);

  // Down in the middle: 503 with the JSON error, degraded.
  pg->Stop();
  REQUIRE(WaitFor([&] { return status_of("/api/v1/videos/" + v.id) == 503; }, 30s));
  auto down = Http(d.port, "GET", "/api/v1/videos/" + v.id);
  REQUIRE(down);
  CHECK(BodyOf(down)["code"] == "unavailable");
  CHECK(WaitFor([&] { return metadata_health().first == "degraded"; }, 10s));
  CHECK(Contains(Scrape(d.metrics_port), "streamgate_metadata_database_errors_total{"));

  // Back: recovered without anyone's help.
  pg->Start();
  REQUIRE(WaitFor([&] { return status_of("/api/v1/videos/" + v.id) == 200; }, 30s));
  CHECK(WaitFor([&] { return metadata_health().first == "healthy"; }, 10s));
  auto patched = Http(d.port, "PATCH", "/api/v1/videos/" + v.id, R"({"title": "after"})");
  REQUIRE(patched);
  CHECK(patched->status == 200);
  // PostgreSQL keeps no NUL in text: a clear 400 naming the field, or the data kept; never 500.
  auto nul = Http(d.port, "PATCH", "/api/v1/videos/" + v.id, R"({"description": "a\u0000b"})");
  REQUIRE(nul);
  INFO(nul->body);
  CHECK((nul->status == 400 || nul->status == 200));
  // The test's own pool lost its connection with the server too: its next call reconnects.
  CHECK(WaitFor(
      [&] {
        auto now = catalogue->Get(v.id);
        return now.has_value() && now->title == "after";
      },
      10s));
}

TEST_CASE(
    "microservice mode: the metadata process serves the catalogue over NATS to another "
    "process's remote catalogue",
    "[metadata][microservice]") {
  TempDir runtime;
  TempDir nats_dir;
  const uint16_t nats_port = FreePort();
  Process nats({"/usr/sbin/nats-server", "-a", "127.0.0.1", "-p", std::to_string(nats_port)},
               nats_dir);
  REQUIRE(WaitForPort(nats_port, 10s));
  const std::string url = "nats://127.0.0.1:" + std::to_string(nats_port);
  NotifySocket notify(runtime.path() + "/notify");
  SpawnOptions env;
  env.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT"};
  env.env["STREAMGATE_AUTH_REQUIRED"] = "false";
  env.env["XDG_RUNTIME_DIR"] = runtime.path();
  env.env["NOTIFY_SOCKET"] = notify.path();
  env.cwd = runtime.path();
  Process metadata({SG_DAEMON_BIN, "--mode", "microservice", "--service", "metadata", "--set",
                    "nats.url=" + url, "--set", "server.host=127.0.0.1", "--set", "server.port=0",
                    "--set", "monitoring.prometheus_port=0", "--set",
                    "metadata.sqlite_path=" + runtime.path() + "/streamgate.db"},
                   runtime, env);
  INFO(metadata.Stderr());
  REQUIRE(notify.WaitFor("READY=1", 10s));

  // This test process plays the other service: a bus of its own and the remote catalogue that
  // streamgated would give a plugin there.
  bus::NatsOptions options;
  options.urls = {url};
  options.reconnect_wait = 100ms;
  options.name = "metadata-test";
  auto bus = bus::NatsBus::Create(
      options,
      std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>()));
  REQUIRE(bus.has_value());
  auto remote = MakeRemoteCatalogue(**bus, 5s);
  Result<Video> made = Fail(ErrorCode::kUnavailable, "not yet");
  NewVideo n;
  n.title = "across processes";
  n.owner = "dave";
  // The bus connects in the background: the first requests may find nobody yet.
  REQUIRE(WaitFor(
      [&] {
        made = remote->Create(n);
        return made.has_value();
      },
      15s));
  auto got = remote->Get(made->id);
  REQUIRE(got.has_value());
  CHECK(*got == *made);
  VideoTransition t;
  t.to = VideoState::kReady;
  auto illegal = remote->Transition(made->id, t);
  REQUIRE(!illegal.has_value());
  CHECK(illegal.error().code == ErrorCode::kFailedPrecondition);
  auto page = remote->List({});
  REQUIRE(page.has_value());
  CHECK(page->videos.size() == 1);
  // The same file, read directly, holds what the remote catalogue wrote.
  CHECK(SqliteCatalogue(runtime.path() + "/streamgate.db")->Get(made->id)->title ==
        "across processes");

  metadata.Signal(SIGTERM);
  CHECK(metadata.Wait(30s).value_or(-1) == 0);
  auto gone = remote->Get(made->id);
  REQUIRE(!gone.has_value());
  CHECK((gone.error().code == ErrorCode::kUnavailable || gone.error().code == ErrorCode::kTimeout));
}

TEST_CASE(
    "monolith with metadata.engine=postgres: the worker's queue is in the same PostgreSQL "
    "database, and jobs list, health and the log say so",
    "[metadata][postgres][worker]") {
  auto pg = PostgresServer::StartOrSkip();
  RunningDaemon d({"plugins.enabled=[api-gateway,monitor,metadata,worker]",
                   "metadata.engine=postgres", "metadata.retry_interval=200ms",
                   "worker.poll_interval=50ms", "database.host=" + pg->host(),
                   "database.port=" + std::to_string(pg->port()), "database.user=" + pg->user(),
                   "database.password=" + pg->password(), "database.database=" + pg->database(),
                   "database.sslmode=disable"});
  REQUIRE(d.port != 0);
  const std::string where =
      fmt::format("PostgreSQL at {}:{}/{}", pg->host(), pg->port(), pg->database());
  INFO(d.daemon->Stderr());
  CHECK(d.LogSays("Job queue ready"));
  CHECK(d.LogSays(where));

  const RunResult listed = d.Cli({"--json", "jobs", "list"});
  INFO(listed.out << listed.err);
  REQUIRE(listed.exit_code == 0);
  auto worker_health = [&] {
    const json h = json::parse(d.Cli({"--json", "health"}).out, nullptr, false);
    if (h.is_discarded()) return std::pair<std::string, std::string>();
    for (const auto& p : h.value("plugins", json::array())) {
      if (p.value("name", "") == "worker") {
        return std::pair<std::string, std::string>(p.value("status", ""), p.value("message", ""));
      }
    }
    return std::pair<std::string, std::string>();
  };
  CHECK(WaitFor([&] { return worker_health().first == "healthy"; }, 10s));
  CHECK(Contains(worker_health().second, "job store " + where));

  // A DELETE queues the video's cleanup in the jobs table of that database, and it runs.
  auto db = OpenPostgres(pg->Options());
  REQUIRE(db.has_value());
  auto catalogue = plugins::MakeSqlCatalogue(*db);
  const Video v = Make(*catalogue, "to delete");
  auto deleted = Http(d.port, "DELETE", "/api/v1/videos/" + v.id);
  REQUIRE(deleted);
  CHECK(deleted->status == 200);
  CHECK(WaitFor(
      [&] {
        return pg->Psql(
                     "SELECT state FROM jobs WHERE kind = 'delete-video' AND "
                     "idempotency_key = '" +
                     v.id + "'")
                   .find("succeeded") != std::string::npos;
      },
      30s));
  const RunResult cleanup = d.Cli({"--json", "jobs", "list", "--kind", "delete-video"});
  CHECK(cleanup.exit_code == 0);
  CHECK(Contains(cleanup.out, v.id));
  // No SQLite file was made for the queue.
  CHECK_FALSE(std::ifstream(d.dir.path() + "/streamgate.db").good());
}

}  // namespace sg::test
