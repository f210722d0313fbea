// The PostgreSQL engine of sql.h on a real server that the tests start (tests/support/
// postgres_server.h): values and errors as the interface promises, the pool's bound under many
// threads, and recovery when the server goes away and comes back.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <future>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

#include "daemon/plugin_api/sql.h"
#include "tests/support/postgres_server.h"
#include "tests/support/process.h"

namespace sg {
namespace {

using test::PostgresServer;
using test::SharedPostgres;
using namespace std::chrono_literals;

// A fresh database on the shared server, and the pool on it.
std::shared_ptr<SqlDatabase> OpenFresh(PostgresOptions* out_options = nullptr) {
  static std::atomic<int> counter{0};
  PostgresServer& server = SharedPostgres();
  const std::string name = "pgt_" + std::to_string(counter++);
  server.CreateDatabase(name);
  PostgresOptions options = server.Options(name);
  if (out_options != nullptr) *out_options = options;
  auto db = OpenPostgres(options);
  REQUIRE(db);
  return *db;
}

TEST_CASE("postgres: values of every type go in as parameters and come back the same",
          "[sql][postgres]") {
  auto db = OpenFresh();
  CHECK(db->Engine() == "postgres");
  REQUIRE(db->Exec("CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT, score DOUBLE PRECISION, "
                   "note TEXT)"));
  const std::vector<std::string> names = {
      "",
      "plain",
      "Robert'); DROP TABLE t; --",
      "quote ' double \" backslash \\ percent % underscore _ dollar $1",
      "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x8e\xac",  // été ✓ 🎬
      std::string(100000, 'x'),
  };
  const std::vector<int64_t> ids = {std::numeric_limits<int64_t>::min(), -1, 0, 1, 42,
                                    std::numeric_limits<int64_t>::max()};
  const std::vector<double> scores = {0.1, -0.0, 1e300, -2.5e-300, 3.141592653589793,
                                      std::numeric_limits<double>::max()};
  for (size_t i = 0; i < ids.size(); ++i) {
    auto r = db->Exec("INSERT INTO t (id, name, score, note) VALUES ($1, $2, $3, $4)",
                      {ids[i], names[i], scores[i], std::monostate{}});
    REQUIRE(r);
    CHECK(r->changed == 1);
    CHECK(r->rows.empty());
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    auto r = db->Exec("SELECT id, name, score, note FROM t WHERE id = $1", {ids[i]});
    REQUIRE(r);
    REQUIRE(r->rows.size() == 1);
    const SqlRow& row = r->rows[0];
    REQUIRE(row.size() == 4);
    CHECK(row.Int(0) == ids[i]);
    CHECK(row.Text(1) == names[i]);
    CHECK(row.Double(2) == scores[i]);
    CHECK(std::signbit(row.Double(2)) == std::signbit(scores[i]));
    CHECK(row.IsNull(3));
    CHECK(row.Text(3).empty());
    CHECK(row.Int(3) == 0);
  }
  // The table survived the name that looks like SQL: parameters are data.
  auto count = db->Exec("SELECT count(*) FROM t WHERE name = $1", {names[2]});
  REQUIRE(count);
  CHECK(count->rows.at(0).Int(0) == 1);
  CHECK(count->changed == 0);

  SECTION("the doubles PostgreSQL spells its own way") {
    for (double d : {std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity()}) {
      auto r = db->Exec("SELECT $1::double precision", {d});
      REQUIRE(r);
      CHECK(r->rows.at(0).Double(0) == d);
    }
    auto nan = db->Exec("SELECT $1::double precision", {std::nan("")});
    REQUIRE(nan);
    CHECK(std::isnan(nan->rows.at(0).Double(0)));
  }
  SECTION("changed counts the rows an UPDATE, a DELETE or a RETURNING touched") {
    auto up = db->Exec("UPDATE t SET note = $1 WHERE id >= $2", {std::string("n"), int64_t{0}});
    REQUIRE(up);
    CHECK(up->changed == 4);
    auto del = db->Exec("DELETE FROM t WHERE id < $1 RETURNING id", {int64_t{0}});
    REQUIRE(del);
    CHECK(del->changed == 2);
    CHECK(del->rows.size() == 2);
    auto none = db->Exec("UPDATE t SET note = 'x' WHERE id = -12345");
    REQUIRE(none);
    CHECK(none->changed == 0);
  }
  SECTION("a boolean reads as 1 or 0, as on SQLite") {
    auto r = db->Exec("SELECT 1 = 1, 1 = 2, $1::text IS NULL", {std::monostate{}});
    REQUIRE(r);
    CHECK(r->rows.at(0).Int(0) == 1);
    CHECK(r->rows.at(0).Int(1) == 0);
    CHECK(r->rows.at(0).Int(2) == 1);
  }
}

TEST_CASE("postgres: errors say what went wrong with the code sql.h promises", "[sql][postgres]") {
  auto db = OpenFresh();
  REQUIRE(db->Exec("CREATE TABLE u (id TEXT PRIMARY KEY, n BIGINT NOT NULL)"));
  REQUIRE(db->Exec("INSERT INTO u VALUES ($1, $2)", {std::string("a"), int64_t{1}}));

  SECTION("a duplicate key is a failed precondition") {
    auto r = db->Exec("INSERT INTO u VALUES ($1, $2)", {std::string("a"), int64_t{2}});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kFailedPrecondition);
    CHECK_THAT(r.error().message, Catch::Contains("duplicate key") && Catch::Contains("23505"));
  }
  SECTION("a NULL where NOT NULL is a failed precondition") {
    auto r = db->Exec("INSERT INTO u VALUES ($1, $2)", {std::string("b"), std::monostate{}});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kFailedPrecondition);
  }
  SECTION("SQL the server refuses is an invalid argument") {
    for (const std::string& sql :
         {std::string("SELEC 1"), std::string("SELECT * FROM no_such_table"),
          std::string("SELECT no_such_column FROM u"), std::string("SELECT 1; SELECT 2"),
          std::string(""), std::string("SELECT 1 / 0")}) {
      auto r = db->Exec(sql);
      REQUIRE_FALSE(r);
      INFO(sql << " -> " << r.error().message);
      CHECK(r.error().code == ErrorCode::kInvalidArgument);
      CHECK_FALSE(r.error().message.empty());
    }
  }
  SECTION("parameters the statement cannot take are an invalid argument") {
    auto too_many = db->Exec("SELECT $1", {int64_t{1}, int64_t{2}});
    REQUIRE_FALSE(too_many);
    CHECK(too_many.error().code == ErrorCode::kInvalidArgument);
    auto not_a_number = db->Exec("SELECT n FROM u WHERE n = $1", {std::string("seven")});
    REQUIRE_FALSE(not_a_number);
    CHECK(not_a_number.error().code == ErrorCode::kInvalidArgument);
    auto nul = db->Exec("SELECT $1", {std::string("a\0b", 3)});
    REQUIRE_FALSE(nul);
    CHECK(nul.error().code == ErrorCode::kInvalidArgument);
    CHECK_THAT(nul.error().message, Catch::Contains("NUL") && Catch::Contains("$1"));
    auto bad_utf8 = db->Exec("SELECT $1", {std::string("\xff\xfe")});
    REQUIRE_FALSE(bad_utf8);
    CHECK(bad_utf8.error().code == ErrorCode::kInvalidArgument);
  }
  SECTION("a statement past its timeout is a timeout") {
    auto r = db->Transaction([](SqlSession& s) -> Result<void> {
      if (auto set = s.Exec("SET LOCAL statement_timeout = 50"); !set) return set.error();
      auto slept = s.Exec("SELECT pg_sleep(30)");
      if (!slept) return slept.error();
      return {};
    });
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kTimeout);
  }
  // Whatever failed above, the pool's connections are still good.
  auto after = db->Exec("SELECT count(*) FROM u");
  REQUIRE(after);
  CHECK(after->rows.at(0).Int(0) == 1);
  CHECK(db->Stats().errors > 0);
}

TEST_CASE("postgres: a transaction commits on success and rolls back on error or exception",
          "[sql][postgres]") {
  auto db = OpenFresh();
  REQUIRE(db->Exec("CREATE TABLE v (id BIGINT PRIMARY KEY)"));
  auto count = [&] {
    auto r = db->Exec("SELECT count(*) FROM v");
    REQUIRE(r);
    return r->rows.at(0).Int(0);
  };
  REQUIRE(db->Transaction([](SqlSession& s) -> Result<void> {
    for (int64_t i = 0; i < 3; ++i) {
      if (auto r = s.Exec("INSERT INTO v VALUES ($1)", {i}); !r) return r.error();
    }
    return {};
  }));
  CHECK(count() == 3);

  auto refused = db->Transaction([](SqlSession& s) -> Result<void> {
    if (auto r = s.Exec("INSERT INTO v VALUES (10)"); !r) return r.error();
    return Fail(ErrorCode::kInvalidArgument, "the caller changed its mind");
  });
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message == "the caller changed its mind");
  CHECK(count() == 3);

  // Work that ignores a failed statement and returns success: the server rolled it back, and
  // so must the answer.
  auto ignored = db->Transaction([](SqlSession& s) -> Result<void> {
    (void)s.Exec("INSERT INTO v VALUES (11)");
    (void)s.Exec("INSERT INTO v VALUES (0)");  // duplicate: aborts the transaction
    return {};
  });
  REQUIRE_FALSE(ignored);
  CHECK(ignored.error().code == ErrorCode::kFailedPrecondition);
  CHECK(count() == 3);

  // Work that throws leaves its connection inside the transaction: it must not be lent again.
  CHECK_THROWS_AS(db->Transaction([](SqlSession& s) -> Result<void> {
    (void)s.Exec("INSERT INTO v VALUES (12)");
    throw std::runtime_error("boom");
  }),
                  std::runtime_error);
  CHECK(count() == 3);
  CHECK(db->Stats().pool_in_use == 0);
}

TEST_CASE("postgres: 32 threads share a pool of 4 connections", "[sql][postgres]") {
  PostgresOptions options;
  (void)OpenFresh(&options);
  options.max_connections = 4;
  options.connect_timeout = 30s;  // the bound on waiting: generous, the test asserts no time
  auto opened = OpenPostgres(options);
  REQUIRE(opened);
  auto db = *opened;
  REQUIRE(db->Exec("CREATE TABLE hits (thread BIGINT, n BIGINT)"));

  constexpr int kThreads = 32;
  constexpr int kEach = 20;
  std::atomic<int> failures{0};
  std::atomic<int64_t> most_seen{0};
  std::atomic<int64_t> most_pooled{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // The server's own count of our connections, taken while we hold one of them.
        auto seen = db->Exec(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'streamgated' "
            "AND datname = current_database()");
        if (!seen) {
          failures++;
          continue;
        }
        int64_t n = seen->rows.at(0).Int(0);
        int64_t prev = most_seen.load();
        while (n > prev && !most_seen.compare_exchange_weak(prev, n)) {
        }
        auto tx = db->Transaction([&](SqlSession& s) -> Result<void> {
          auto r = s.Exec("INSERT INTO hits VALUES ($1, $2)", {int64_t{t}, int64_t{i}});
          if (!r) return r.error();
          return {};
        });
        if (!tx) failures++;
        const int64_t pooled = db->Stats().pool_size;
        prev = most_pooled.load();
        while (pooled > prev && !most_pooled.compare_exchange_weak(prev, pooled)) {
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(most_seen <= 4);
  CHECK(most_seen >= 1);
  CHECK(most_pooled <= 4);
  auto total = db->Exec("SELECT count(*) FROM hits");
  REQUIRE(total);
  CHECK(total->rows.at(0).Int(0) == kThreads * kEach);
  const SqlStats stats = db->Stats();
  CHECK(stats.pool_size <= 4);
  CHECK(stats.pool_in_use == 0);
  CHECK(stats.pool_waits > 0);
  CHECK(stats.errors == 0);
  CHECK(stats.statements >= static_cast<uint64_t>(kThreads * kEach * 4));
}

TEST_CASE("postgres: a caller waits for a connection only up to the connect timeout",
          "[sql][postgres]") {
  PostgresOptions options;
  (void)OpenFresh(&options);
  options.max_connections = 1;
  options.connect_timeout = 200ms;
  auto opened = OpenPostgres(options);
  REQUIRE(opened);
  auto db = *opened;
  std::promise<void> holding;
  std::promise<void> release;
  auto release_future = release.get_future().share();
  std::thread holder([&] {
    (void)db->Transaction([&](SqlSession& s) -> Result<void> {
      (void)s.Exec("SELECT 1");
      holding.set_value();
      release_future.wait();
      return {};
    });
  });
  holding.get_future().wait();
  auto r = db->Exec("SELECT 1");
  release.set_value();
  holder.join();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kTimeout);
  CHECK_THAT(r.error().message, Catch::Contains("database.maxconns"));
  CHECK(db->Stats().pool_waits >= 1);
  CHECK(db->Exec("SELECT 1"));
}

TEST_CASE("postgres: the server down in the middle, then back: the same pool recovers",
          "[sql][postgres]") {
  auto server = PostgresServer::StartOrSkip();
  PostgresOptions options = server->Options();
  options.max_connections = 3;
  auto opened = OpenPostgres(options);
  REQUIRE(opened);
  auto db = *opened;
  REQUIRE(db->Exec("CREATE TABLE kept (id BIGINT)"));
  REQUIRE(db->Exec("INSERT INTO kept VALUES (7)"));
  REQUIRE(db->Ping());
  const std::string where = "127.0.0.1:" + std::to_string(server->port());

  server->Stop();
  auto down = db->Ping();
  REQUIRE_FALSE(down);
  CHECK(down.error().code == ErrorCode::kUnavailable);
  CHECK_THAT(down.error().message,
             Catch::Contains(where) && Catch::Contains("is PostgreSQL running") &&
                 Catch::Contains("database.host"));
  CHECK_THAT(down.error().message, !Catch::Contains(server->password()));
  auto tx = db->Transaction([](SqlSession&) -> Result<void> { return {}; });
  REQUIRE_FALSE(tx);
  CHECK(tx.error().code == ErrorCode::kUnavailable);

  // Opened while the server is down: the pool connects lazily.
  auto late = OpenPostgres(options);
  REQUIRE(late);
  auto late_ping = (*late)->Ping();
  REQUIRE_FALSE(late_ping);
  CHECK(late_ping.error().code == ErrorCode::kUnavailable);
  CHECK_THAT(late_ping.error().message, Catch::Contains(where));

  server->Start();
  CHECK(test::WaitFor([&] { return db->Ping().has_value(); }, 30s));
  auto kept = db->Exec("SELECT id FROM kept");
  REQUIRE(kept);
  CHECK(kept->rows.at(0).Int(0) == 7);
  CHECK(db->Stats().reconnects >= 1);
  CHECK((*late)->Ping());

  SECTION("connections the server cut off are replaced for the next caller") {
    // Fill the pool, then have the server terminate every one of its sessions.
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
      threads.emplace_back([&] { (void)db->Exec("SELECT pg_sleep(0.05)"); });
    }
    for (auto& t : threads) t.join();
    const uint64_t before = db->Stats().reconnects;
    server->Psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
        "'streamgated'");
    for (int i = 0; i < 5; ++i) CHECK(db->Exec("SELECT 1"));
    CHECK(db->Stats().reconnects > before);
  }
}

TEST_CASE("postgres: wrong credentials and names get clear errors, never the password",
          "[sql][postgres]") {
  PostgresServer& server = SharedPostgres();
  SECTION("a wrong password") {
    PostgresOptions options = server.Options();
    options.password = "not-the-password-xyzzy";
    auto db = OpenPostgres(options);
    REQUIRE(db);
    auto r = (*db)->Ping();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kPermissionDenied);
    CHECK_THAT(r.error().message, Catch::Contains("database.password"));
    CHECK_THAT(r.error().message, !Catch::Contains("xyzzy"));
  }
  SECTION("a database that does not exist") {
    auto db = OpenPostgres(server.Options("no_such_db"));
    REQUIRE(db);
    auto r = (*db)->Exec("SELECT 1");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kNotFound);
    CHECK_THAT(r.error().message, Catch::Contains("no_such_db"));
  }
  SECTION("options that cannot work are refused at open") {
    PostgresOptions bad = server.Options();
    bad.port = 0;
    CHECK(OpenPostgres(bad).error().code == ErrorCode::kInvalidArgument);
    bad = server.Options();
    bad.port = 70000;
    CHECK(OpenPostgres(bad).error().code == ErrorCode::kInvalidArgument);
    bad = server.Options();
    bad.user = "";
    CHECK_THAT(OpenPostgres(bad).error().message, Catch::Contains("database.user"));
    bad = server.Options();
    bad.max_connections = 0;
    CHECK_THAT(OpenPostgres(bad).error().message, Catch::Contains("database.maxconns"));
    bad = server.Options();
    bad.sslmode = "sometimes";
    CHECK_THAT(OpenPostgres(bad).error().message, Catch::Contains("database.sslmode"));
    bad = server.Options();
    bad.host = std::string("127.0.0.1\0x", 11);
    CHECK(OpenPostgres(bad).error().code == ErrorCode::kInvalidArgument);
  }
  SECTION("a password with quotes and spaces is passed as it is") {
    const std::string odd = "it's a pass word \\ with = signs";
    server.Psql("CREATE ROLE odd_user LOGIN PASSWORD 'it''s a pass word \\ with = signs'");
    PostgresOptions options = server.Options();
    options.user = "odd_user";
    options.password = odd;
    auto db = OpenPostgres(options);
    REQUIRE(db);
    CHECK((*db)->Ping());
  }
}

TEST_CASE("postgres: migrations run once, in order, and a newer schema is refused",
          "[sql][postgres]") {
  auto db = OpenFresh();
  const std::vector<SqlMigration> migrations = {
      {1, "videos", {"CREATE TABLE videos (id TEXT PRIMARY KEY, title TEXT NOT NULL)"}},
      {2,
       "sizes",
       {"ALTER TABLE videos ADD COLUMN size BIGINT", "CREATE INDEX videos_size ON videos (size)"}},
  };
  auto first = db->Migrate("metadata", migrations);
  REQUIRE(first);
  CHECK(*first == 2);
  auto again = db->Migrate("metadata", migrations);
  REQUIRE(again);
  CHECK(*again == 2);
  REQUIRE(db->Exec("INSERT INTO videos (id, title, size) VALUES ('a', 't', 3)"));
  // Another component has its own version.
  auto jobs = db->Migrate("jobs", {{1, "jobs", {"CREATE TABLE jobs (id BIGINT)"}}});
  REQUIRE(jobs);
  CHECK(*jobs == 1);

  SECTION("a binary that knows fewer versions is refused, naming both") {
    auto older = db->Migrate("metadata", {migrations[0]});
    REQUIRE_FALSE(older);
    CHECK(older.error().code == ErrorCode::kFailedPrecondition);
    CHECK_THAT(older.error().message, Catch::Contains("2") && Catch::Contains("1"));
  }
  SECTION("a failing migration leaves the previous version whole") {
    auto broken = migrations;
    broken.push_back({3, "broken", {"CREATE TABLE half (id BIGINT)", "CREATE TABLE videos (x)"}});
    auto r = db->Migrate("metadata", broken);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("broken"));
    // PostgreSQL's DDL is transactional: the first statement went with the second.
    auto half = db->Exec("SELECT count(*) FROM half");
    REQUIRE_FALSE(half);
    auto version =
        db->Exec("SELECT version FROM schema_migrations WHERE component = $1",
                 {std::string("metadata")});
    REQUIRE(version);
    CHECK(version->rows.at(0).Int(0) == 2);
  }
}

}  // namespace
}  // namespace sg
