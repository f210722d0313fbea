// The PostgreSQL engine of plugin_api/sql.h: a pool of libpq connections, made lazily and made
// again after a loss, so the daemon starts while PostgreSQL is down and recovers when it is back.
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>

#include "common/paths.h"
#include "daemon/plugin_api/sql.h"
#include "daemon/sql/migrate.h"
#include "daemon/sql/pq_library.h"

namespace sg {
namespace {

// Type OIDs from PostgreSQL's catalog (pg_type.dat); stable across releases.
constexpr Oid kBoolOid = 16;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kFloat4Oid = 700;
constexpr Oid kFloat8Oid = 701;
constexpr Oid kNumericOid = 1700;

// How long a transaction that keeps losing to concurrent ones is run again before the caller
// gets kTimeout: the counterpart of SQLite's busy timeout, generous because each loss means
// another transaction made progress.
constexpr std::chrono::seconds kConflictWindow{30};

// SQLSTATEs for "run it again": the server rolled the whole transaction back, nothing of it stays.
bool IsConflict(const std::string& state) { return state == "40001" || state == "40P01"; }

// A randomized pause between runs, so that the transactions that collided do not collide again.
void BackOff(int attempt) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  const int cap_ms = 1 << std::min(attempt, 6);  // 1, 2, 4 ... 64 ms
  std::this_thread::sleep_for(std::chrono::microseconds(rng() % (cap_ms * 1000 + 1)));
}

// libpq's messages end with a newline (sometimes several lines); ours are one line.
std::string Trim(const char* message) {
  std::string s;
  for (const char* p = message; p != nullptr && *p != '\0'; ++p) {
    const char c = (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;
    if (c != ' ' || (!s.empty() && s.back() != ' ')) s += c;
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s.empty() ? "no message from libpq" : s;
}

// A value as PostgreSQL's text input reads it. Doubles use the shortest form that reads back
// exactly; PostgreSQL spells the specials its own way.
std::string DoubleText(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(d);
}

SqlValue ColumnValue(const PGresult* res, int row, int col) {
  if (Pq().getisnull(res, row, col) != 0) return std::monostate{};
  const char* text = Pq().getvalue(res, row, col);
  const int len = Pq().getlength(res, row, col);
  switch (Pq().ftype(res, col)) {
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid: {
      int64_t n = 0;
      auto [end, ec] = std::from_chars(text, text + len, n);
      if (ec == std::errc() && end == text + len) return n;
      break;
    }
    case kFloat4Oid:
    case kFloat8Oid:
    case kNumericOid: {
      // strtod reads PostgreSQL's NaN and Infinity too; a numeric too large stays text.
      char* end = nullptr;
      const double d = std::strtod(text, &end);
      if (end == text + len) return d;
      break;
    }
    case kBoolOid:
      // SQLite has no booleans: a comparison reads as 1 or 0 there, so it does here.
      return static_cast<int64_t>(text[0] == 't' ? 1 : 0);
    default:
      break;
  }
  return std::string(text, static_cast<size_t>(len));
}

// What a failed statement means to the caller, by SQLSTATE class (PostgreSQL's appendix A).
ErrorCode CodeForSqlState(const std::string& state) {
  const std::string cls = state.substr(0, 2);
  if (state == "57014" || state == "55P03" || cls == "40") return ErrorCode::kTimeout;
  if (cls == "08" || cls == "53" || state == "57P01" || state == "57P02" || state == "57P03") {
    return ErrorCode::kUnavailable;
  }
  if (cls == "23" || cls == "25" || cls == "55") return ErrorCode::kFailedPrecondition;
  if (cls == "28") return ErrorCode::kPermissionDenied;
  if (cls == "3D") return ErrorCode::kNotFound;
  if (cls == "42" || cls == "22" || cls == "0A" || cls == "21" || cls == "2F" || cls == "P0") {
    return ErrorCode::kInvalidArgument;
  }
  return ErrorCode::kInternal;
}

class PostgresDatabase;

// One pooled connection, lent to one caller at a time.
class PostgresSession : public SqlSession {
 public:
  PostgresSession(PostgresDatabase& db, PGconn* conn) : db_(db), conn_(conn) {}
  Result<SqlResult> Exec(const std::string& sql, const std::vector<SqlValue>& params) override;
  using SqlSession::Exec;
  // Whether a statement failed because of a concurrent transaction: the whole work may run again.
  bool conflict() const { return conflict_; }

 private:
  PostgresDatabase& db_;
  PGconn* conn_;
  bool conflict_ = false;
};

class PostgresDatabase : public sql::EngineBase {
 public:
  explicit PostgresDatabase(PostgresOptions options)
      : options_(std::move(options)),
        where_(options_.host + ":" + std::to_string(options_.port)),
        connect_timeout_s_(
            std::to_string(std::max<int64_t>(2, (options_.connect_timeout.count() + 999) / 1000))),
        port_text_(std::to_string(options_.port)) {}

  ~PostgresDatabase() override {
    std::lock_guard lock(mu_);
    // Every lease is back by now: a caller holds the database while it uses a connection.
    for (PGconn* conn : idle_) Pq().finish(conn);
  }

  PostgresDatabase(const PostgresDatabase&) = delete;
  PostgresDatabase& operator=(const PostgresDatabase&) = delete;

  std::string Engine() const override { return "postgres"; }

  Result<void> Transaction(const std::function<Result<void>(SqlSession&)>& work) override;
  Result<SqlResult> Exec(const std::string& sql, const std::vector<SqlValue>& params) override;
  using SqlDatabase::Exec;
  SqlStats Stats() const override;

  // Runs one statement on `conn`; a connection found broken is dropped when its lease ends.
  // `conflict` (when given) is set when the server refused it for a concurrent transaction.
  Result<SqlResult> Run(PGconn* conn, const std::string& sql, const std::vector<SqlValue>& params,
                        bool* conflict = nullptr);

 private:
  // A borrowed connection, given back (or closed, when broken or left inside a transaction)
  // when it goes out of scope, even if the caller's work throws.
  class Lease {
   public:
    Lease(PostgresDatabase& db, PGconn* conn) : db_(db), conn_(conn) {}
    ~Lease() { db_.Release(conn_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    PGconn* conn() const { return conn_; }

   private:
    PostgresDatabase& db_;
    PGconn* conn_;
  };

  Result<PGconn*> Borrow();
  Result<PGconn*> Connect();
  void Release(PGconn* conn);
  static bool StillAlive(PGconn* conn);
  Error ConnectError(PGconn* conn) const;
  Error StatementError(PGconn* conn, const PGresult* res) const;
  Result<SqlResult> Finish(PGconn* conn, PGresult* res, bool* conflict);
  Result<SqlResult> ExecOnce(const std::string& sql, const std::vector<SqlValue>& params,
                             bool& conflict);
  Result<void> TransactionOnce(const std::function<Result<void>(SqlSession&)>& work,
                               bool& conflict);

  const PostgresOptions options_;
  const std::string where_;  // host:port, for messages
  const std::string connect_timeout_s_;
  const std::string port_text_;

  mutable std::mutex mu_;
  std::condition_variable freed_;
  std::vector<PGconn*> idle_;  // guarded by mu_
  int64_t open_ = 0;           // connections open or being opened, idle or lent; guarded by mu_
  int64_t in_use_ = 0;         // guarded by mu_
  uint64_t lost_ = 0;          // connections dropped as broken, not yet made again; guarded by mu_

  std::atomic<uint64_t> statements_{0};
  std::atomic<uint64_t> errors_{0};
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<uint64_t> pool_waits_{0};
};

Result<SqlResult> PostgresSession::Exec(const std::string& sql,
                                        const std::vector<SqlValue>& params) {
  bool conflict = false;
  auto r = db_.Run(conn_, sql, params, &conflict);
  conflict_ = conflict_ || conflict;
  return r;
}

Error PostgresDatabase::ConnectError(PGconn* conn) const {
  const std::string detail = Trim(conn == nullptr ? "out of memory" : Pq().errorMessage(conn));
  const std::string target =
      "postgres " + where_ + " database '" + options_.database + "' user '" + options_.user + "'";
  // libpq gives no SQLSTATE for a refused connection: its message says which it was.
  if (detail.find("password authentication failed") != std::string::npos ||
      detail.find("no password supplied") != std::string::npos ||
      detail.find("no pg_hba.conf entry") != std::string::npos) {
    return Fail(ErrorCode::kPermissionDenied,
                target + ": " + detail + "; check database.user and database.password");
  }
  if (detail.find("database \"") != std::string::npos &&
      detail.find("does not exist") != std::string::npos) {
    return Fail(ErrorCode::kNotFound,
                target + ": " + detail + "; create it (createdb) or check database.database");
  }
  if (detail.find("too many") != std::string::npos) {
    return Fail(
        ErrorCode::kUnavailable,
        target + ": " + detail + "; lower database.maxconns or raise the server's max_connections");
  }
  return Fail(ErrorCode::kUnavailable, target + ": " + detail + "; is PostgreSQL running at " +
                                           where_ + "? check database.host and database.port");
}

Result<PGconn*> PostgresDatabase::Connect() {
  // Keywords rather than a conninfo string: nothing in a value (a quote, a space in the password)
  // can be read as another setting.
  const char* keys[] = {"host",
                        "port",
                        "user",
                        "password",
                        "dbname",
                        "sslmode",
                        "connect_timeout",
                        "application_name",
                        "client_encoding",
                        "keepalives",
                        nullptr};
  const char* values[] = {options_.host.c_str(),
                          port_text_.c_str(),
                          options_.user.c_str(),
                          options_.password.c_str(),
                          options_.database.c_str(),
                          options_.sslmode.c_str(),
                          connect_timeout_s_.c_str(),
                          "streamgated",
                          "UTF8",
                          "1",
                          nullptr};
  PGconn* conn = Pq().connectdbParams(keys, values, 0);
  if (conn == nullptr || Pq().status(conn) != CONNECTION_OK) {
    Error error = ConnectError(conn);
    Pq().finish(conn);
    return error;
  }
  // libpq prints notices ("relation already exists, skipping") and a server's goodbye on
  // stderr by default; the daemon's log is not libpq's to write, and errors reach the caller.
  Pq().setNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return conn;
}

// An idle connection whose server went away (a restart, a crash, an administrator's
// pg_terminate_backend) has been sent a FATAL message or an end of file: its socket is readable
// though we asked nothing. Looking costs one poll and saves the next statement from failing.
bool PostgresDatabase::StillAlive(PGconn* conn) {
  if (Pq().status(conn) != CONNECTION_OK) return false;
  // The goodbye and the end of file can come in separate reads: read until nothing is left.
  for (int reads = 0; reads < 8; ++reads) {
    pollfd pfd{.fd = Pq().socket(conn), .events = POLLIN, .revents = 0};
    if (pfd.fd < 0) return false;
    if (poll(&pfd, 1, 0) == 0) return true;
    if (Pq().consumeInput(conn) == 0 || Pq().status(conn) != CONNECTION_OK) return false;
  }
  return false;  // a server that keeps talking to an idle session is not one to trust
}

Result<PGconn*> PostgresDatabase::Borrow() {
  const auto deadline = std::chrono::steady_clock::now() + options_.connect_timeout;
  std::unique_lock lock(mu_);
  bool waited = false;
  while (true) {
    while (!idle_.empty()) {
      PGconn* conn = idle_.back();
      idle_.pop_back();
      if (StillAlive(conn)) {
        ++in_use_;
        return conn;
      }
      Pq().finish(conn);
      --open_;
      ++lost_;
    }
    if (open_ < options_.max_connections) break;
    if (!waited) {
      waited = true;
      pool_waits_++;
    }
    if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.max_connections) {
      return Fail(ErrorCode::kTimeout,
                  "postgres " + where_ + ": all " + std::to_string(options_.max_connections) +
                      " connections of the pool stayed in use for " +
                      std::to_string(options_.connect_timeout.count()) +
                      " ms; raise database.maxconns or look for slow statements");
    }
  }
  // Reserve the slot, then connect without the lock: a connect can take connect_timeout.
  ++open_;
  ++in_use_;
  lock.unlock();
  auto conn = Connect();
  lock.lock();
  if (!conn) {
    --open_;
    --in_use_;
    freed_.notify_one();
    return conn.error();
  }
  if (lost_ > 0) {
    --lost_;
    reconnects_++;
  }
  return *conn;
}

void PostgresDatabase::Release(PGconn* conn) {
  // A connection left inside a transaction (work that threw) or broken is closed rather than
  // handed to the next caller in a state it did not ask for.
  const bool reusable =
      Pq().status(conn) == CONNECTION_OK && Pq().transactionStatus(conn) == PQTRANS_IDLE;
  std::lock_guard lock(mu_);
  --in_use_;
  if (reusable) {
    idle_.push_back(conn);
  } else {
    Pq().finish(conn);
    --open_;
    ++lost_;
  }
  freed_.notify_one();
}

Result<SqlResult> PostgresDatabase::Run(PGconn* conn, const std::string& sql,
                                        const std::vector<SqlValue>& params, bool* conflict) {
  statements_++;
  auto fail = [&](Error error) -> Result<SqlResult> {
    errors_++;
    return error;
  };
  if (params.size() > 65535) {
    return fail(Fail(ErrorCode::kInvalidArgument,
                     "postgres: " + std::to_string(params.size()) +
                         " parameters, more than the 65535 a statement can take"));
  }
  std::vector<std::string> texts(params.size());
  std::vector<const char*> values(params.size(), nullptr);
  for (size_t i = 0; i < params.size(); ++i) {
    const SqlValue& p = params[i];
    if (const auto* n = std::get_if<int64_t>(&p)) {
      texts[i] = std::to_string(*n);
    } else if (const auto* d = std::get_if<double>(&p)) {
      texts[i] = DoubleText(*d);
    } else if (const auto* s = std::get_if<std::string>(&p)) {
      // Text parameters are C strings: a NUL would silently cut the value short.
      if (s->find('\0') != std::string::npos) {
        return fail(Fail(ErrorCode::kInvalidArgument,
                         "postgres: parameter $" + std::to_string(i + 1) +
                             " holds a NUL byte, which PostgreSQL text cannot store"));
      }
      texts[i] = *s;
    } else {
      continue;  // NULL: the pointer stays null
    }
    values[i] = texts[i].c_str();
  }
  // No parameter types: the server infers each from where it is used, as SQLite would accept it.
  PGresult* res = Pq().execParams(conn, sql.c_str(), static_cast<int>(params.size()), nullptr,
                                  values.data(), nullptr, nullptr, 0);
  return Finish(conn, res, conflict);
}

Error PostgresDatabase::StatementError(PGconn* conn, const PGresult* res) const {
  if (Pq().resultStatus(res) == PGRES_EMPTY_QUERY) {
    return Fail(ErrorCode::kInvalidArgument, "postgres: empty statement");
  }
  const char* state_field = Pq().resultErrorField(res, PG_DIAG_SQLSTATE);
  const std::string state = state_field == nullptr ? "" : state_field;
  // No SQLSTATE, a broken connection, or the server shutting down: it went away under the
  // statement. (08P01 is the server refusing a statement's parameters: the caller's bug.)
  const bool gone = Pq().status(conn) != CONNECTION_OK || state.empty() ||
                    (state.substr(0, 2) == "08" && state != "08P01") || state == "57P01" ||
                    state == "57P02" || state == "57P03";
  if (gone) {
    const std::string detail =
        Trim(res != nullptr ? Pq().resultErrorMessage(res) : Pq().errorMessage(conn));
    return Fail(ErrorCode::kUnavailable, "postgres " + where_ + ": " + detail +
                                             "; is PostgreSQL running at " + where_ +
                                             "? check database.host and database.port");
  }
  const char* primary = Pq().resultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  const char* detail = Pq().resultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
  std::string message = primary != nullptr ? Trim(primary) : Trim(Pq().resultErrorMessage(res));
  if (detail != nullptr) message += ": " + Trim(detail);
  const ErrorCode code = state == "08P01" ? ErrorCode::kInvalidArgument : CodeForSqlState(state);
  return Fail(code, "postgres: " + message + " (SQLSTATE " + state + ")");
}

// Turns a statement's PGresult (owned, cleared here) into rows or an error.
Result<SqlResult> PostgresDatabase::Finish(PGconn* conn, PGresult* res, bool* conflict) {
  const ExecStatusType status = Pq().resultStatus(res);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    const char* state = Pq().resultErrorField(res, PG_DIAG_SQLSTATE);
    if (conflict != nullptr && state != nullptr && IsConflict(state)) *conflict = true;
    Error error = StatementError(conn, res);
    Pq().clear(res);
    errors_++;
    return error;
  }
  SqlResult out;
  const int rows = Pq().ntuples(res);
  const int cols = Pq().nfields(res);
  out.rows.reserve(static_cast<size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    std::vector<SqlValue> values_of_row;
    values_of_row.reserve(static_cast<size_t>(cols));
    for (int c = 0; c < cols; ++c) values_of_row.push_back(ColumnValue(res, r, c));
    out.rows.emplace_back(std::move(values_of_row));
  }
  // "SELECT 3" counts rows read, not changed; INSERT, UPDATE, DELETE (with RETURNING or not)
  // count the rows they changed.
  const char* command = Pq().cmdStatus(res);
  if (std::strncmp(command, "SELECT", 6) != 0) {
    const char* tuples = Pq().cmdTuples(res);
    int64_t changed = 0;
    std::from_chars(tuples, tuples + std::strlen(tuples), changed);
    out.changed = changed;
  }
  Pq().clear(res);
  return out;
}

Result<SqlResult> PostgresDatabase::ExecOnce(const std::string& sql,
                                             const std::vector<SqlValue>& params, bool& conflict) {
  auto conn = Borrow();
  if (!conn) {
    statements_++;
    errors_++;
    return conn.error();
  }
  Lease lease(*this, *conn);
  return Run(lease.conn(), sql, params, &conflict);
}

// A statement of its own is a transaction of its own: one the server aborted for a deadlock was
// rolled back whole, so running it again cannot apply it twice.
Result<SqlResult> PostgresDatabase::Exec(const std::string& sql,
                                         const std::vector<SqlValue>& params) {
  const auto deadline = std::chrono::steady_clock::now() + kConflictWindow;
  for (int attempt = 0;; ++attempt) {
    bool conflict = false;
    auto r = ExecOnce(sql, params, conflict);
    if (r || !conflict || std::chrono::steady_clock::now() >= deadline) return r;
    BackOff(attempt);
  }
}

Result<void> PostgresDatabase::Transaction(const std::function<Result<void>(SqlSession&)>& work) {
  const auto deadline = std::chrono::steady_clock::now() + kConflictWindow;
  for (int attempt = 0;; ++attempt) {
    bool conflict = false;
    auto r = TransactionOnce(work, conflict);
    if (r || !conflict) return r;
    if (std::chrono::steady_clock::now() >= deadline) {
      return Fail(ErrorCode::kTimeout,
                  r.error().message + " (still conflicting with concurrent transactions after " +
                      std::to_string(attempt + 1) + " runs)");
    }
    BackOff(attempt);
  }
}

// SERIALIZABLE, as SQLite's one writer at a time is: a read-then-write in `work` cannot lose
// an update to a concurrent one, in this process or another. The price is that the server may
// abort one of two conflicting transactions; Transaction then runs the work again.
Result<void> PostgresDatabase::TransactionOnce(const std::function<Result<void>(SqlSession&)>& work,
                                               bool& conflict) {
  auto conn = Borrow();
  if (!conn) return conn.error();
  Lease lease(*this, *conn);
  if (auto begin = Run(lease.conn(), "BEGIN ISOLATION LEVEL SERIALIZABLE", {}); !begin) {
    return begin.error();
  }
  PostgresSession session(*this, lease.conn());
  Result<void> result = work(session);
  conflict = session.conflict();
  if (!result) {
    // A failed ROLLBACK leaves the connection inside the transaction (or broken): the lease
    // then closes it rather than pooling it.
    (void)Run(lease.conn(), "ROLLBACK", {});
    return result;
  }
  // COMMIT of a transaction that an earlier statement aborted answers ROLLBACK without an
  // error: the work must not be reported as done.
  statements_++;
  PGresult* res = Pq().exec(lease.conn(), "COMMIT");
  if (Pq().resultStatus(res) == PGRES_COMMAND_OK &&
      std::strcmp(Pq().cmdStatus(res), "COMMIT") != 0) {
    Pq().clear(res);
    errors_++;
    return Fail(conflict ? ErrorCode::kTimeout : ErrorCode::kFailedPrecondition,
                "postgres: the transaction was rolled back at commit because a statement in it "
                "failed");
  }
  auto commit = Finish(lease.conn(), res, &conflict);
  if (!commit) return commit.error().Wrap("commit");
  return {};
}

SqlStats PostgresDatabase::Stats() const {
  SqlStats s;
  s.statements = statements_.load();
  s.errors = errors_.load();
  s.reconnects = reconnects_.load();
  s.pool_waits = pool_waits_.load();
  std::lock_guard lock(mu_);
  s.pool_size = open_;
  s.pool_in_use = in_use_;
  return s;
}

}  // namespace

PostgresOptions PostgresOptionsFrom(const config::Config& config) {
  PostgresOptions pg;
  pg.host = config.String("database.host");
  pg.port = static_cast<int>(config.Int("database.port"));
  pg.user = config.String("database.user");
  pg.password = config.String("database.password");
  pg.database = config.String("database.database");
  pg.sslmode = config.String("database.sslmode");
  pg.max_connections = static_cast<int>(config.Int("database.maxconns"));
  return pg;
}

Result<StateDatabase> OpenStateDatabase(const config::Config& config) {
  StateDatabase out;
  if (config.String("metadata.engine") == "postgres") {
    PostgresOptions pg = PostgresOptionsFrom(config);
    pg.connect_timeout = std::chrono::milliseconds(3000);
    out.where = fmt::format("PostgreSQL at {}:{}/{}", pg.host, pg.port, pg.database);
    out.postgres = true;
    auto opened = OpenPostgres(pg);
    if (!opened) return opened.error().Wrap(out.where);
    out.db = std::move(opened).value();
    return out;
  }
  SqliteOptions lite;
  lite.path = SqliteFile(config.String("metadata.sqlite_path"));
  out.where = "SQLite file " + lite.path;
  auto opened = OpenSqlite(lite);
  if (!opened) return opened.error();
  out.db = std::move(opened).value();
  return out;
}

Result<std::shared_ptr<SqlDatabase>> OpenPostgres(const PostgresOptions& options) {
  // Errors a connection would only report later are caught here, naming the key to fix.
  if (options.host.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "postgres: database.host is empty");
  }
  if (options.port < 1 || options.port > 65535) {
    return Fail(
        ErrorCode::kInvalidArgument,
        "postgres: database.port " + std::to_string(options.port) + " is not a port (1 to 65535)");
  }
  if (options.user.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "postgres: database.user is empty");
  }
  if (options.database.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "postgres: database.database is empty");
  }
  if (options.max_connections < 1) {
    return Fail(ErrorCode::kInvalidArgument, "postgres: database.maxconns " +
                                                 std::to_string(options.max_connections) +
                                                 " must be at least 1");
  }
  if (options.connect_timeout.count() < 1) {
    return Fail(ErrorCode::kInvalidArgument, "postgres: the connect timeout must be positive");
  }
  for (const std::string* value :
       {&options.host, &options.user, &options.password, &options.database, &options.sslmode}) {
    if (value->find('\0') != std::string::npos) {
      return Fail(ErrorCode::kInvalidArgument, "postgres: a database.* setting holds a NUL byte");
    }
  }
  static const char* const kSslModes[] = {"disable", "allow",     "prefer",
                                          "require", "verify-ca", "verify-full"};
  bool known = false;
  for (const char* mode : kSslModes) known = known || options.sslmode == mode;
  if (!known) {
    return Fail(ErrorCode::kInvalidArgument,
                "postgres: database.sslmode '" + options.sslmode +
                    "' is not one of disable, allow, prefer, require, verify-ca, verify-full");
  }
  if (auto pq = LoadPq(); !pq) return pq.error().Wrap("postgres");
  return std::shared_ptr<SqlDatabase>(std::make_shared<PostgresDatabase>(options));
}

}  // namespace sg
