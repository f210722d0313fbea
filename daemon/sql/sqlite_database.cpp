// SQLite behind sql.h: WAL mode so readers never wait for the writer, a small pool of connections
// (one per concurrent caller, each used by one thread at a time), and one writer at a time in
// this process (a mutex), with BEGIN IMMEDIATE and the busy timeout for writers in other ones.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include "daemon/plugin_api/sql.h"
#include "daemon/sql/migrate.h"

namespace sg {
namespace {

// Connections beyond this many wait for one to come back: SQLite has one writer anyway, and
// each connection holds its own page cache.
constexpr size_t kMaxConnections = 8;
// Prepared statements kept per connection; the catalogue and the job store use a few dozen.
constexpr size_t kMaxCachedStatements = 128;

std::string Abbreviated(const std::string& sql) {
  constexpr size_t kMax = 120;
  std::string out;
  for (char c : sql.substr(0, kMax)) out += (c == '\n' || c == '\t') ? ' ' : c;
  if (sql.size() > kMax) out += "...";
  return out;
}

// One open connection with its statement cache. Used by one thread at a time.
struct Connection {
  sqlite3* db = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> statements;

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    for (auto& [sql, stmt] : statements) sqlite3_finalize(stmt);
    sqlite3_close_v2(db);
  }
};

// The one writer of this process, waited for up to a timeout. Not std::timed_mutex: its timed
// lock is invisible to ThreadSanitizer, which then reports every unlock as a bug.
class WriterLock {
 public:
  bool TryLockFor(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !held_; })) return false;
    held_ = true;
    return true;
  }
  void Unlock() {
    {
      std::lock_guard lock(mu_);
      held_ = false;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;  // guarded by mu_
};

// Holds the writer lock from a successful TryLockFor until it goes.
class WriterGuard {
 public:
  explicit WriterGuard(WriterLock& lock) : lock_(lock) {}
  ~WriterGuard() {
    if (held_) lock_.Unlock();
  }
  WriterGuard(const WriterGuard&) = delete;
  WriterGuard& operator=(const WriterGuard&) = delete;
  bool TryLockFor(std::chrono::milliseconds timeout) {
    held_ = lock_.TryLockFor(timeout);
    return held_;
  }

 private:
  WriterLock& lock_;
  bool held_ = false;
};

class SqliteDatabase;

class SqliteSession : public SqlSession {
 public:
  SqliteSession(SqliteDatabase& db, Connection& conn) : db_(db), conn_(conn) {}
  Result<SqlResult> Exec(const std::string& sql, const std::vector<SqlValue>& params) override;
  using SqlSession::Exec;

 private:
  SqliteDatabase& db_;
  Connection& conn_;
};

class SqliteDatabase : public sql::EngineBase {
 public:
  explicit SqliteDatabase(SqliteOptions options) : options_(std::move(options)) {}
  ~SqliteDatabase() override = default;
  SqliteDatabase(const SqliteDatabase&) = delete;
  SqliteDatabase& operator=(const SqliteDatabase&) = delete;

  std::string Engine() const override { return "sqlite"; }
  Result<void> Transaction(const std::function<Result<void>(SqlSession&)>& work) override;
  Result<SqlResult> Exec(const std::string& sql, const std::vector<SqlValue>& params) override;
  using SqlDatabase::Exec;
  SqlStats Stats() const override;

  /// Opens one connection, set up (WAL, busy timeout, foreign keys, synchronous).
  Result<std::unique_ptr<Connection>> Open();
  /// Runs one statement on `conn`; `in_transaction` says the writer lock is held already.
  Result<SqlResult> ExecOn(Connection& conn, const std::string& sql,
                           const std::vector<SqlValue>& params, bool in_transaction);
  const std::string& path() const { return options_.path; }

 private:
  // A connection lent out, given back when this goes.
  class Lease {
   public:
    Lease(SqliteDatabase& db, std::unique_ptr<Connection> conn) : db_(db), conn_(std::move(conn)) {}
    ~Lease() { db_.Release(std::move(conn_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Connection& operator*() const { return *conn_; }

   private:
    SqliteDatabase& db_;
    std::unique_ptr<Connection> conn_;
  };

  Result<std::unique_ptr<Lease>> Acquire();
  void Release(std::unique_ptr<Connection> conn);
  Error Timeout(const std::string& what) const {
    return Fail(ErrorCode::kTimeout, "sqlite " + options_.path + ": " + what + " for longer than " +
                                         std::to_string(options_.busy_timeout.count()) +
                                         " ms (busy_timeout)");
  }

  const SqliteOptions options_;
  WriterLock writer_;  // held by the one writer of this process
  mutable std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by pool_mu_
  size_t open_ = 0;                                // guarded by pool_mu_
  size_t in_use_ = 0;                              // guarded by pool_mu_
  uint64_t waits_ = 0;                             // guarded by pool_mu_
  std::atomic<uint64_t> statements_{0};
  std::atomic<uint64_t> errors_{0};
};

Result<SqlResult> SqliteSession::Exec(const std::string& sql, const std::vector<SqlValue>& params) {
  return db_.ExecOn(conn_, sql, params, /*in_transaction=*/true);
}

// The error of `rc` on `db`, as sql.h says: constraint → kFailedPrecondition, busy/locked →
// kTimeout, not a database → kInvalidArgument, a refused statement → kInvalidArgument.
Error SqliteError(const std::string& path, sqlite3* db, int rc, const std::string& sql) {
  const std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const std::string where = sql.empty() ? "" : " (in: " + Abbreviated(sql) + ")";
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      return Fail(ErrorCode::kFailedPrecondition, "sqlite " + path + ": " + detail + where);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Fail(ErrorCode::kTimeout, "sqlite " + path + ": " + detail +
                                           " (another writer held it past busy_timeout)" + where);
    case SQLITE_NOTADB:
      return Fail(ErrorCode::kInvalidArgument,
                  path + " is not a SQLite database: " + detail +
                      "; point the path at the right file, or move this one away to start afresh");
    case SQLITE_FULL:
      return Fail(ErrorCode::kNoSpace, "sqlite " + path + ": " + detail + where);
    case SQLITE_CORRUPT:
      return Fail(ErrorCode::kIo, "sqlite " + path + ": " + detail +
                                      "; the file is damaged: restore it from a backup");
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM: {
      std::string os;
      const int err = db != nullptr ? sqlite3_system_errno(db) : 0;
      if (err != 0) os = " (" + std::string(std::strerror(err)) + ")";
      return Fail(ErrorCode::kIo, "sqlite " + path + ": " + detail + os);
    }
    case SQLITE_ERROR:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
      return Fail(ErrorCode::kInvalidArgument, "sqlite " + path + ": " + detail + where);
    default:
      return Fail(ErrorCode::kInternal, "sqlite " + path + ": " + detail + where);
  }
}

Result<std::unique_ptr<Connection>> SqliteDatabase::Open() {
  auto conn = std::make_unique<Connection>();
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(options_.path.c_str(), &conn->db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Error e = SqliteError(options_.path, conn->db, rc, "");
    if (e.code != ErrorCode::kInvalidArgument) e.code = ErrorCode::kIo;
    return e.Wrap("open");
  }
  sqlite3_extended_result_codes(conn->db, 1);
  sqlite3_busy_timeout(conn->db, static_cast<int>(options_.busy_timeout.count()));
  // journal_mode is the first read of the file: a file that is not a database fails here.
  for (const char* pragma :
       {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON"}) {
    auto r = ExecOn(*conn, pragma, {}, /*in_transaction=*/true);
    if (!r) return r.error();
  }
  return conn;
}

Result<std::unique_ptr<SqliteDatabase::Lease>> SqliteDatabase::Acquire() {
  std::unique_lock lock(pool_mu_);
  if (idle_.empty() && open_ >= kMaxConnections) {
    ++waits_;
    const bool got = pool_cv_.wait_for(lock, options_.busy_timeout,
                                       [&] { return !idle_.empty() || open_ < kMaxConnections; });
    if (!got) return Timeout("all " + std::to_string(kMaxConnections) + " connections were busy");
  }
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    ++in_use_;
    return std::make_unique<Lease>(*this, std::move(conn));
  }
  ++open_;
  ++in_use_;
  lock.unlock();
  auto conn = Open();
  if (!conn) {
    std::lock_guard relock(pool_mu_);
    --open_;
    --in_use_;
    pool_cv_.notify_one();
    return conn.error();
  }
  return std::make_unique<Lease>(*this, std::move(conn).value());
}

void SqliteDatabase::Release(std::unique_ptr<Connection> conn) {
  // A caller that left a transaction open (a BEGIN through Exec) must not hand it to the next.
  if (conn && sqlite3_get_autocommit(conn->db) == 0) {
    sqlite3_exec(conn->db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  std::lock_guard lock(pool_mu_);
  --in_use_;
  if (conn) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  pool_cv_.notify_one();
}

Result<SqlResult> SqliteDatabase::ExecOn(Connection& conn, const std::string& sql,
                                         const std::vector<SqlValue>& params, bool in_transaction) {
  statements_.fetch_add(1, std::memory_order_relaxed);
  auto failed = [&](Error e) -> Result<SqlResult> {
    errors_.fetch_add(1, std::memory_order_relaxed);
    return e;
  };

  sqlite3_stmt* stmt = nullptr;
  if (auto it = conn.statements.find(sql); it != conn.statements.end()) {
    stmt = it->second;
  } else {
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(conn.db, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK) return failed(SqliteError(options_.path, conn.db, rc, sql));
    if (stmt == nullptr) {
      return failed(
          Fail(ErrorCode::kInvalidArgument,
               "sqlite " + options_.path + ": empty statement (in: " + Abbreviated(sql) + ")"));
    }
    // PostgreSQL runs one statement with parameters; so do we, rather than run half a string.
    sqlite3_stmt* next = nullptr;
    const char* end = sql.c_str() + sql.size();
    if (tail != nullptr && tail < end) {
      rc = sqlite3_prepare_v2(conn.db, tail, static_cast<int>(end - tail), &next, nullptr);
      sqlite3_finalize(next);
      if (rc != SQLITE_OK || next != nullptr) {
        sqlite3_finalize(stmt);
        return failed(Fail(ErrorCode::kInvalidArgument,
                           "sqlite " + options_.path +
                               ": one statement per Exec, found more (in: " + Abbreviated(sql) +
                               ")"));
      }
    }
    // Every placeholder must be $N with 1 <= N <= params.size(), as on PostgreSQL.
    const int count = sqlite3_bind_parameter_count(stmt);
    for (int i = 1; i <= count; ++i) {
      const char* name = sqlite3_bind_parameter_name(stmt, i);
      std::string_view n = name != nullptr ? name : "?";
      bool ok = n.size() >= 2 && n[0] == '$' && n[1] != '0';
      for (size_t k = 1; ok && k < n.size(); ++k) ok = n[k] >= '0' && n[k] <= '9';
      if (!ok) {
        sqlite3_finalize(stmt);
        return failed(Fail(ErrorCode::kInvalidArgument,
                           "sqlite " + options_.path + ": placeholder " + std::string(n) +
                               " is not $1, $2 ... (in: " + Abbreviated(sql) + ")"));
      }
    }
    if (conn.statements.size() >= kMaxCachedStatements) {
      for (auto& [text, cached] : conn.statements) sqlite3_finalize(cached);
      conn.statements.clear();
    }
    conn.statements.emplace(sql, stmt);
  }
  // Leaves the cached statement ready for its next use, whatever happens below.
  struct Reset {
    sqlite3_stmt* stmt;
    ~Reset() {
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
    }
  } reset{stmt};

  const int count = sqlite3_bind_parameter_count(stmt);
  int highest = 0;
  for (int i = 1; i <= count; ++i) {
    highest = std::max(highest, std::atoi(sqlite3_bind_parameter_name(stmt, i) + 1));
  }
  if (static_cast<size_t>(highest) > params.size()) {
    return failed(Fail(ErrorCode::kInvalidArgument,
                       "sqlite " + options_.path + ": the statement uses $" +
                           std::to_string(highest) + " but " + std::to_string(params.size()) +
                           " parameters were given (in: " + Abbreviated(sql) + ")"));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string name = "$" + std::to_string(i + 1);
    const int index = sqlite3_bind_parameter_index(stmt, name.c_str());
    if (index == 0) continue;  // a parameter this statement does not use
    const SqlValue& v = params[i];
    int rc = SQLITE_OK;
    if (const auto* n = std::get_if<int64_t>(&v)) {
      rc = sqlite3_bind_int64(stmt, index, *n);
    } else if (const auto* d = std::get_if<double>(&v)) {
      rc = sqlite3_bind_double(stmt, index, *d);
    } else if (const auto* s = std::get_if<std::string>(&v)) {
      // No copy (SQLITE_STATIC): `params` outlives the step, and Reset clears the bindings.
      rc = sqlite3_bind_text64(stmt, index, s->data(), s->size(), nullptr, SQLITE_UTF8);
    } else {
      rc = sqlite3_bind_null(stmt, index);
    }
    if (rc != SQLITE_OK) return failed(SqliteError(options_.path, conn.db, rc, sql));
  }

  // Writes outside a transaction take the writer lock, so they queue behind a transaction of
  // this process instead of polling SQLite's busy handler.
  WriterGuard writer(writer_);
  const bool readonly = sqlite3_stmt_readonly(stmt) != 0;
  if (!in_transaction && !readonly && !writer.TryLockFor(options_.busy_timeout)) {
    return failed(Timeout("another transaction held the database"));
  }

  SqlResult result;
  const int columns = sqlite3_column_count(stmt);
  for (;;) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return failed(SqliteError(options_.path, conn.db, rc, sql));
    std::vector<SqlValue> row;
    row.reserve(columns);
    for (int c = 0; c < columns; ++c) {
      switch (sqlite3_column_type(stmt, c)) {
        case SQLITE_INTEGER:
          row.emplace_back(int64_t{sqlite3_column_int64(stmt, c)});
          break;
        case SQLITE_FLOAT:
          row.emplace_back(sqlite3_column_double(stmt, c));
          break;
        case SQLITE_NULL:
          row.emplace_back(std::monostate{});
          break;
        default: {
          const auto* text = static_cast<const char*>(sqlite3_column_blob(stmt, c));
          const int bytes = sqlite3_column_bytes(stmt, c);
          row.emplace_back(text != nullptr ? std::string(text, bytes) : std::string());
        }
      }
    }
    result.rows.emplace_back(std::move(row));
  }
  result.changed = readonly ? 0 : sqlite3_changes64(conn.db);
  return result;
}

Result<SqlResult> SqliteDatabase::Exec(const std::string& sql,
                                       const std::vector<SqlValue>& params) {
  auto lease = Acquire();
  if (!lease) return lease.error();
  return ExecOn(***lease, sql, params, /*in_transaction=*/false);
}

Result<void> SqliteDatabase::Transaction(const std::function<Result<void>(SqlSession&)>& work) {
  // The connection first, then the writer lock, as Exec does: the writer never waits for a
  // connection held by someone who waits for the writer.
  auto lease = Acquire();
  if (!lease) return lease.error();
  Connection& conn = ***lease;
  WriterGuard writer(writer_);
  if (!writer.TryLockFor(options_.busy_timeout)) {
    return Timeout("another transaction held the database");
  }
  // IMMEDIATE takes the write lock now, so a read-then-write transaction never fails halfway on
  // a lock another process took in between (and waits for it up to the busy timeout).
  auto begun = ExecOn(conn, "BEGIN IMMEDIATE", {}, true);
  if (!begun) return begun.error();
  auto rollback = [&] {
    // A failed ROLLBACK leaves the connection in a transaction; Release tries once more.
    if (sqlite3_get_autocommit(conn.db) == 0) (void)ExecOn(conn, "ROLLBACK", {}, true);
  };
  SqliteSession session(*this, conn);
  Result<void> outcome;
  try {
    outcome = work(session);
  } catch (...) {
    rollback();
    throw;
  }
  if (!outcome) {
    rollback();
    return outcome;
  }
  auto committed = ExecOn(conn, "COMMIT", {}, true);
  if (!committed) {
    rollback();
    return committed.error().Wrap("commit");
  }
  return {};
}

SqlStats SqliteDatabase::Stats() const {
  SqlStats stats;
  stats.statements = statements_.load(std::memory_order_relaxed);
  stats.errors = errors_.load(std::memory_order_relaxed);
  std::lock_guard lock(pool_mu_);
  stats.pool_size = static_cast<int64_t>(open_);
  stats.pool_in_use = static_cast<int64_t>(in_use_);
  stats.pool_waits = waits_;
  return stats;
}

}  // namespace

Result<std::shared_ptr<SqlDatabase>> OpenSqlite(const SqliteOptions& options) {
  if (options.path.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "sqlite path is empty: name the database file");
  }
  if (options.path == ":memory:" || options.path.rfind("file:", 0) == 0) {
    // Each pooled connection would see its own private database.
    return Fail(ErrorCode::kInvalidArgument,
                "sqlite path '" + options.path + "': name a file on disk");
  }
  if (options.busy_timeout.count() < 0 || options.busy_timeout.count() > 3600 * 1000) {
    return Fail(ErrorCode::kInvalidArgument, "sqlite busy_timeout must be 0..3600000 ms, not " +
                                                 std::to_string(options.busy_timeout.count()));
  }
  namespace fs = std::filesystem;
  const fs::path folder = fs::path(options.path).parent_path();
  if (!folder.empty()) {
    std::error_code ec;
    // A folder made here is private: the catalogue is nobody else's to read.
    if (fs::create_directories(folder, ec) && !ec) {
      fs::permissions(folder, fs::perms::owner_all, fs::perm_options::replace, ec);
    }
    if (ec) {
      return Fail(ErrorCode::kIo, "sqlite " + options.path + ": create folder " + folder.string() +
                                      ": " + ec.message());
    }
  }
  std::error_code ec;
  if (fs::is_directory(options.path, ec)) {
    return Fail(ErrorCode::kIo,
                "sqlite " + options.path + ": is a folder; name the database file inside it");
  }
  // A new database file is made 0600 before SQLite opens it (SQLite would make it 0644); its WAL
  // and shared-memory files take the database file's mode.
  if (const int fd = ::open(options.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      fd >= 0) {
    ::close(fd);
  }
  auto db = std::make_shared<SqliteDatabase>(options);
  // Opens the first connection now, so a bad path or file fails at open, not at first use.
  auto ping = db->Ping();
  if (!ping) return ping.error();
  return std::shared_ptr<SqlDatabase>(std::move(db));
}

}  // namespace sg
