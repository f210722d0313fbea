// The worker: a JobQueue over a JobStore. It polls the store for the kinds that have handlers
// here, runs each job on its own thread within the kind's concurrency, renews its lease every
// third of worker.lease, passes cancels to the handler, and on a failure queues a retry after
// an exponential backoff (worker.backoff_base doubling, up to worker.backoff_max, with jitter) or
// ends the job dead once its attempts are spent.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "daemon/plugin_api/jobs.h"
#include "daemon/plugins/worker/job_store.h"

namespace sg::plugins {

struct WorkerOptions {
  std::string owner;  // this worker's name in leases: "host:pid"
  int default_concurrency = 2;
  int max_attempts = 5;
  std::chrono::milliseconds lease{30000};
  std::chrono::milliseconds poll_interval{500};  // how often an idle kind asks the store
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_max{300000};
};

/// Counters for /metrics, kept by the worker.
struct WorkerStats {
  uint64_t started = 0;
  uint64_t succeeded = 0;
  uint64_t failed = 0;  // attempts that failed (retried or dead)
  uint64_t dead = 0;
  uint64_t cancelled = 0;
  uint64_t lease_lost = 0;
  int64_t running = 0;
};

class Worker : public JobQueue {
 public:
  virtual WorkerStats Stats() const = 0;
  /// Stops polling and waits until `deadline` for running handlers; those still running are
  /// told to cancel, and their jobs are left to lease expiry (another run picks them up).
  virtual void Shutdown(std::chrono::steady_clock::time_point deadline) = 0;
};

std::shared_ptr<Worker> MakeWorker(std::shared_ptr<JobStore> store, WorkerOptions options);

}  // namespace sg::plugins
