// The SQL engines a test suite runs on: SQLite always, and PostgreSQL on a server the tests start
// themselves (one for the whole test binary, started at its first use). One suite, every backend.
#pragma once

#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "daemon/plugin_api/sql.h"
#include "tests/support/postgres_server.h"
#include "tests/support/process.h"

namespace sg::test {

struct SqlBackend {
  std::string name;  // "sqlite", "postgres"
  /// A new, empty database each call; it and whatever holds it go when the pointer goes.
  /// Fails the running test (and returns nullptr) when the database cannot be opened.
  std::function<std::shared_ptr<SqlDatabase>()> open_fresh;
};

/// A SQLite database in a fresh temporary folder, removed with the database.
inline std::shared_ptr<SqlDatabase> OpenFreshSqlite() {
  struct Holder {
    TempDir dir;
    std::shared_ptr<SqlDatabase> db;  // declared after dir: closed before dir is removed
  };
  auto holder = std::make_shared<Holder>();
  SqliteOptions options;
  options.path = holder->dir.path() + "/test.db";
  auto db = OpenSqlite(options);
  if (!db) {
    FAIL("open sqlite: " << db.error().message);
    return nullptr;
  }
  holder->db = *db;
  return std::shared_ptr<SqlDatabase>(holder, holder->db.get());
}

/// A new database on the shared PostgreSQL server (SharedPostgres(): the first call starts it,
/// or exits 77 when PostgreSQL is not installed), dropped when the pointer goes.
inline std::shared_ptr<SqlDatabase> OpenFreshPostgres() {
  static std::atomic<int> counter{0};
  struct Holder {
    std::string name;
    std::shared_ptr<SqlDatabase> db;
    ~Holder() {
      db.reset();  // the pool's connections close first
      try {
        // FORCE: a connection some test leaked must not keep the database alive.
        SharedPostgres().Psql("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "postgres");
      } catch (const std::exception&) {
        // A test that stopped the server: the whole cluster goes at exit anyway.
      }
    }
  };
  PostgresServer& server = SharedPostgres();
  auto holder = std::make_shared<Holder>();
  holder->name = "suite_" + std::to_string(counter++);
  try {
    server.CreateDatabase(holder->name);
  } catch (const std::exception& e) {
    FAIL("create a postgres database: " << e.what());
    return nullptr;
  }
  auto db = OpenPostgres(server.Options(holder->name));
  if (!db) {
    FAIL("open postgres: " << db.error().message);
    return nullptr;
  }
  holder->db = *db;
  return std::shared_ptr<SqlDatabase>(holder, holder->db.get());
}

/// Every backend the suites run on.
inline std::vector<SqlBackend> SqlBackends() {
  std::vector<SqlBackend> backends;
  backends.push_back({"sqlite", OpenFreshSqlite});
  backends.push_back({"postgres", OpenFreshPostgres});
  return backends;
}

}  // namespace sg::test
