// The durable job queue ("worker" in the service registry). A plugin enqueues work of a kind
// ("transcode", "delete-video") and registers the handler for the kinds it does; the queue hands
// each job to one handler at a time under a lease that the worker keeps alive while the handler
// runs. A job whose lease expires (its process was killed) is runnable again; a failed job is
// retried with exponential backoff up to its attempt limit, then kept as dead with its last error.
// In monolith mode the queue lives in the catalogue's SQLite database; in microservice mode on
// NATS JetStream, so that every process reaches the same queue.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sg {

/// queued → running → succeeded | queued (a retry, after a backoff) | dead | cancelled;
/// queued → cancelled; dead | cancelled → queued (retry by hand).
enum class JobState { kQueued, kRunning, kSucceeded, kDead, kCancelled };
std::string_view JobStateName(JobState state);  // "queued", "running", ...
std::optional<JobState> ParseJobState(std::string_view name);

struct JobSpec {
  std::string kind;     // [a-z0-9-]{1,64}
  std::string payload;  // opaque to the queue (JSON by convention), at most 1 MiB
  int priority = 0;     // higher runs first; -100..100
  /// Enqueueing a second job with the same kind and key returns the first one (whatever its
  /// state), so that a retried request makes no second job. Empty: no key.
  std::string idempotency_key;
  int max_attempts = 0;                // 0: worker.max_attempts
  std::chrono::milliseconds delay{0};  // not before now + delay
};

struct Job {
  std::string id;
  std::string kind;
  std::string payload;
  int priority = 0;
  std::string idempotency_key;
  JobState state = JobState::kQueued;
  int attempts = 0;  // runs started so far
  int max_attempts = 0;
  std::string last_error;  // the last failure's message, if any
  double progress = 0;     // 0..1, as the handler last reported it
  int64_t created_at = 0;  // milliseconds since the Unix epoch
  int64_t updated_at = 0;
  int64_t run_at = 0;       // when it may run next (a backoff puts it in the future)
  std::string lease_owner;  // which worker holds it while running ("host:pid")
  int64_t lease_until = 0;  // the lease's expiry, while running
};

/// What a handler gets: its job, a way to report progress, and word of a cancel. Thread-safe.
class JobContext {
 public:
  virtual ~JobContext() = default;
  virtual const Job& job() const = 0;
  /// Records progress (0..1); cheap, rate-limited by the worker.
  virtual void Progress(double fraction) = 0;
  /// True once the job was cancelled or its lease lost: stop soon; what the handler then returns
  /// is ignored.
  virtual bool Cancelled() const = 0;
};

/// Runs one job on a blocking thread. Success completes it; an error fails this attempt (retried
/// while attempts remain, unless the code is kInvalidArgument: bad input is never retried).
/// A handler must be idempotent in its visible effects: a job may run again after a crash.
using JobHandler = std::function<Result<void>(JobContext&)>;

struct JobFilter {
  std::optional<JobState> state;
  std::optional<std::string> kind;
  int limit = 100;  // 1..1000, newest first
};

/// Counts for /metrics and health, by kind and state.
struct JobCounts {
  std::string kind;
  JobState state = JobState::kQueued;
  int64_t count = 0;
};

/// Thread-safe; calls may block (a database, NATS): call them on the blocking pool. Errors:
/// kNotFound for an unknown id, kInvalidArgument for a bad spec (the message names the field),
/// kFailedPrecondition for a retry or cancel the job's state does not allow, kUnavailable while
/// the store cannot be reached.
class JobQueue {
 public:
  virtual ~JobQueue() = default;
  virtual Result<Job> Enqueue(const JobSpec& spec) = 0;
  virtual Result<Job> Get(const std::string& id) = 0;
  virtual Result<std::vector<Job>> List(const JobFilter& filter) = 0;
  /// A dead or cancelled job runs again, with its attempts reset.
  virtual Result<Job> Retry(const std::string& id) = 0;
  /// A queued job never runs; a running one's handler sees Cancelled() and the job ends cancelled.
  virtual Result<Job> Cancel(const std::string& id) = 0;
  virtual Result<std::vector<JobCounts>> Counts() = 0;
  /// Runs jobs of `kind` in this process with `handler`, at most `concurrency` at a time (0:
  /// worker.concurrency). One handler per kind per process; several processes may each register
  /// one. The registration lasts until the returned handle is destroyed, which waits for the
  /// kind's running handlers to return.
  class Registration {
   public:
    virtual ~Registration() = default;
  };
  virtual Result<std::unique_ptr<Registration>> Handle(const std::string& kind, JobHandler handler,
                                                       int concurrency) = 0;
};

}  // namespace sg
