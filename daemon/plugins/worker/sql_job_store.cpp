#include "daemon/plugins/worker/sql_job_store.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <utility>

#include "common/ulid.h"

namespace sg::plugins {
namespace {

constexpr size_t kMaxPayload = size_t{1} << 20;
constexpr int kMaxAttemptsLimit = 1000;
constexpr int64_t kMaxDelayMs = int64_t{366} * 24 * 3600 * 1000;  // a year
constexpr size_t kMaxKey = 256;
constexpr int64_t kMaxLeaseMs = int64_t{24} * 3600 * 1000;
constexpr size_t kMaxError = 4096;

// Every column of a Job, in the order RowToJob reads them. payload_encoding is "" for a payload
// stored as it is, "hex" for one that is not valid UTF-8 or holds a NUL (PostgreSQL's TEXT takes
// neither); cancel_requested is 1 once a running job was cancelled.
constexpr const char* kColumns =
    "id, kind, payload, payload_encoding, priority, idempotency_key, state, attempts, "
    "max_attempts, last_error, progress, created_at, updated_at, run_at, lease_owner, lease_until";

bool IsText(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    size_t extra = 0;
    uint32_t min = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      extra = 1;
      min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      min = 0x10000;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    uint32_t cp = c & (0x3f >> extra);
    for (size_t k = 1; k <= extra; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

std::string Hex(const std::string& s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

Result<std::string> Unhex(const std::string& s) {
  if (s.size() % 2 != 0) return sg::Fail(ErrorCode::kInternal, "hex payload of odd length");
  std::string out;
  out.reserve(s.size() / 2);
  for (size_t i = 0; i < s.size(); i += 2) {
    int hi = HexDigit(s[i]);
    int lo = HexDigit(s[i + 1]);
    if (hi < 0 || lo < 0) return sg::Fail(ErrorCode::kInternal, "hex payload with a bad digit");
    out.push_back(static_cast<char>((hi << 4) | lo));
  }
  return out;
}

// Quoted, and cut short, for an id or key from the caller in an error message.
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s.substr(0, 80)) {
    out.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
  }
  if (s.size() > 80) out += "...";
  return out + "'";
}

// Whether `id` could name a job: ids are short printable ASCII. Anything else is not looked up,
// so that bytes PostgreSQL refuses in TEXT never reach it.
bool PlausibleId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

Result<void> CheckLease(std::chrono::milliseconds lease) {
  if (lease.count() < 1 || lease.count() > kMaxLeaseMs) {
    return sg::Fail(ErrorCode::kInvalidArgument,
                    "lease must be 1 ms to 24 h, not " + std::to_string(lease.count()) + " ms");
  }
  return {};
}

std::string StateText(JobState state) { return std::string(JobStateName(state)); }

Result<Job> RowToJob(const SqlRow& row) {
  Job job;
  job.id = row.Text(0);
  job.kind = row.Text(1);
  if (row.Text(3) == "hex") {
    auto payload = Unhex(row.Text(2));
    if (!payload) return payload.error().Wrap("job " + job.id);
    job.payload = std::move(*payload);
  } else {
    job.payload = row.Text(2);
  }
  job.priority = static_cast<int>(row.Int(4));
  job.idempotency_key = row.Text(5);
  auto state = ParseJobState(row.Text(6));
  if (!state) {
    return sg::Fail(ErrorCode::kInternal, "job " + job.id + ": unknown state " +
                                              Quote(row.Text(6)) +
                                              " in the database (written by a newer streamgated?)");
  }
  job.state = *state;
  job.attempts = static_cast<int>(row.Int(7));
  job.max_attempts = static_cast<int>(row.Int(8));
  job.last_error = row.Text(9);
  job.progress = row.Double(10);
  job.created_at = row.Int(11);
  job.updated_at = row.Int(12);
  job.run_at = row.Int(13);
  job.lease_owner = row.Text(14);
  job.lease_until = row.Int(15);
  return job;
}

class SqlJobStore : public JobStore {
 public:
  explicit SqlJobStore(std::shared_ptr<SqlDatabase> db)
      : db_(std::move(db)),
        skip_locked_(db_->Engine() == "postgres" ? " FOR UPDATE SKIP LOCKED" : "") {}

  Result<Job> Enqueue(const JobSpec& spec, int max_attempts, int64_t now) override {
    if (auto valid = ValidateJobSpec(spec); !valid) return valid.error();
    if (spec.max_attempts == 0 && (max_attempts < 1 || max_attempts > kMaxAttemptsLimit)) {
      return sg::Fail(ErrorCode::kInvalidArgument, "worker.max_attempts must be 1.." +
                                                       std::to_string(kMaxAttemptsLimit) +
                                                       ", not " + std::to_string(max_attempts));
    }
    const int attempts_limit = spec.max_attempts > 0 ? spec.max_attempts : max_attempts;
    const bool text = IsText(spec.payload);
    SqlValue key;  // NULL for no key: a UNIQUE constraint allows any number of NULLs
    if (!spec.idempotency_key.empty()) key = spec.idempotency_key;
    const std::string id = NewJobId(now);
    const int64_t run_at = now + spec.delay.count();
    std::optional<Job> job;
    auto done = db_->Transaction([&](SqlSession& session) -> Result<void> {
      // The insert comes first: on SQLite a transaction that writes before it reads never has to
      // upgrade its lock, and on PostgreSQL ON CONFLICT waits for a racing insert of the key.
      auto inserted = session.Exec(
          std::string("INSERT INTO jobs (") + kColumns +
              ", cancel_requested) VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, '', 0, $8, $8, "
              "$9, '', 0, 0) ON CONFLICT (kind, idempotency_key) DO NOTHING RETURNING " +
              kColumns,
          {id, spec.kind, text ? spec.payload : Hex(spec.payload), std::string(text ? "" : "hex"),
           int64_t{spec.priority}, key, int64_t{attempts_limit}, now, run_at});
      if (!inserted) return inserted.error();
      const SqlRow* row = inserted->rows.empty() ? nullptr : &inserted->rows.front();
      Result<SqlResult> existing = SqlResult{};
      if (row == nullptr) {
        existing = session.Exec(std::string("SELECT ") + kColumns +
                                    " FROM jobs WHERE kind = $1 AND idempotency_key = $2",
                                {spec.kind, key});
        if (!existing) return existing.error();
        if (existing->rows.empty()) {
          return sg::Fail(ErrorCode::kInternal, "the job with idempotency key " +
                                                    Quote(spec.idempotency_key) +
                                                    " conflicted but cannot be read");
        }
        row = &existing->rows.front();
      }
      auto parsed = RowToJob(*row);
      if (!parsed) return parsed.error();
      job = std::move(*parsed);
      return {};
    });
    if (!done) return done.error().Wrap("enqueue a job of kind '" + spec.kind + "'");
    return std::move(*job);
  }

  Result<Job> Get(const std::string& id) override {
    if (!PlausibleId(id)) return NotFound(id);
    auto result = db_->Exec(std::string("SELECT ") + kColumns + " FROM jobs WHERE id = $1", {id});
    if (!result) return result.error().Wrap("get job " + Quote(id));
    if (result->rows.empty()) return NotFound(id);
    return RowToJob(result->rows.front());
  }

  Result<std::vector<Job>> List(const JobFilter& filter) override {
    if (filter.limit < 1 || filter.limit > 1000) {
      return sg::Fail(ErrorCode::kInvalidArgument,
                      "limit must be 1..1000, not " + std::to_string(filter.limit));
    }
    std::string sql = std::string("SELECT ") + kColumns + " FROM jobs";
    std::vector<SqlValue> params;
    std::string where;
    if (filter.state) {
      params.emplace_back(StateText(*filter.state));
      where += "state = $" + std::to_string(params.size());
    }
    if (filter.kind) {
      if (auto valid = ValidateJobKind(*filter.kind); !valid) {
        return valid.error().Wrap("list jobs");
      }
      params.emplace_back(*filter.kind);
      where +=
          std::string(where.empty() ? "" : " AND ") + "kind = $" + std::to_string(params.size());
    }
    if (!where.empty()) sql += " WHERE " + where;
    params.emplace_back(int64_t{filter.limit});
    sql += " ORDER BY created_at DESC, id DESC LIMIT $" + std::to_string(params.size());
    auto result = db_->Exec(sql, params);
    if (!result) return result.error().Wrap("list jobs");
    std::vector<Job> jobs;
    jobs.reserve(result->rows.size());
    for (const auto& row : result->rows) {
      auto job = RowToJob(row);
      if (!job) return job.error();
      jobs.push_back(std::move(*job));
    }
    return jobs;
  }

  Result<Job> Retry(const std::string& id, int64_t now) override {
    if (!PlausibleId(id)) return NotFound(id).Wrap("retry");
    auto updated = UpdateOne(
        "UPDATE jobs SET state = 'queued', attempts = 0, progress = 0, run_at = $2, "
        "updated_at = $2, lease_owner = '', lease_until = 0, cancel_requested = 0 "
        "WHERE id = $1 AND state IN ('dead', 'cancelled')",
        {id, now});
    if (!updated) return updated.error().Wrap("retry job " + Quote(id));
    if (*updated) return std::move(**updated);
    return Refuse(id, "retry", "only a dead or cancelled job can be retried");
  }

  Result<Job> Cancel(const std::string& id, int64_t now) override {
    if (!PlausibleId(id)) return NotFound(id).Wrap("cancel");
    // Queued, or running under a lease that has expired (its holder is gone): cancelled at once.
    auto updated = UpdateOne(
        "UPDATE jobs SET state = 'cancelled', updated_at = $2, lease_owner = '', lease_until = 0, "
        "cancel_requested = 0 WHERE id = $1 AND (state = 'queued' OR "
        "(state = 'running' AND lease_until <= $2))",
        {id, now});
    if (!updated) return updated.error().Wrap("cancel job " + Quote(id));
    if (*updated) return std::move(**updated);
    // Running: the holder learns it at its next Renew.
    updated = UpdateOne(
        "UPDATE jobs SET cancel_requested = 1, updated_at = $2 WHERE id = $1 AND state = 'running'",
        {id, now});
    if (!updated) return updated.error().Wrap("cancel job " + Quote(id));
    if (*updated) return std::move(**updated);
    return Refuse(id, "cancel", "only a queued or running job can be cancelled");
  }

  Result<std::vector<JobCounts>> Counts() override {
    auto result = db_->Exec(
        "SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state ORDER BY kind, state");
    if (!result) return result.error().Wrap("count jobs");
    std::vector<JobCounts> counts;
    for (const auto& row : result->rows) {
      auto state = ParseJobState(row.Text(1));
      if (!state) continue;  // a state a newer version wrote; RowToJob reports it for one job
      counts.push_back({row.Text(0), *state, row.Int(2)});
    }
    return counts;
  }

  Result<std::optional<Job>> Lease(const std::string& kind, const std::string& owner,
                                   std::chrono::milliseconds lease, int64_t now) override {
    if (owner.empty()) return sg::Fail(ErrorCode::kInvalidArgument, "lease: the owner is empty");
    if (auto bad = CheckLease(lease); !bad) return bad.error().Wrap("lease");
    if (auto valid = ValidateJobKind(kind); !valid) return valid.error().Wrap("lease");
    // An idle poll only reads: on SQLite the write lock (which the catalogue shares) is taken
    // only when there is something to take.
    auto any = Candidate(db_.get(), kind, now, "");
    if (!any) return any.error().Wrap("lease a job of kind " + Quote(kind));
    if (!*any) return std::optional<Job>();
    std::optional<Job> job;
    auto done = db_->Transaction([&](SqlSession& session) -> Result<void> {
      // PostgreSQL runs this again when the commit conflicts: a job taken by a run that rolled
      // back must not be returned by a later run that takes none (two owners would run it).
      job.reset();
      // A running job that was cancelled and whose holder then went away ends cancelled rather
      // than running again.
      auto swept = session.Exec(
          "UPDATE jobs SET state = 'cancelled', updated_at = $2, lease_owner = '', "
          "lease_until = 0, cancel_requested = 0 WHERE kind = $1 AND state = 'running' AND "
          "cancel_requested = 1 AND lease_until <= $2",
          {kind, now});
      if (!swept) return swept.error();
      // The candidate is locked (PostgreSQL: FOR UPDATE, and SKIP LOCKED lets a second leaser
      // pass over a row the first is taking rather than come back empty) or the write lock is
      // held (SQLite); the state test is made again as it is taken, so that two leasers
      // (threads, or processes on one database) cannot take the same one.
      auto candidate = Candidate(&session, kind, now, skip_locked_);
      if (!candidate) return candidate.error();
      if (!*candidate) return {};
      auto taken = session.Exec(
          "UPDATE jobs SET state = 'running', lease_owner = $2, lease_until = $3, "
          "attempts = attempts + 1, progress = 0, cancel_requested = 0, updated_at = $4 "
          "WHERE id = $5 AND kind = $1 AND ((state = 'queued' AND run_at <= $4) OR "
          "(state = 'running' AND lease_until <= $4)) RETURNING " +
              std::string(kColumns),
          {kind, owner, now + lease.count(), now, **candidate});
      if (!taken) return taken.error();
      if (taken->rows.empty()) return {};
      auto parsed = RowToJob(taken->rows.front());
      if (!parsed) return parsed.error();
      job = std::move(*parsed);
      return {};
    });
    if (!done) return done.error().Wrap("lease a job of kind " + Quote(kind));
    return job;
  }

  Result<void> Renew(const std::string& id, const std::string& owner,
                     std::chrono::milliseconds lease, double progress, int64_t now) override {
    if (auto bad = CheckLease(lease); !bad) return bad.error().Wrap("renew");
    if (!(progress >= 0)) progress = 0;  // NaN too
    if (progress > 1) progress = 1;
    auto updated = UpdateOne(
        "UPDATE jobs SET lease_until = $3, progress = $4, updated_at = $5 WHERE id = $1 AND "
        "state = 'running' AND lease_owner = $2 AND cancel_requested = 0",
        {id, owner, now + lease.count(), progress, now});
    return Held(updated, id, owner, "renew the lease of");
  }

  Result<void> Succeed(const std::string& id, const std::string& owner, int64_t now) override {
    auto updated = UpdateOne(
        "UPDATE jobs SET state = 'succeeded', progress = 1, updated_at = $3, lease_owner = '', "
        "lease_until = 0 WHERE id = $1 AND state = 'running' AND lease_owner = $2 AND "
        "cancel_requested = 0",
        {id, owner, now});
    return Held(updated, id, owner, "complete");
  }

  Result<void> Fail(const std::string& id, const std::string& owner, const AttemptFailure& failure,
                    int64_t now) override {
    std::string error = failure.error.substr(0, kMaxError);
    if (!IsText(error)) error = "(an error message that is not UTF-8 text)";
    Result<std::optional<Job>> updated = std::optional<Job>();
    if (failure.retry_at) {
      updated = UpdateOne(
          "UPDATE jobs SET state = 'queued', run_at = $4, last_error = $3, updated_at = $5, "
          "lease_owner = '', lease_until = 0 WHERE id = $1 AND state = 'running' AND "
          "lease_owner = $2 AND cancel_requested = 0",
          {id, owner, error, *failure.retry_at, now});
    } else {
      updated = UpdateOne(
          "UPDATE jobs SET state = 'dead', last_error = $3, updated_at = $4, lease_owner = '', "
          "lease_until = 0 WHERE id = $1 AND state = 'running' AND lease_owner = $2 AND "
          "cancel_requested = 0",
          {id, owner, error, now});
    }
    return Held(updated, id, owner, "fail");
  }

  Result<void> AcknowledgeCancel(const std::string& id, const std::string& owner,
                                 int64_t now) override {
    auto updated = UpdateOne(
        "UPDATE jobs SET state = 'cancelled', updated_at = $3, lease_owner = '', lease_until = 0, "
        "cancel_requested = 0 WHERE id = $1 AND state = 'running' AND lease_owner = $2",
        {id, owner, now});
    if (updated && !*updated) {
      // Already cancelled (its lease expired and Cancel ended it): what the holder wanted.
      auto job = Get(id);
      if (job && job->state == JobState::kCancelled) return {};
    }
    return Held(updated, id, owner, "acknowledge the cancel of");
  }

 private:
  // The id of the runnable job of `kind` that should run first: the best queued one that is due
  // and the best running one whose lease expired, each found by one walk of the jobs_lease index
  // (a single query with both in an OR would read every job of the kind, finished ones too).
  // `lock`: "" or " FOR UPDATE SKIP LOCKED".
  template <typename Session>
  static Result<std::optional<std::string>> Candidate(Session* session, const std::string& kind,
                                                      int64_t now, const std::string& lock) {
    const std::string columns =
        "SELECT id, priority, run_at, created_at FROM jobs WHERE kind = $1 ";
    const std::string order = " ORDER BY priority DESC, run_at, created_at, id LIMIT 1" + lock;
    std::optional<std::tuple<int64_t, int64_t, int64_t, std::string>> best;
    for (const char* which :
         {"AND state = 'queued' AND run_at <= $2", "AND state = 'running' AND lease_until <= $2"}) {
      std::string sql = columns;
      sql += which;
      sql += order;
      auto found = session->Exec(sql, {kind, now});
      if (!found) return found.error();
      if (found->rows.empty()) continue;
      const auto& row = found->rows.front();
      // Priority descending, then run_at, created_at and id ascending.
      std::tuple<int64_t, int64_t, int64_t, std::string> key{-row.Int(1), row.Int(2), row.Int(3),
                                                             row.Text(0)};
      if (!best || key < *best) best = std::move(key);
    }
    if (!best) return std::optional<std::string>();
    return std::optional<std::string>(std::get<3>(*best));
  }

  // Runs an UPDATE ... RETURNING on at most one row; nullopt when it matched none.
  Result<std::optional<Job>> UpdateOne(const std::string& sql,
                                       const std::vector<SqlValue>& params) {
    auto result = db_->Exec(sql + " RETURNING " + kColumns, params);
    if (!result) return result.error();
    if (result->rows.empty()) return std::optional<Job>();
    auto job = RowToJob(result->rows.front());
    if (!job) return job.error();
    return std::optional<Job>(std::move(*job));
  }

  static Error NotFound(const std::string& id) {
    return sg::Fail(ErrorCode::kNotFound, "job " + Quote(id) + " not found");
  }

  // Why a retry or cancel matched no row: the job is missing or in the wrong state.
  Error Refuse(const std::string& id, const std::string& verb, const std::string& rule) {
    auto job = Get(id);
    if (!job) return job.error().Wrap(verb + " job " + Quote(id));
    return sg::Fail(ErrorCode::kFailedPrecondition,
                    verb + " job " + Quote(id) + ": it is " + StateText(job->state) + "; " + rule);
  }

  // The result of a lease-holder's update: done, or why `owner` no longer holds the job.
  Result<void> Held(const Result<std::optional<Job>>& updated, const std::string& id,
                    const std::string& owner, const std::string& verb) {
    const std::string what = verb + " job " + Quote(id);
    if (!updated) return updated.error().Wrap(what);
    if (*updated) return {};
    auto result =
        db_->Exec("SELECT state, lease_owner, cancel_requested FROM jobs WHERE id = $1", {id});
    if (!result) return result.error().Wrap(what);
    if (result->rows.empty()) return NotFound(id).Wrap(what);
    const SqlRow& row = result->rows.front();
    const std::string state = row.Text(0);
    if (state == "running" && row.Text(1) == owner && row.Int(2) != 0) {
      return sg::Fail(ErrorCode::kFailedPrecondition, what + ": cancelled; stop the handler");
    }
    if (state == "cancelled") {
      return sg::Fail(ErrorCode::kFailedPrecondition, what + ": cancelled; stop the handler");
    }
    if (state == "running") {
      return sg::Fail(ErrorCode::kFailedPrecondition,
                      what + ": lease lost to " + Quote(row.Text(1)) + "; stop the handler");
    }
    return sg::Fail(ErrorCode::kFailedPrecondition,
                    what + ": lease lost; the job is now " + state + "; stop the handler");
  }

  std::shared_ptr<SqlDatabase> db_;
  const std::string skip_locked_;  // how the engine passes over rows being leased, if it can
};

}  // namespace

const std::vector<SqlMigration>& JobMigrations() {
  static const std::vector<SqlMigration> kMigrations = {
      {1,
       "table jobs: the durable job queue",
       {
           // idempotency_key is NULL for no key, so that the UNIQUE constraint (which both
           // engines read as allowing many NULLs) binds only jobs that have one.
           "CREATE TABLE jobs ("
           "id TEXT PRIMARY KEY, "
           "kind TEXT NOT NULL, "
           "payload TEXT NOT NULL, "
           "payload_encoding TEXT NOT NULL DEFAULT '', "
           "priority BIGINT NOT NULL DEFAULT 0, "
           "idempotency_key TEXT, "
           "state TEXT NOT NULL, "
           "attempts BIGINT NOT NULL DEFAULT 0, "
           "max_attempts BIGINT NOT NULL, "
           "last_error TEXT NOT NULL DEFAULT '', "
           "progress DOUBLE PRECISION NOT NULL DEFAULT 0, "
           "created_at BIGINT NOT NULL, "
           "updated_at BIGINT NOT NULL, "
           "run_at BIGINT NOT NULL, "
           "lease_owner TEXT NOT NULL DEFAULT '', "
           "lease_until BIGINT NOT NULL DEFAULT 0, "
           "cancel_requested BIGINT NOT NULL DEFAULT 0, "
           "UNIQUE (kind, idempotency_key))",
           "CREATE INDEX jobs_lease ON jobs (kind, state, priority DESC, run_at, created_at)",
           "CREATE INDEX jobs_created ON jobs (created_at)",
       }},
  };
  return kMigrations;
}

std::shared_ptr<JobStore> MakeSqlJobStore(std::shared_ptr<SqlDatabase> db) {
  return std::make_shared<SqlJobStore>(std::move(db));
}

Result<void> ValidateJobKind(const std::string& kind) {
  bool ok = !kind.empty() && kind.size() <= 64;
  for (char c : kind) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  }
  if (!ok) {
    return sg::Fail(
        ErrorCode::kInvalidArgument,
        "kind " + Quote(kind) + " is not 1 to 64 of lower-case letters, digits and '-'");
  }
  return {};
}

Result<void> ValidateJobSpec(const JobSpec& spec) {
  if (auto kind = ValidateJobKind(spec.kind); !kind) return kind;
  if (spec.payload.size() > kMaxPayload) {
    return sg::Fail(ErrorCode::kInvalidArgument,
                    "payload is " + std::to_string(spec.payload.size()) +
                        " bytes; the limit is 1 MiB: keep large data in storage and pass its key");
  }
  if (spec.priority < -100 || spec.priority > 100) {
    return sg::Fail(ErrorCode::kInvalidArgument,
                    "priority must be -100..100, not " + std::to_string(spec.priority));
  }
  if (spec.idempotency_key.size() > kMaxKey || !IsText(spec.idempotency_key)) {
    return sg::Fail(ErrorCode::kInvalidArgument, "idempotency_key must be UTF-8 text of at most " +
                                                     std::to_string(kMaxKey) +
                                                     " bytes without NUL");
  }
  if (spec.max_attempts < 0 || spec.max_attempts > kMaxAttemptsLimit) {
    return sg::Fail(ErrorCode::kInvalidArgument, "max_attempts must be 0 (the default) to " +
                                                     std::to_string(kMaxAttemptsLimit) + ", not " +
                                                     std::to_string(spec.max_attempts));
  }
  if (spec.delay.count() < 0 || spec.delay.count() > kMaxDelayMs) {
    return sg::Fail(ErrorCode::kInvalidArgument, "delay must be 0 to 366 days, not " +
                                                     std::to_string(spec.delay.count()) + " ms");
  }
  return {};
}

std::string NewJobId(int64_t now_ms) { return NewUlid(now_ms); }

}  // namespace sg::plugins
