// The catalogue's HTTP API under load: GET /api/v1/videos?limit=50 (also with an owner filter)
// and GET /api/v1/videos/{id} on a catalogue of VIDEOS videos, on SQLite and on PostgreSQL, each
// beside GET /health on the same daemon, so the ratio shows what the database costs.
//
//   bench_metadata [VIDEOS] [SECONDS] [CONNECTIONS]     (defaults 100000 10 32)
//
// For each engine it makes a fresh database (a throwaway PostgreSQL server for postgres), brings
// it up to date with the plugin's own migrations, seeds it, starts the real streamgated on it
// (loopback, port 0) and runs wrk (which must be installed) against the four targets in turn.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <signal.h>

#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/sql.h"
#include "daemon/plugins/metadata/sql_catalogue.h"
#include "tests/support/bench_daemon.h"
#include "tests/support/bench_stats.h"
#include "tests/support/http_client.h"
#include "tests/support/notify_socket.h"
#include "tests/support/postgres_server.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Settings {
  size_t videos = 100000;
  int seconds = 10;
  int connections = 32;
  int threads = 2;
  std::string wrk;  // its path
};

// The owner the filtered list asks for: one of kOwners, so about VIDEOS / kOwners rows match.
constexpr size_t kOwners = 1000;
constexpr size_t kFilteredOwnerIndex = 7;
const char* const kFilteredOwner = "user-0007";  // OwnerOf(kFilteredOwnerIndex)
// How many ids wrk's script picks from for GET /api/v1/videos/{id}.
constexpr size_t kSampleIds = 1000;
// Rows per seeding transaction.
constexpr size_t kBatch = 1000;

std::string OwnerOf(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "user-%04zu", i % kOwners);
  return buf;
}

// ---- seeding -----------------------------------------------------------------------------------

// A state mix like a live catalogue's: mostly ready, some on their way, a few failed or deleted.
sg::VideoState StateOf(size_t i) {
  const size_t k = i % 20;
  if (k < 14) return sg::VideoState::kReady;
  if (k == 14) return sg::VideoState::kUploading;
  if (k == 15) return sg::VideoState::kUploaded;
  if (k == 16) return sg::VideoState::kQueued;
  if (k == 17) return sg::VideoState::kProcessing;
  if (k == 18) return sg::VideoState::kFailed;
  return sg::VideoState::kDeleted;
}

sg::Visibility VisibilityOf(size_t i) {
  static const sg::Visibility kAll[] = {sg::Visibility::kPublic, sg::Visibility::kPublic,
                                        sg::Visibility::kUnlisted, sg::Visibility::kPrivate,
                                        sg::Visibility::kGated};
  return kAll[(i / 3) % 5];
}

const std::string& ReadyRenditions() {
  static const std::string kJson =
      R"([{"name":"360p","width":640,"height":360,"bitrate":800000,"codec":"avc1.4d401e",)"
      R"("playlist":"hls/360p.m3u8"},{"name":"720p","width":1280,"height":720,)"
      R"("bitrate":2800000,"codec":"avc1.4d401f","playlist":"hls/720p.m3u8"}])";
  return kJson;
}

// Rows go in with the column list and value forms the catalogue writes (sql_catalogue.cpp),
// kBatch to a transaction: one Catalogue::Create per video (a commit each) would make seeding,
// not serving, the long part. The catalogue then reads them back before the daemon starts.
sg::Result<std::vector<std::string>> Seed(sg::SqlDatabase& db, size_t n) {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  std::vector<std::string> sample;
  const size_t stride = std::max<size_t>(1, n / kSampleIds);
  for (size_t start = 0; start < n; start += kBatch) {
    auto done = db.Transaction([&](sg::SqlSession& session) -> sg::Result<void> {
      for (size_t i = start; i < std::min(n, start + kBatch); ++i) {
        // One a second, oldest first, so ids (ULIDs of created_at) sort as the rows do.
        const int64_t created = now - static_cast<int64_t>(n - i) * 1000;
        const std::string id = sg::plugins::NewVideoId(created);
        const sg::VideoState state = StateOf(i);
        const bool ready = state == sg::VideoState::kReady;
        auto r = session.Exec(
            "INSERT INTO videos (id, title, description, owner, visibility, state, source_size, "
            "source_type, source_key, duration, renditions, poster, created_at, updated_at, "
            "failure_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
            "$14, $15)",
            {id, "Video number " + std::to_string(i),
             "A description of video " + std::to_string(i) +
                 ", long enough to look like one a person wrote about what it shows.",
             OwnerOf(i), std::string(sg::VisibilityName(VisibilityOf(i))),
             std::string(sg::VideoStateName(state)), int64_t{50'000'000} + static_cast<int64_t>(i),
             std::string("video/mp4"), "sources/" + id,
             ready ? 120.5 + static_cast<double>(i % 600) : 0.0,
             ready ? ReadyRenditions() : std::string("[]"),
             ready ? "posters/" + id + ".jpg" : std::string(), created, created,
             state == sg::VideoState::kFailed ? std::string("ffmpeg exited with status 1")
                                              : std::string()});
        if (!r) return r.error();
        if (state != sg::VideoState::kDeleted && i % stride == 0 && sample.size() < kSampleIds) {
          sample.push_back(id);
        }
      }
      return {};
    });
    if (!done) return done.error().Wrap("seed videos " + std::to_string(start));
  }
  return sample;
}

// Migrates `db` as the plugin does, seeds it and checks through the catalogue that the rows read
// back. Returns ids to GET; prints the seeding time.
std::optional<std::vector<std::string>> Prepare(const std::shared_ptr<sg::SqlDatabase>& db,
                                                size_t n) {
  if (auto v = db->Migrate("metadata", sg::plugins::MetadataMigrations()); !v) {
    std::fprintf(stderr, "migrate: %s\n", v.error().message.c_str());
    return std::nullopt;
  }
  const auto start = Clock::now();
  auto sample = Seed(*db, n);
  if (!sample) {
    std::fprintf(stderr, "%s\n", sample.error().message.c_str());
    return std::nullopt;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("  seeded %zu videos in %.2f s (%.0f rows/s, %zu to a transaction)\n", n, seconds,
              static_cast<double>(n) / seconds, kBatch);
  const bool postgres = db->Engine() == "postgres";
  if (postgres) {
    // Fresh statistics, as autovacuum would have soon after a bulk load in production.
    if (auto analyzed = db->Exec("ANALYZE videos"); !analyzed) {
      std::fprintf(stderr, "ANALYZE: %s\n", analyzed.error().message.c_str());
    }
  }
  // The plans of the two lists, as the catalogue words them (sql_catalogue.cpp): each should
  // walk an index in ORDER BY order and stop at the LIMIT, with no sort of all matching rows.
  const std::pair<const char*, std::string> lists[] = {
      {"list", ""}, {"list owner=", std::string(" AND owner = '") + kFilteredOwner + "'"}};
  for (const auto& [name, filter] : lists) {
    auto plan = db->Exec(std::string(postgres ? "EXPLAIN " : "EXPLAIN QUERY PLAN ") +
                         "SELECT * FROM videos WHERE 1 = 1 AND state <> 'deleted'" + filter +
                         " ORDER BY created_at DESC, id DESC LIMIT 51");
    if (!plan) {
      std::fprintf(stderr, "explain: %s\n", plan.error().message.c_str());
      continue;
    }
    std::printf("  plan of %s:\n", name);
    for (const sg::SqlRow& row : plan->rows) {
      if (row.size() > 0) std::printf("    %s\n", row.Text(row.size() - 1).c_str());
    }
  }
  auto catalogue = sg::plugins::MakeSqlCatalogue(db);
  sg::VideoQuery query;
  query.limit = 50;
  auto page = catalogue->List(query);
  if (!page || page->videos.empty() || sample->empty() || !catalogue->Get(sample->front())) {
    std::fprintf(stderr, "the catalogue cannot read the seeded rows back: %s\n",
                 page ? "empty page or unknown id" : page.error().message.c_str());
    return std::nullopt;
  }
  return std::move(sample).value();
}

// ---- the daemon --------------------------------------------------------------------------------

std::optional<sg::test::HttpReply> Get(uint16_t port, const std::string& target) {
  try {
    sg::test::HttpConnection c(port);
    return c.Request("GET", target);
  } catch (const std::exception&) {
    return std::nullopt;  // not listening yet
  }
}

class Daemon {
 public:
  Daemon(const sg::test::TempDir& dir, std::vector<std::string> sets)
      : daemon_(dir, WithPlugins(std::move(sets))) {}

  /// Waits for READY=1, then for /health to say healthy and the videos API to answer 200; the
  /// HTTP port, or 0 (with the daemon's stderr printed) when that does not happen in time.
  uint16_t WaitServing() {
    const uint16_t port = daemon_.WaitReady();
    const bool serving =
        port != 0 && sg::test::WaitFor(
                         [&] {
                           auto health = Get(port, "/health");
                           auto list = Get(port, "/api/v1/videos?limit=1");
                           return health && health->status == 200 &&
                                  health->body.find("\"healthy\"") != std::string::npos && list &&
                                  list->status == 200;
                         },
                         60s);
    if (!serving) {
      std::fprintf(stderr, "streamgated did not serve the videos API in time:\n%s\n",
                   daemon_.Stderr().c_str());
      return 0;
    }
    return port;
  }

 private:
  static std::vector<std::string> WithPlugins(std::vector<std::string> sets) {
    sets.insert(sets.begin(), "plugins.enabled=[api-gateway,monitor,metadata]");
    return sets;
  }
  sg::test::BenchDaemon daemon_;
};

// ---- wrk ---------------------------------------------------------------------------------------

struct Figures {
  bool ok = false;
  double rps = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  long errors = 0;  // non-2xx answers and socket errors
};

// wrk prints latencies as 512.00us, 1.20ms, 1.01s or 1.00m.
std::optional<double> LatencyMs(const std::string& text, const std::string& label) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(label + R"(\s+([\d.]+)(us|ms|s|m)\b)"))) {
    return std::nullopt;
  }
  const double v = std::stod(m[1]);
  const std::string unit = m[2];
  if (unit == "us") return v / 1000;
  if (unit == "ms") return v;
  if (unit == "s") return v * 1000;
  return v * 60000;
}

Figures Wrk(const Settings& s, const std::string& url, const std::string& script = "") {
  std::vector<std::string> argv = {s.wrk, "-t" + std::to_string(s.threads),
                                   "-c" + std::to_string(s.connections),
                                   "-d" + std::to_string(s.seconds) + "s", "--latency"};
  if (!script.empty()) argv.insert(argv.end(), {"-s", script});
  argv.push_back(url);
  const auto run = sg::test::Run(argv, {}, std::chrono::seconds(s.seconds + 60));
  Figures f;
  std::smatch m;
  auto p50 = LatencyMs(run.out, "50%");
  auto p99 = LatencyMs(run.out, "99%");
  if (run.exit_code != 0 ||
      !std::regex_search(run.out, m, std::regex(R"(Requests/sec:\s+([\d.]+))")) || !p50 || !p99) {
    std::fprintf(stderr, "wrk %s failed (exit %d):\n%s%s\n", url.c_str(), run.exit_code,
                 run.out.c_str(), run.err.c_str());
    return f;
  }
  f.rps = std::stod(m[1]);
  f.p50_ms = *p50;
  f.p99_ms = *p99;
  if (std::regex_search(run.out, m, std::regex(R"(Non-2xx or 3xx responses:\s+(\d+))"))) {
    f.errors += std::stol(m[1]);
  }
  if (std::regex_search(
          run.out, m,
          std::regex(R"(Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+))"))) {
    for (size_t i = 1; i <= 4; ++i) f.errors += std::stol(m[i]);
  }
  f.ok = true;
  return f;
}

// wrk's script for GET /api/v1/videos/{id}: each request a random one of the sampled ids, so the
// figure is not that of one row hot in every cache.
std::string WriteGetScript(const sg::test::TempDir& dir, const std::vector<std::string>& ids) {
  std::string lua = "local ids = {\n";
  for (const auto& id : ids) lua += "  \"" + id + "\",\n";
  lua +=
      "}\n"
      "math.randomseed(os.time())\n"
      "request = function()\n"
      "  return wrk.format(\"GET\", \"/api/v1/videos/\" .. ids[math.random(#ids)])\n"
      "end\n";
  return dir.Write("get.lua", lua);
}

// Runs the engine's rows and prints its table; false when any part failed.
bool Measure(const Settings& s, const char* title, const std::vector<std::string>& sets,
             const std::vector<std::string>& ids, const sg::test::TempDir& dir) {
  Daemon daemon(dir, sets);
  const uint16_t port = daemon.WaitServing();
  if (port == 0) return false;
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  const std::string script = WriteGetScript(dir, ids);
  struct Row {
    const char* name;
    Figures f;
  };
  std::vector<Row> rows;
  rows.push_back({"health", Wrk(s, base + "/health")});
  rows.push_back({"list", Wrk(s, base + "/api/v1/videos?limit=50")});
  rows.push_back({"list owner=", Wrk(s, base + "/api/v1/videos?limit=50&owner=" + kFilteredOwner)});
  rows.push_back({"get", Wrk(s, base + "/api/v1/videos/" + ids.front(), script)});

  std::printf("%s: %zu videos, wrk -t%d -c%d -d%ds\n", title, s.videos, s.threads, s.connections,
              s.seconds);
  std::printf("  %-12s %10s %9s %9s %14s %8s\n", "", "req/s", "p50 ms", "p99 ms", "req/s / health",
              "errors");
  bool ok = true;
  const Figures& health = rows.front().f;
  for (const Row& r : rows) {
    if (!r.f.ok) {
      std::printf("  %-12s %10s\n", r.name, "failed");
      ok = false;
      continue;
    }
    const double ratio = health.ok && health.rps > 0 ? r.f.rps / health.rps : 0;
    std::printf("  %-12s %10.0f %9.3f %9.3f %14.3f %8ld\n", r.name, r.f.rps, r.f.p50_ms, r.f.p99_ms,
                ratio, r.f.errors);
    if (r.f.errors > 0) ok = false;
  }
  std::printf(
      "  (list: GET /api/v1/videos?limit=50; list owner=: the same for %s, about %zu of "
      "them; get: GET /api/v1/videos/{id}, %zu ids at random)\n",
      kFilteredOwner,
      s.videos > kFilteredOwnerIndex ? (s.videos - kFilteredOwnerIndex - 1) / kOwners + 1 : 0,
      ids.size());
  std::fflush(stdout);
  return ok;
}

bool Sqlite(const Settings& s) {
  std::printf("SQLite\n");
  sg::test::TempDir dir;
  const std::string file = dir.path() + "/streamgate.db";
  std::optional<std::vector<std::string>> ids;
  {
    // Closed before the daemon opens it: the daemon's view is the one measured.
    sg::SqliteOptions options;
    options.path = file;
    auto db = sg::OpenSqlite(options);
    if (!db) {
      std::fprintf(stderr, "sqlite: %s\n", db.error().message.c_str());
      return false;
    }
    ids = Prepare(*db, s.videos);
  }
  if (!ids) return false;
  return Measure(s, "SQLite", {"metadata.engine=sqlite", "metadata.sqlite_path=" + file}, *ids,
                 dir);
}

bool Postgres(const Settings& s) {
  std::printf("PostgreSQL\n");
  std::unique_ptr<sg::test::PostgresServer> pg;
  try {
    pg = sg::test::PostgresServer::StartOrSkip();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "postgres: %s\n", e.what());
    return false;
  }
  sg::test::TempDir dir;
  std::optional<std::vector<std::string>> ids;
  {
    auto db = sg::OpenPostgres(pg->Options());
    if (!db) {
      std::fprintf(stderr, "postgres: %s\n", db.error().message.c_str());
      return false;
    }
    ids = Prepare(*db, s.videos);
  }
  if (!ids) return false;
  return Measure(s, "PostgreSQL",
                 {"metadata.engine=postgres", "database.host=" + pg->host(),
                  "database.port=" + std::to_string(pg->port()), "database.user=" + pg->user(),
                  "database.password=" + pg->password(), "database.database=" + pg->database(),
                  "database.sslmode=disable"},
                 *ids, dir);
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  const long videos = argc > 1 ? std::atol(argv[1]) : 100000;
  s.seconds = argc > 2 ? std::atoi(argv[2]) : 10;
  s.connections = argc > 3 ? std::atoi(argv[3]) : 32;
  s.threads =
      std::max(1, std::min(s.connections, static_cast<int>(std::thread::hardware_concurrency())));
  if (videos < 1 || s.seconds < 1 || s.connections < 1) {
    std::fprintf(stderr,
                 "usage: bench_metadata [VIDEOS>0] [SECONDS>0] [CONNECTIONS>0]  (defaults 100000 "
                 "10 32)\n");
    return 2;
  }
  s.videos = static_cast<size_t>(videos);
  // The test's Run() takes a path, not a name to look up in PATH.
  auto which = sg::test::Run({"/bin/sh", "-c", "command -v wrk"});
  s.wrk = which.out.substr(0, which.out.find('\n'));
  if (which.exit_code != 0 || s.wrk.empty()) {
    std::fprintf(stderr, "bench_metadata needs wrk in PATH: apt-get install wrk\n");
    return 2;
  }
  // Caught so that the stack unwinds: the daemon, PostgreSQL and the temporary folders go with
  // their owners' destructors, which an uncaught exception would skip.
  try {
    const bool lite = Sqlite(s);
    const bool pg = Postgres(s);
    return lite && pg ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_metadata: %s\n", e.what());
    return 1;
  }
}
