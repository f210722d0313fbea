// The migration runner shared by the SQLite and PostgreSQL databases: both engines' Migrate call
// it, so a component's schema versions mean the same on either.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "daemon/plugin_api/sql.h"

namespace sg::sql {

/// Brings `component` up to the last of `migrations` on `db`, recording its version in table
/// schema_migrations(component TEXT PRIMARY KEY, version BIGINT NOT NULL, applied_at BIGINT),
/// created when missing. Each migration runs in one db.Transaction together with the bump of the
/// version, so a failure leaves the previous version whole. Returns the version now recorded.
/// Errors: kInvalidArgument when the versions are not 1..N in order (a bug in the caller's list),
/// kFailedPrecondition when the database is at a newer version than the last migration given
/// (naming both), and the database's own errors, wrapped with the migration that failed.
/// Safe against another process migrating the same database at the same time: each step locks
/// the component's row before it reads the version.
Result<int> RunMigrations(SqlDatabase& db, const std::string& component,
                          const std::vector<SqlMigration>& migrations);

}  // namespace sg::sql

namespace sg::sql {

/// What the two engines share above their connections: migrations by RunMigrations, and a ping
/// that is one round trip of `SELECT 1`.
class EngineBase : public SqlDatabase {
 public:
  using SqlDatabase::Exec;
  Result<int> Migrate(const std::string& component,
                      const std::vector<SqlMigration>& migrations) override {
    return RunMigrations(*this, component, migrations);
  }
  Result<void> Ping() override {
    auto r = Exec("SELECT 1");
    if (!r) return r.error();
    return {};
  }
};

}  // namespace sg::sql
