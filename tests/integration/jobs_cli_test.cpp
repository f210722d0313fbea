// `streamgate videos ...` and `streamgate jobs ...`: the real CLI, a real streamgated running the
// metadata and worker plugins on a SQLite file in a temporary folder, and the catalogue seeded
// through the real catalogue code before the daemon starts.
#include <set>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/sql.h"
#include "daemon/plugins/metadata/sql_catalogue.h"
#include "tests/support/nats_server.h"
#include "tests/support/process.h"

namespace sg::test {
namespace {

constexpr int kExitNotFound = 5;
constexpr int kExitPluginDown = 6;

// A daemon in a private runtime directory, its catalogue and media under it too.
struct JobsDaemon {
  JobsDaemon() {
    env.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT", "NOTIFY_SOCKET"};
    env.env["STREAMGATE_AUTH_REQUIRED"] = "false";
    env.env["XDG_RUNTIME_DIR"] = dir.path();
    env.env["XDG_CONFIG_HOME"] = dir.path() + "/xdg";
    env.env["STREAMGATE_SERVER_HOST"] = "127.0.0.1";
    env.env["STREAMGATE_SERVER_PORT"] = "0";
    env.env["STREAMGATE_MONITORING_PROMETHEUS_PORT"] = "0";
    env.env["STREAMGATE_METADATA_SQLITE_PATH"] = Database();
    env.env["STREAMGATE_STORAGE_PATH"] = dir.path() + "/media";
    env.env["STREAMGATE_WORKER_POLL_INTERVAL"] = "50ms";
    env.cwd = dir.path();
  }
  ~JobsDaemon() {
    if (started) (void)Cli({"stop", "--timeout", "20", "--force"});
  }
  std::string Database() const { return dir.path() + "/streamgate.db"; }

  void Start() {
    const RunResult r = Cli({"start"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    started = true;
  }
  RunResult Cli(std::vector<std::string> args) const {
    args.insert(args.begin(), SG_CLI_BIN);
    return Run(args, env, 60s);
  }
  nlohmann::json Json(std::vector<std::string> args) const {
    args.insert(args.begin(), "--json");
    const RunResult r = Cli(args);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    return j;
  }

  TempDir dir;
  SpawnOptions env;
  bool started = false;
};

// The videos, made by the real catalogue on the daemon's file before it starts.
std::vector<Video> Seed(const std::string& path) {
  auto db = OpenSqlite({.path = path});
  REQUIRE(db.has_value());
  REQUIRE((*db)->Migrate("metadata", plugins::MetadataMigrations()).has_value());
  auto catalogue = plugins::MakeSqlCatalogue(*db);
  std::vector<Video> out;
  for (const std::string title : {"First", "Second — ünïcode 二", "Third'; DROP TABLE videos;--"}) {
    NewVideo v;
    v.title = title;
    v.owner = "alice";
    v.source_type = "video/mp4";
    auto made = catalogue->Create(v);
    INFO((made ? "" : made.error().message));
    REQUIRE(made.has_value());
    out.push_back(*made);
  }
  return out;
}

std::optional<nlohmann::json> JobOfKind(const JobsDaemon& d, const std::string& kind) {
  const RunResult r = d.Cli({"--json", "jobs", "list", "--kind", kind});
  if (r.exit_code != 0) return std::nullopt;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded() || !j.contains("jobs") || j["jobs"].empty()) return std::nullopt;
  return j["jobs"][0];
}

}  // namespace

TEST_CASE("streamgate jobs lists, shows, cancels and retries the worker's jobs",
          "[integration][cli][worker]") {
  JobsDaemon d;
  // Without the upload plugin nobody handles expire-uploads: it stays queued to be cancelled.
  d.env.env["STREAMGATE_PLUGINS_ENABLED"] = "api-gateway,cache,monitor,metadata,worker";
  d.Start();

  // The worker queues its periodic jobs as it starts.
  REQUIRE(WaitFor([&] { return JobOfKind(d, "expire-uploads").has_value(); }, 20s));
  const auto expire = *JobOfKind(d, "expire-uploads");
  const std::string id = expire["id"];
  CHECK(expire["state"] == "queued");
  CHECK(expire["kind"] == "expire-uploads");
  CHECK_FALSE(expire.contains("payload"));  // lists leave payloads out

  const auto all = d.Json({"jobs", "list"});
  CHECK(all["jobs"].size() >= 2);
  const RunResult table = d.Cli({"jobs", "list"});
  CHECK(table.exit_code == 0);
  CHECK_THAT(table.out, Catch::Contains("KIND") && Catch::Contains("expire-uploads"));

  const auto shown = d.Json({"jobs", "show", id});
  CHECK(shown["job"]["id"] == id);
  CHECK_THAT(shown["job"]["payload"].get<std::string>(), Catch::Contains("period"));

  // gc-orphans runs against the real storage and catalogue, and finds nothing to delete.
  CHECK(WaitFor(
      [&] {
        auto gc = JobOfKind(d, "gc-orphans");
        return gc && (*gc)["state"] == "succeeded";
      },
      20s));

  const RunResult cancelled = d.Cli({"jobs", "cancel", id});
  INFO(cancelled.out << cancelled.err);
  CHECK(cancelled.exit_code == 0);
  CHECK_THAT(cancelled.out, Catch::Contains("cancelled"));
  CHECK(d.Json({"jobs", "show", id})["job"]["state"] == "cancelled");

  const RunResult twice = d.Cli({"jobs", "cancel", id});
  CHECK(twice.exit_code == 1);
  CHECK_FALSE(twice.err.empty());

  const RunResult retried = d.Cli({"jobs", "retry", id});
  INFO(retried.out << retried.err);
  CHECK(retried.exit_code == 0);
  CHECK_THAT(retried.out, Catch::Contains("queued"));
  CHECK(d.Cli({"jobs", "retry", id}).exit_code == 1);  // queued: nothing to retry

  const auto queued = d.Json({"jobs", "list", "--state", "queued", "--limit", "1"});
  CHECK(queued["jobs"].size() == 1);
}

TEST_CASE("streamgate jobs: an unknown id, a bad id, bad options and a stopped worker",
          "[integration][cli][worker]") {
  JobsDaemon d;
  d.Start();

  for (const char* verb : {"show", "retry", "cancel"}) {
    const RunResult r = d.Cli({"jobs", verb, "01NOSUCHJOB0000000000000000"});
    INFO(verb << ": " << r.out << r.err);
    CHECK(r.exit_code == kExitNotFound);
    CHECK_THAT(r.err, Catch::Contains("no job with id '01NOSUCHJOB0000000000000000'"));
  }
  const RunResult spaces = d.Cli({"jobs", "show", "a b"});
  CHECK(spaces.exit_code == 1);
  CHECK_THAT(spaces.err, Catch::Contains("\"id\""));
  const RunResult quote = d.Cli({"jobs", "show", "x' OR '1'='1"});
  CHECK(quote.exit_code != 0);
  CHECK(d.Cli({"jobs", "list", "--state", "bogus"}).exit_code == 2);
  CHECK(d.Cli({"jobs", "list", "--limit", "0"}).exit_code == 2);
  CHECK(d.Cli({"jobs", "show"}).exit_code == 2);

  REQUIRE(d.Cli({"plugins", "stop", "worker"}).exit_code == 0);
  const RunResult down = d.Cli({"jobs", "list"});
  CHECK(down.exit_code == kExitPluginDown);
  CHECK_THAT(down.err, Catch::Contains("plugin 'worker' is not running; start it with "
                                       "'streamgate plugins start worker'"));
  REQUIRE(d.Cli({"plugins", "start", "worker"}).exit_code == 0);
  CHECK(d.Cli({"jobs", "list"}).exit_code == 0);
}

TEST_CASE("streamgate videos lists, shows and deletes videos of the catalogue",
          "[integration][cli][metadata]") {
  JobsDaemon d;
  const auto seeded = Seed(d.Database());
  d.Start();

  const auto page = d.Json({"videos", "list"});
  REQUIRE(page["videos"].size() == 3);
  std::set<std::string> ids;
  for (const auto& v : page["videos"]) ids.insert(v["id"].get<std::string>());
  CHECK(ids == std::set<std::string>{seeded[0].id, seeded[1].id, seeded[2].id});
  CHECK(page["next_cursor"].is_null());

  // Two pages, of two and one, by the cursor: the same videos in the same order.
  const auto first = d.Json({"videos", "list", "--limit", "2"});
  REQUIRE(first["videos"].size() == 2);
  REQUIRE(first["next_cursor"].is_string());
  const auto second = d.Json({"videos", "list", "--limit", "2", "--cursor", first["next_cursor"]});
  REQUIRE(second["videos"].size() == 1);
  CHECK(first["videos"][0]["id"] == page["videos"][0]["id"]);
  CHECK(first["videos"][1]["id"] == page["videos"][1]["id"]);
  CHECK(second["videos"][0]["id"] == page["videos"][2]["id"]);
  CHECK(second["next_cursor"].is_null());

  const RunResult table = d.Cli({"videos", "list", "--limit", "2"});
  CHECK(table.exit_code == 0);
  CHECK_THAT(table.out,
             Catch::Contains("TITLE") && Catch::Contains("more: streamgate videos list --cursor"));
  CHECK_THAT(table.out, Catch::Contains("ünïcode 二"));

  const auto shown = d.Json({"videos", "show", seeded[1].id});
  CHECK(shown["video"]["title"] == seeded[1].title);
  CHECK(shown["video"]["owner"] == "alice");
  const RunResult human = d.Cli({"videos", "show", seeded[2].id});
  CHECK(human.exit_code == 0);
  CHECK_THAT(human.out, Catch::Contains("DROP TABLE"));

  // Without --yes and without a terminal to ask on, nothing is deleted.
  CHECK(d.Cli({"videos", "delete", seeded[0].id}).exit_code == 2);
  const RunResult deleted = d.Cli({"videos", "delete", "--yes", seeded[0].id});
  INFO(deleted.out << deleted.err);
  CHECK(deleted.exit_code == 0);
  CHECK_THAT(deleted.out, Catch::Contains("deleted"));
  // The objects go through a delete-video job, which the metadata plugin handles.
  const auto cleanup = JobOfKind(d, "delete-video");
  REQUIRE(cleanup.has_value());
  CHECK((*cleanup)["idempotency_key"] == seeded[0].id);
  CHECK(WaitFor(
      [&] {
        auto job = JobOfKind(d, "delete-video");
        return job && (*job)["state"] == "succeeded";
      },
      20s));
  const RunResult again = d.Cli({"videos", "delete", "-y", seeded[0].id});
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.out, Catch::Contains("already deleted"));

  CHECK(d.Json({"videos", "list"})["videos"].size() == 2);
  const auto gone = d.Json({"videos", "list", "--state", "deleted"});
  REQUIRE(gone["videos"].size() == 1);
  CHECK(gone["videos"][0]["id"] == seeded[0].id);
  CHECK(d.Json({"videos", "list", "--owner", "bob"})["videos"].empty());

  const RunResult unknown = d.Cli({"videos", "show", "01NOSUCHVIDEO000000000000"});
  CHECK(unknown.exit_code == kExitNotFound);
  CHECK_THAT(unknown.err, Catch::Contains("no video with id"));
  CHECK(d.Cli({"videos", "delete", "--yes", "01NOSUCHVIDEO000000000000"}).exit_code ==
        kExitNotFound);
  CHECK(d.Cli({"videos", "list", "--cursor", "not-a-cursor"}).exit_code == 1);
  CHECK(d.Cli({"videos", "list", "--state", "bogus"}).exit_code == 2);
  CHECK(d.Cli({"videos", "list", "--limit", "201"}).exit_code == 2);

  REQUIRE(d.Cli({"plugins", "stop", "--cascade", "metadata"}).exit_code == 0);
  const RunResult down = d.Cli({"videos", "list"});
  CHECK(down.exit_code == kExitPluginDown);
  CHECK_THAT(down.err, Catch::Contains("plugin 'metadata' is not running"));
}

TEST_CASE("streamgate videos and jobs exit 3 when no daemon answers", "[integration][cli]") {
  JobsDaemon d;
  CHECK(d.Cli({"jobs", "list"}).exit_code == 3);
  CHECK(d.Cli({"videos", "show", "x"}).exit_code == 3);
}

TEST_CASE("streamgate --service worker jobs: the worker service on a real nats-server -js",
          "[integration][cli][worker][microservice]") {
  NatsServer nats(true);
  TempDir runtime;
  TempDir dir;
  SpawnOptions env;
  env.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT", "NOTIFY_SOCKET"};
  env.env["STREAMGATE_AUTH_REQUIRED"] = "false";
  env.env["XDG_RUNTIME_DIR"] = runtime.path();
  env.env["XDG_CONFIG_HOME"] = dir.path() + "/xdg";
  env.env["STREAMGATE_STORAGE_PATH"] = dir.path() + "/media";
  env.cwd = dir.path();
  Process worker({SG_DAEMON_BIN, "--mode", "microservice", "--service", "worker", "--set",
                  "nats.url=" + nats.Url(), "--set", "server.host=127.0.0.1", "--set",
                  "server.port=0", "--set", "monitoring.prometheus_port=0"},
                 dir, env);
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {SG_CLI_BIN, "--service", "worker"});
    return Run(args, env, 30s);
  };
  std::string id;
  const bool listed = WaitFor(
      [&] {
        const RunResult r = cli({"--json", "jobs", "list", "--kind", "expire-uploads"});
        auto j = nlohmann::json::parse(r.out, nullptr, false);
        if (r.exit_code != 0 || j.is_discarded() || j["jobs"].empty()) return false;
        id = j["jobs"][0]["id"];
        return true;
      },
      30s);
  INFO(worker.Stderr());
  REQUIRE(listed);
  const RunResult cancelled = cli({"jobs", "cancel", id});
  CHECK(cancelled.exit_code == 0);
  CHECK_THAT(cancelled.out, Catch::Contains("cancelled"));
  CHECK(cli({"jobs", "show", "01NOSUCHJOB0000000000000000"}).exit_code == kExitNotFound);
  worker.Signal(SIGTERM);
  CHECK(worker.Wait(30s) == 0);
}

TEST_CASE(
    "microservice mode: the metadata process reaches the worker's queue on JetStream, queues "
    "delete-video there and runs it; jobs list answers in both processes",
    "[integration][cli][worker][metadata][microservice]") {
  NatsServer nats(true);
  TempDir runtime;
  TempDir dir;
  const std::string database = dir.path() + "/streamgate.db";
  const auto seeded = Seed(database);
  SpawnOptions env;
  env.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT", "NOTIFY_SOCKET"};
  env.env["STREAMGATE_AUTH_REQUIRED"] = "false";
  env.env["XDG_RUNTIME_DIR"] = runtime.path();
  env.env["XDG_CONFIG_HOME"] = dir.path() + "/xdg";
  env.env["STREAMGATE_STORAGE_PATH"] = dir.path() + "/media";
  env.env["STREAMGATE_WORKER_POLL_INTERVAL"] = "50ms";
  env.cwd = dir.path();
  auto service = [&](const std::string& name) {
    return std::make_unique<Process>(
        std::vector<std::string>{
            SG_DAEMON_BIN, "--mode", "microservice", "--service", name, "--set",
            "nats.url=" + nats.Url(), "--set", "server.host=127.0.0.1", "--set", "server.port=0",
            "--set", "monitoring.prometheus_port=0", "--set", "metadata.sqlite_path=" + database},
        dir, env);
  };
  auto metadata = service("metadata");
  auto worker = service("worker");
  auto cli = [&](const std::string& name, std::vector<std::string> args) {
    args.insert(args.begin(), {SG_CLI_BIN, "--service", name});
    return Run(args, env, 30s);
  };
  auto jobs = [&](const std::string& name, const std::string& kind) {
    const RunResult r = cli(name, {"--json", "jobs", "list", "--kind", kind});
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (r.exit_code != 0 || j.is_discarded() || !j.contains("jobs")) return nlohmann::json();
    return j["jobs"];
  };
  INFO("metadata: " << metadata->Stderr() << "\nworker: " << worker->Stderr());

  // The metadata process has no worker plugin, yet `jobs list` answers there, and shows the
  // periodic job that the worker process queued.
  REQUIRE(WaitFor([&] { return cli("metadata", {"jobs", "list"}).exit_code == 0; }, 30s));
  CHECK(WaitFor([&] { return !jobs("metadata", "expire-uploads").empty(); }, 30s));

  // Deleting a video in the metadata process queues its delete-video job on the shared queue:
  // the worker process sees it, and the metadata process (the kind's only handler) runs it.
  const RunResult deleted = cli("metadata", {"--json", "videos", "delete", "--yes", seeded[0].id});
  INFO(deleted.out << deleted.err);
  REQUIRE(deleted.exit_code == 0);
  const auto reply = nlohmann::json::parse(deleted.out, nullptr, false);
  REQUIRE_FALSE(reply.is_discarded());
  REQUIRE(reply["cleanup_job"].is_string());
  const std::string id = reply["cleanup_job"];
  nlohmann::json seen;
  CHECK(WaitFor(
      [&] {
        seen = jobs("worker", "delete-video");
        return !seen.empty() && seen[0]["id"] == id && seen[0]["state"] == "succeeded";
      },
      30s));
  INFO(seen.dump());
  CHECK(seen[0]["idempotency_key"] == seeded[0].id);
  const RunResult shown = cli("worker", {"--json", "jobs", "show", id});
  CHECK(shown.exit_code == 0);
  CHECK_THAT(metadata->Stderr(), Catch::Contains("Job queue ready"));

  // Both stop cleanly, the metadata process's queue with it.
  metadata->Signal(SIGTERM);
  worker->Signal(SIGTERM);
  CHECK(metadata->Wait(30s) == 0);
  CHECK(worker->Wait(30s) == 0);
}

TEST_CASE(
    "microservice mode without JetStream: a process still starts, and jobs list says to start "
    "nats-server -js",
    "[integration][cli][worker][microservice]") {
  NatsServer nats(false);  // no JetStream
  TempDir runtime;
  TempDir dir;
  SpawnOptions env;
  env.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT", "NOTIFY_SOCKET"};
  env.env["STREAMGATE_AUTH_REQUIRED"] = "false";
  env.env["XDG_RUNTIME_DIR"] = runtime.path();
  env.env["XDG_CONFIG_HOME"] = dir.path() + "/xdg";
  env.cwd = dir.path();
  Process metadata({SG_DAEMON_BIN, "--mode", "microservice", "--service", "metadata", "--set",
                    "nats.url=" + nats.Url(), "--set", "server.host=127.0.0.1", "--set",
                    "server.port=0", "--set", "monitoring.prometheus_port=0", "--set",
                    "metadata.sqlite_path=" + dir.path() + "/streamgate.db"},
                   dir, env);
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {SG_CLI_BIN, "--service", "metadata"});
    return Run(args, env, 30s);
  };
  INFO(metadata.Stderr());
  RunResult listed;
  CHECK(WaitFor(
      [&] {
        listed = cli({"jobs", "list"});
        return listed.exit_code != 3 && listed.err.find("nats-server -js") != std::string::npos;
      },
      30s));
  INFO(listed.out << listed.err);
  CHECK(listed.exit_code == kExitPluginDown);
  CHECK(cli({"videos", "list"}).exit_code == 0);  // the rest of the process works
  metadata.Signal(SIGTERM);
  CHECK(metadata.Wait(30s) == 0);
}

}  // namespace sg::test
