// Where jobs are kept: the SQLite database of monolith mode (sql_job_store.h) or NATS JetStream
// (jetstream_job_store.h). The worker (worker.h) runs handlers over a store and does the rest:
// polling, concurrency per kind, keeping leases alive, backoff, cancel. A store only keeps state
// and hands out leases, atomically, so that two workers (two processes) never run one job at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "daemon/plugin_api/jobs.h"

namespace sg::plugins {

/// How a failed attempt ends: queued again at `retry_at` (ms since the epoch), or dead.
struct AttemptFailure {
  std::string error;
  std::optional<int64_t> retry_at;  // unset: dead
};

/// Thread-safe. `now` and times are milliseconds since the Unix epoch, passed in so that tests
/// control the clock. Errors as JobQueue's; a lease call on a job whose lease `owner` no longer
/// holds (expired and taken, or cancelled) is kFailedPrecondition: the handler must stop.
class JobStore {
 public:
  virtual ~JobStore() = default;

  /// Validated spec in, job out; an existing (kind, idempotency_key) returns that job.
  virtual Result<Job> Enqueue(const JobSpec& spec, int max_attempts, int64_t now) = 0;
  virtual Result<Job> Get(const std::string& id) = 0;
  virtual Result<std::vector<Job>> List(const JobFilter& filter) = 0;
  virtual Result<Job> Retry(const std::string& id, int64_t now) = 0;
  /// Queued: cancelled at once. Running: marked cancelled; the holder learns it at its next
  /// Renew, which fails.
  virtual Result<Job> Cancel(const std::string& id, int64_t now) = 0;
  virtual Result<std::vector<JobCounts>> Counts() = 0;

  /// Takes the runnable job of `kind` that should run first (priority, then run_at, then age) —
  /// queued with run_at <= now, or running with an expired lease — marks it running under
  /// `owner` until now + lease, and counts the attempt. nullopt when none is runnable.
  virtual Result<std::optional<Job>> Lease(const std::string& kind, const std::string& owner,
                                           std::chrono::milliseconds lease, int64_t now) = 0;
  /// Extends the lease to now + lease and records progress.
  virtual Result<void> Renew(const std::string& id, const std::string& owner,
                             std::chrono::milliseconds lease, double progress, int64_t now) = 0;
  virtual Result<void> Succeed(const std::string& id, const std::string& owner, int64_t now) = 0;
  virtual Result<void> Fail(const std::string& id, const std::string& owner,
                            const AttemptFailure& failure, int64_t now) = 0;
  /// What SucceedThenLease came to: the Succeed's result and the Lease's.
  struct SucceededThenLeased {
    Result<void> succeeded;
    Result<std::optional<Job>> next = std::optional<Job>();
  };
  /// Succeed(id), then Lease(kind) for the same owner, as a worker thread does between two jobs:
  /// one call, so that a store can send both writes in one round trip. The same results as the
  /// two calls in turn, which is what this default does.
  virtual SucceededThenLeased SucceedThenLease(const std::string& id, const std::string& owner,
                                               const std::string& kind,
                                               std::chrono::milliseconds lease, int64_t now) {
    // Braced: the Succeed runs first.
    return SucceededThenLeased{Succeed(id, owner, now), Lease(kind, owner, lease, now)};
  }
  /// A running job whose handler saw the cancel: ends it as cancelled.
  virtual Result<void> AcknowledgeCancel(const std::string& id, const std::string& owner,
                                         int64_t now) = 0;
};

}  // namespace sg::plugins
