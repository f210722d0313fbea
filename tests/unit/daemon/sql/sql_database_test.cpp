// The SQLite database of sql.h on real files: its setup, parameters, error codes, bad files and
// folders, and the migration runner every engine shares.
#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "daemon/plugin_api/sql.h"
#include "tests/support/process.h"
#include "tests/support/sql_backends.h"

namespace sg {
namespace {

using test::TempDir;

std::shared_ptr<SqlDatabase> OpenAt(const std::string& path) {
  SqliteOptions options;
  options.path = path;
  auto db = OpenSqlite(options);
  if (!db) FAIL(db.error().message);
  return *db;
}

std::vector<SqlMigration> Notes(int versions) {
  std::vector<SqlMigration> all = {
      {1, "notes", {"CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL)"}},
      {2,
       "note owners",
       {"ALTER TABLE notes ADD COLUMN owner TEXT", "CREATE INDEX notes_owner ON notes (owner)"}},
      {3, "tags", {"CREATE TABLE tags (name TEXT PRIMARY KEY)"}},
  };
  all.resize(versions);
  return all;
}

TEST_CASE("sqlite opens in WAL mode with foreign keys on, creating its folder", "[sql]") {
  TempDir dir;
  auto db = OpenAt(dir.path() + "/a/b/catalogue.db");

  auto mode = db->Exec("PRAGMA journal_mode");
  auto fk = db->Exec("PRAGMA foreign_keys");

  REQUIRE(mode);
  CHECK(mode->rows.at(0).Text(0) == "wal");
  REQUIRE(fk);
  CHECK(fk->rows.at(0).Int(0) == 1);
  CHECK(db->Engine() == "sqlite");
  CHECK(db->Ping());
}

TEST_CASE("sql statements bind $1..$N by number, reuse them, and read every type back", "[sql]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto db = backend.open_fresh();
      REQUIRE(db);
      REQUIRE(db->Exec("CREATE TABLE t (a BIGINT, b DOUBLE PRECISION, c TEXT, d TEXT)"));

      auto inserted =
          db->Exec("INSERT INTO t (a, b, c, d) VALUES ($1, $2, $3, $4)",
                   {int64_t{-9007199254740993}, 2.5, std::string("it's $1 'x'"), std::monostate{}});
      auto read = db->Exec("SELECT a, b, c, d FROM t WHERE c = $2 AND a = $1",
                           {int64_t{-9007199254740993}, std::string("it's $1 'x'")});
      auto again = db->Exec("SELECT COUNT(*) FROM t WHERE a = $1 OR a = $1", {int64_t{7}});

      REQUIRE(inserted);
      CHECK(inserted->changed == 1);
      REQUIRE(read);
      REQUIRE(read->rows.size() == 1);
      const SqlRow& row = read->rows[0];
      CHECK(row.Int(0) == -9007199254740993);
      CHECK(row.Double(1) == 2.5);
      CHECK(row.Text(2) == "it's $1 'x'");
      CHECK(row.IsNull(3));
      CHECK(row.Text(3).empty());
      REQUIRE(again);
      CHECK(again->rows.at(0).Int(0) == 0);
    }
  }
}

TEST_CASE("sql errors carry the code sql.h promises", "[sql]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto db = backend.open_fresh();
      REQUIRE(db);
      REQUIRE(db->Exec("CREATE TABLE k (id TEXT PRIMARY KEY)"));
      REQUIRE(db->Exec("INSERT INTO k (id) VALUES ($1)", {std::string("x")}));

      auto duplicate = db->Exec("INSERT INTO k (id) VALUES ($1)", {std::string("x")});
      auto syntax = db->Exec("SELEKT nonsense");
      auto missing = db->Exec("SELECT * FROM no_such_table");
      auto too_few = db->Exec("SELECT * FROM k WHERE id = $2", {std::string("x")});

      REQUIRE_FALSE(duplicate);
      CHECK(duplicate.error().code == ErrorCode::kFailedPrecondition);
      REQUIRE_FALSE(syntax);
      CHECK(syntax.error().code == ErrorCode::kInvalidArgument);
      REQUIRE_FALSE(missing);
      CHECK(missing.error().code == ErrorCode::kInvalidArgument);
      REQUIRE_FALSE(too_few);
      CHECK(too_few.error().code == ErrorCode::kInvalidArgument);
      CHECK(db->Stats().errors >= 4);
      CHECK(db->Stats().statements >= 6);
    }
  }
}

TEST_CASE("sqlite refuses ? placeholders and a string of several statements", "[sql]") {
  TempDir dir;
  auto db = OpenAt(dir.path() + "/x.db");

  auto question = db->Exec("SELECT ?", {int64_t{1}});
  auto two = db->Exec("CREATE TABLE a (x TEXT); DROP TABLE a");

  REQUIRE_FALSE(question);
  CHECK(question.error().code == ErrorCode::kInvalidArgument);
  REQUIRE_FALSE(two);
  CHECK(two.error().code == ErrorCode::kInvalidArgument);
  CHECK(two.error().message.find("one statement") != std::string::npos);
}

TEST_CASE("a transaction commits on success and rolls back on error", "[sql]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto db = backend.open_fresh();
      REQUIRE(db);
      REQUIRE(db->Exec("CREATE TABLE n (v BIGINT)"));

      auto good = db->Transaction([](SqlSession& s) -> Result<void> {
        auto r = s.Exec("INSERT INTO n (v) VALUES ($1)", {int64_t{1}});
        if (!r) return r.error();
        return {};
      });
      auto bad = db->Transaction([](SqlSession& s) -> Result<void> {
        auto r = s.Exec("INSERT INTO n (v) VALUES ($1)", {int64_t{2}});
        if (!r) return r.error();
        return Fail(ErrorCode::kFailedPrecondition, "changed my mind");
      });
      auto count = db->Exec("SELECT COUNT(*), MAX(v) FROM n");

      CHECK(good);
      REQUIRE_FALSE(bad);
      CHECK(bad.error().message == "changed my mind");
      REQUIRE(count);
      CHECK(count->rows.at(0).Int(0) == 1);
      CHECK(count->rows.at(0).Int(1) == 1);
    }
  }
}

TEST_CASE("concurrent transactions serialize: no increment is lost", "[sql]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto db = backend.open_fresh();
      REQUIRE(db);
      REQUIRE(db->Exec("CREATE TABLE c (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)"));
      REQUIRE(db->Exec("INSERT INTO c (id, n) VALUES (1, 0)"));
      std::atomic<int> failures{0};

      std::vector<std::thread> threads;
      for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
          for (int i = 0; i < 25; ++i) {
            auto r = db->Transaction([](SqlSession& s) -> Result<void> {
              auto read = s.Exec("SELECT n FROM c WHERE id = 1");
              if (!read) return read.error();
              auto w = s.Exec("UPDATE c SET n = $1 WHERE id = 1", {read->rows.at(0).Int(0) + 1});
              if (!w) return w.error();
              return {};
            });
            if (!r) ++failures;
          }
        });
      }
      for (auto& t : threads) t.join();
      auto n = db->Exec("SELECT n FROM c WHERE id = 1");

      CHECK(failures == 0);
      REQUIRE(n);
      CHECK(n->rows.at(0).Int(0) == 100);
    }
  }
}

TEST_CASE("more callers than pooled connections, writing in and out of transactions, all finish",
          "[sql]") {
  TempDir dir;
  auto db = OpenAt(dir.path() + "/crowd.db");
  REQUIRE(db->Exec("CREATE TABLE log (who BIGINT, n BIGINT)"));
  std::atomic<int> failures{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        bool ok = false;
        if ((t + i) % 2 == 0) {
          ok = static_cast<bool>(
              db->Exec("INSERT INTO log (who, n) VALUES ($1, $2)", {int64_t{t}, int64_t{i}}));
        } else {
          ok = static_cast<bool>(db->Transaction([&](SqlSession& s) -> Result<void> {
            auto w = s.Exec("INSERT INTO log (who, n) VALUES ($1, $2)", {int64_t{t}, int64_t{i}});
            if (!w) return w.error();
            return {};
          }));
        }
        if (!ok) ++failures;
        if (!db->Exec("SELECT COUNT(*) FROM log")) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  auto count = db->Exec("SELECT COUNT(*) FROM log");

  CHECK(failures == 0);
  REQUIRE(count);
  CHECK(count->rows.at(0).Int(0) == 320);
  CHECK(db->Stats().pool_size <= 8);
  CHECK(db->Stats().pool_in_use == 0);
}

TEST_CASE("two handles on one sqlite file (two processes) lose no increment", "[sql]") {
  TempDir dir;
  const std::string path = dir.path() + "/shared.db";
  auto a = OpenAt(path);
  auto b = OpenAt(path);
  REQUIRE(a->Exec("CREATE TABLE c (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)"));
  REQUIRE(a->Exec("INSERT INTO c (id, n) VALUES (1, 0)"));
  std::atomic<int> failures{0};
  auto bump = [&](SqlDatabase& db) {
    for (int i = 0; i < 50; ++i) {
      auto r = db.Transaction([](SqlSession& s) -> Result<void> {
        auto read = s.Exec("SELECT n FROM c WHERE id = 1");
        if (!read) return read.error();
        auto w = s.Exec("UPDATE c SET n = $1 WHERE id = 1", {read->rows.at(0).Int(0) + 1});
        if (!w) return w.error();
        return {};
      });
      if (!r) ++failures;
    }
  };

  std::thread ta([&] { bump(*a); });
  std::thread tb([&] { bump(*b); });
  ta.join();
  tb.join();
  auto n = b->Exec("SELECT n FROM c WHERE id = 1");

  CHECK(failures == 0);
  REQUIRE(n);
  CHECK(n->rows.at(0).Int(0) == 100);
}

TEST_CASE("a writer held past busy_timeout by another handle is kTimeout", "[sql]") {
  TempDir dir;
  const std::string path = dir.path() + "/busy.db";
  auto holder = OpenAt(path);
  SqliteOptions options;
  options.path = path;
  options.busy_timeout = std::chrono::milliseconds(50);
  auto waiter = OpenSqlite(options);
  REQUIRE(waiter);
  REQUIRE(holder->Exec("CREATE TABLE t (x BIGINT)"));
  std::promise<void> holding;
  std::promise<void> release;

  std::thread t([&] {
    auto r = holder->Transaction([&](SqlSession& s) -> Result<void> {
      auto w = s.Exec("INSERT INTO t (x) VALUES (1)");
      if (!w) return w.error();
      holding.set_value();
      release.get_future().wait();
      return {};
    });
    CHECK(r);
  });
  holding.get_future().wait();
  auto blocked = (*waiter)->Transaction([](SqlSession& s) -> Result<void> {
    auto w = s.Exec("INSERT INTO t (x) VALUES (2)");
    if (!w) return w.error();
    return {};
  });
  auto write = (*waiter)->Exec("INSERT INTO t (x) VALUES (3)");
  auto read = (*waiter)->Exec("SELECT COUNT(*) FROM t");  // WAL: readers do not wait
  release.set_value();
  t.join();

  REQUIRE_FALSE(blocked);
  CHECK(blocked.error().code == ErrorCode::kTimeout);
  REQUIRE_FALSE(write);
  CHECK(write.error().code == ErrorCode::kTimeout);
  REQUIRE(read);
  CHECK(read->rows.at(0).Int(0) == 0);
}

TEST_CASE("a file that is not a SQLite database is refused clearly", "[sql]") {
  TempDir dir;
  std::string garbage(8192, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 131 + 7) % 251);
  const std::string path = dir.Write("garbage.db", garbage);
  const std::string text = dir.Write("notes.txt", "these are my notes, not a database\n");

  SqliteOptions options;
  options.path = path;
  auto db = OpenSqlite(options);
  options.path = text;
  auto db2 = OpenSqlite(options);

  REQUIRE_FALSE(db);
  CHECK(db.error().code == ErrorCode::kInvalidArgument);
  CHECK(db.error().message.find(path + " is not a SQLite database") != std::string::npos);
  REQUIRE_FALSE(db2);
  CHECK(db2.error().code == ErrorCode::kInvalidArgument);
  std::ifstream in(path, std::ios::binary);
  std::string after((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(after == garbage);  // left as it was
}

TEST_CASE("a folder that cannot be made or used is a kIo error naming the path", "[sql]") {
  TempDir dir;
  const std::string file = dir.Write("plain-file", "x");
  SqliteOptions options;

  options.path = file + "/sub/db.sqlite";  // a file where a folder should be: even root fails
  auto under_file = OpenSqlite(options);
  options.path = dir.path();
  auto is_folder = OpenSqlite(options);
  options.path = "";
  auto empty = OpenSqlite(options);

  REQUIRE_FALSE(under_file);
  CHECK(under_file.error().code == ErrorCode::kIo);
  CHECK(under_file.error().message.find(file) != std::string::npos);
  REQUIRE_FALSE(is_folder);
  CHECK(is_folder.error().code == ErrorCode::kIo);
  CHECK(is_folder.error().message.find(dir.path()) != std::string::npos);
  REQUIRE_FALSE(empty);
  CHECK(empty.error().code == ErrorCode::kInvalidArgument);
}

TEST_CASE("migrations run once, in order, and again on reopen do nothing", "[sql][migrate]") {
  TempDir dir;
  const std::string path = dir.path() + "/m.db";
  {
    auto db = OpenAt(path);
    auto first = db->Migrate("notes", Notes(2));
    REQUIRE(first);
    CHECK(*first == 2);
    REQUIRE(db->Exec("INSERT INTO notes (id, body, owner) VALUES (1, 'hi', 'ann')"));
    auto again = db->Migrate("notes", Notes(2));
    REQUIRE(again);
    CHECK(*again == 2);
  }

  auto db = OpenAt(path);
  auto reopened = db->Migrate("notes", Notes(2));
  auto other = db->Migrate("other", {{1, "x", {"CREATE TABLE other_things (x TEXT)"}}});
  auto upgraded = db->Migrate("notes", Notes(3));
  auto rows = db->Exec("SELECT body, owner FROM notes");
  auto versions = db->Exec("SELECT component, version FROM schema_migrations ORDER BY component");

  REQUIRE(reopened);
  CHECK(*reopened == 2);
  REQUIRE(other);
  CHECK(*other == 1);
  REQUIRE(upgraded);
  CHECK(*upgraded == 3);
  REQUIRE(rows);
  REQUIRE(rows->rows.size() == 1);  // the data survived every Migrate
  CHECK(rows->rows[0].Text(1) == "ann");
  REQUIRE(versions);
  REQUIRE(versions->rows.size() == 2);
  CHECK(versions->rows[0].Text(0) == "notes");
  CHECK(versions->rows[0].Int(1) == 3);
  CHECK(versions->rows[1].Int(1) == 1);
}

TEST_CASE("a database migrated by a newer binary is refused, saying what to do", "[sql][migrate]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto db = backend.open_fresh();
      REQUIRE(db);
      REQUIRE(db->Migrate("notes", Notes(3)));

      auto older = db->Migrate("notes", Notes(2));
      auto none = db->Migrate("notes", {});

      REQUIRE_FALSE(older);
      CHECK(older.error().code == ErrorCode::kFailedPrecondition);
      CHECK_THAT(older.error().message,
                 Catch::Contains("version 3") && Catch::Contains("up to 2") &&
                     Catch::Contains("newer streamgated") && Catch::Contains("backup"));
      REQUIRE_FALSE(none);
      CHECK(none.error().code == ErrorCode::kFailedPrecondition);
    }
  }
}

TEST_CASE("a failing migration leaves the previous version whole", "[sql][migrate]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto db = backend.open_fresh();
      REQUIRE(db);
      auto broken = Notes(2);
      broken[1].statements = {"ALTER TABLE notes ADD COLUMN owner TEXT", "THIS IS NOT SQL"};

      auto failed = db->Migrate("notes", broken);
      auto fixed = db->Migrate("notes", Notes(2));

      REQUIRE_FALSE(failed);
      CHECK(failed.error().code == ErrorCode::kInvalidArgument);
      CHECK_THAT(failed.error().message, Catch::Contains("version 2 (note owners)"));
      REQUIRE(fixed);  // the half-applied ALTER was rolled back, so version 2 runs cleanly now
      CHECK(*fixed == 2);
    }
  }
}

TEST_CASE("migration lists must be numbered 1..N", "[sql][migrate]") {
  TempDir dir;
  auto db = OpenAt(dir.path() + "/m.db");
  auto gap = Notes(3);
  gap.erase(gap.begin() + 1);
  auto zero = Notes(1);
  zero[0].version = 0;

  auto with_gap = db->Migrate("notes", gap);
  auto from_zero = db->Migrate("notes", zero);
  auto tables = db->Exec("SELECT COUNT(*) FROM sqlite_master WHERE name = 'notes'");

  REQUIRE_FALSE(with_gap);
  CHECK(with_gap.error().code == ErrorCode::kInvalidArgument);
  REQUIRE_FALSE(from_zero);
  CHECK(from_zero.error().code == ErrorCode::kInvalidArgument);
  REQUIRE(tables);
  CHECK(tables->rows.at(0).Int(0) == 0);
}

TEST_CASE("sqlite stats count statements, errors and the pool", "[sql]") {
  TempDir dir;
  auto db = OpenAt(dir.path() + "/s.db");

  REQUIRE(db->Exec("SELECT 1"));
  auto stats = db->Stats();

  CHECK(stats.statements >= 1);
  CHECK(stats.pool_size >= 1);
  CHECK(stats.pool_in_use == 0);
}

}  // namespace
}  // namespace sg
