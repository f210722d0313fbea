#include "daemon/sql/migrate.h"

#include <chrono>
#include <cstdint>

namespace sg::sql {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<void> CheckList(const std::string& component, const std::vector<SqlMigration>& migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i + 1)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "migrations of '" + component + "': entry " + std::to_string(i + 1) +
                      " has version " + std::to_string(migrations[i].version) +
                      "; versions must be 1, 2, 3 ... in order with none missing");
    }
  }
  return {};
}

Error TooNew(const std::string& component, int64_t found, size_t known) {
  return Fail(ErrorCode::kFailedPrecondition,
              "the database's '" + component + "' schema is at version " + std::to_string(found) +
                  " but this streamgated knows versions up to " + std::to_string(known) +
                  ": a newer streamgated wrote it; run that newer streamgated, or restore a "
                  "backup taken before the upgrade");
}

}  // namespace

Result<int> RunMigrations(SqlDatabase& db, const std::string& component,
                          const std::vector<SqlMigration>& migrations) {
  if (auto ok = CheckList(component, migrations); !ok) return ok.error();
  const std::string context = "migrate '" + component + "'";

  auto created = db.Exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT PRIMARY KEY, "
      "version BIGINT NOT NULL, applied_at BIGINT)");
  if (!created) return created.error().Wrap(context + ": create schema_migrations");
  // The row exists from here on, so each step below can lock it before reading it.
  auto seeded = db.Exec(
      "INSERT INTO schema_migrations (component, version, applied_at) VALUES ($1, 0, $2) "
      "ON CONFLICT (component) DO NOTHING",
      {component, NowMs()});
  if (!seeded) return seeded.error().Wrap(context + ": record the component");

  int64_t version = 0;
  for (const SqlMigration& migration : migrations) {
    bool too_new = false;
    auto step = db.Transaction([&](SqlSession& session) -> Result<void> {
      // An update that changes nothing takes the row's write lock on PostgreSQL, so a second
      // process migrating at the same moment waits here and then reads the version we wrote;
      // on SQLite the transaction already holds the database's one write lock.
      auto locked = session.Exec(
          "UPDATE schema_migrations SET applied_at = applied_at WHERE component = $1", {component});
      if (!locked) return locked.error();
      auto current =
          session.Exec("SELECT version FROM schema_migrations WHERE component = $1", {component});
      if (!current) return current.error();
      version = current->rows.empty() ? 0 : current->rows[0].Int(0);
      if (version > static_cast<int64_t>(migrations.size())) {
        too_new = true;
        return {};
      }
      if (version >= migration.version) return {};  // done already, by us or by a peer
      for (const std::string& statement : migration.statements) {
        auto ran = session.Exec(statement);
        if (!ran) return ran.error();
      }
      auto bumped = session.Exec(
          "UPDATE schema_migrations SET version = $1, applied_at = $2 WHERE component = $3",
          {static_cast<int64_t>(migration.version), NowMs(), component});
      if (!bumped) return bumped.error();
      version = migration.version;
      return {};
    });
    if (!step) {
      return step.error().Wrap(context + ": version " + std::to_string(migration.version) + " (" +
                               migration.description + ")");
    }
    if (too_new) return TooNew(component, version, migrations.size());
  }
  if (migrations.empty()) {
    auto current =
        db.Exec("SELECT version FROM schema_migrations WHERE component = $1", {component});
    if (!current) return current.error().Wrap(context);
    version = current->rows.empty() ? 0 : current->rows[0].Int(0);
    if (version > 0) return TooNew(component, version, 0);
  }
  return static_cast<int>(version);
}

}  // namespace sg::sql
