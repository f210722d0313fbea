// A SQL database, SQLite or PostgreSQL, behind one interface: the catalogue and the job queue
// write their SQL once, with $1, $2 ... placeholders, and run it on either. Migrations are
// versioned lists of statements, run at open on both engines from the same definitions.
//
// The implementations (daemon/sql/, library sg_sql) use SQLite in WAL mode, and libpq with a
// connection pool that reconnects; a plugin that needs SQL links sg_sql beside sg_plugin_api.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "config/config.h"

namespace sg {

/// A parameter or a column value. NULL is std::monostate.
using SqlValue = std::variant<std::monostate, int64_t, double, std::string>;

/// One row of a result, by column position.
class SqlRow {
 public:
  explicit SqlRow(std::vector<SqlValue> values) : values_(std::move(values)) {}
  size_t size() const { return values_.size(); }
  bool IsNull(size_t i) const { return std::holds_alternative<std::monostate>(values_.at(i)); }
  /// The column as a type; NULL gives 0 or "". A string column read as a number is parsed.
  int64_t Int(size_t i) const;
  double Double(size_t i) const;
  std::string Text(size_t i) const;

 private:
  std::vector<SqlValue> values_;
};

/// What a statement did: the rows it returned (SELECT, or RETURNING) and the rows it changed.
struct SqlResult {
  std::vector<SqlRow> rows;
  int64_t changed = 0;
};

/// The statements of one connection, inside a transaction or not. Not thread-safe: one thread
/// at a time uses a session (the database hands each caller its own).
class SqlSession {
 public:
  virtual ~SqlSession() = default;
  /// Runs one statement with $1.. bound to `params`. Errors: kInvalidArgument for SQL the engine
  /// refuses, kFailedPrecondition for a constraint violation (a duplicate key), kUnavailable when
  /// the server is gone, kTimeout when the database stays busy/locked past its timeout.
  virtual Result<SqlResult> Exec(const std::string& sql, const std::vector<SqlValue>& params) = 0;
  Result<SqlResult> Exec(const std::string& sql) { return Exec(sql, {}); }
};

/// One step of the schema. Versions start at 1 and go up by one; `statements` are portable SQL
/// (types TEXT, BIGINT, DOUBLE PRECISION; no engine-specific syntax), run in one transaction
/// together with the bump of the recorded version.
struct SqlMigration {
  int version = 0;
  std::string description;
  std::vector<std::string> statements;
};

struct SqlStats {
  uint64_t statements = 0;  // Exec calls
  uint64_t errors = 0;      // Exec calls that failed
  uint64_t reconnects = 0;  // connections made again after one was lost
  int64_t pool_size = 0;    // connections open now
  int64_t pool_in_use = 0;  // of which lent out now
  uint64_t pool_waits = 0;  // callers that waited for a free connection
};

/// Thread-safe. PostgreSQL lends each caller a pooled connection; SQLite has one writer at a time
/// and waits up to its busy timeout for it.
class SqlDatabase {
 public:
  virtual ~SqlDatabase() = default;
  virtual std::string Engine() const = 0;  // "sqlite" or "postgres"
  /// Runs `work` on one connection inside a transaction: committed when it returns success,
  /// rolled back when it returns an error (which is returned). A lost connection is replaced
  /// for the next caller. Transactions are serializable on both engines (a read then a write
  /// cannot lose a concurrent update). PostgreSQL may abort one of two conflicting transactions
  /// (SQLSTATE 40001, 40P01); `work` is then run again from the start, so it must keep its
  /// effects to the session, or reset what it captured at its start.
  virtual Result<void> Transaction(const std::function<Result<void>(SqlSession&)>& work) = 0;
  /// One statement outside any explicit transaction.
  virtual Result<SqlResult> Exec(const std::string& sql, const std::vector<SqlValue>& params) = 0;
  Result<SqlResult> Exec(const std::string& sql) { return Exec(sql, {}); }
  /// Brings the schema named `component` ("metadata", "jobs") up to the last migration. Each
  /// component has its own version in table schema_migrations. A database whose version of
  /// `component` is newer than the last migration given is refused (kFailedPrecondition, naming
  /// both versions and saying to run the newer streamgated or restore a backup).
  virtual Result<int> Migrate(const std::string& component,
                              const std::vector<SqlMigration>& migrations) = 0;
  /// Cheap check that the database answers (SELECT 1), for health.
  virtual Result<void> Ping() = 0;
  virtual SqlStats Stats() const = 0;
};

struct SqliteOptions {
  std::string path;  // the database file; created, with its folder, when missing
  std::chrono::milliseconds busy_timeout{5000};
};

struct PostgresOptions {
  std::string host = "localhost";
  int port = 5432;
  std::string user;
  std::string password;
  std::string database;
  std::string sslmode = "disable";
  int max_connections = 16;
  std::chrono::milliseconds connect_timeout{5000};
};

/// Opens a SQLite database. Errors name the path: kIo when it cannot be opened or created,
/// kInvalidArgument when the file is not a SQLite database.
Result<std::shared_ptr<SqlDatabase>> OpenSqlite(const SqliteOptions& options);
/// Opens a pool on a PostgreSQL server; it connects lazily and again after a loss, so it opens
/// while the server is down (Ping then says kUnavailable).
Result<std::shared_ptr<SqlDatabase>> OpenPostgres(const PostgresOptions& options);

/// database.host, database.port, database.user, database.password, database.database,
/// database.sslmode and database.maxconns: the PostgreSQL database of metadata.engine=postgres,
/// which the catalogue and, in monolith mode, the job queue share.
PostgresOptions PostgresOptionsFrom(const config::Config& config);

/// The database that holds a deployment's state, as metadata.engine says: the PostgreSQL
/// database of database.* (its pool made at once, connecting when first used, within 3 s: Init
/// tries once), or the SQLite file metadata.sqlite_path. The catalogue, the job queue of a
/// monolith and the API keys all live there.
struct StateDatabase {
  std::shared_ptr<SqlDatabase> db;
  std::string where;  // "SQLite file /x/streamgate.db", "PostgreSQL at host:5432/db"
  bool postgres = false;
};
/// The error names `where` for PostgreSQL; SQLite's names its file.
Result<StateDatabase> OpenStateDatabase(const config::Config& config);

}  // namespace sg
