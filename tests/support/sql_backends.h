// The SQL engines a test suite runs on: SQLite always, and any other engine whose server the
// tests can start (the PostgreSQL helper adds it here). One suite, every backend.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "daemon/plugin_api/sql.h"
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

/// Every backend the suites run on.
inline std::vector<SqlBackend> SqlBackends() {
  std::vector<SqlBackend> backends;
  backends.push_back({"sqlite", OpenFreshSqlite});
  return backends;
}

}  // namespace sg::test
