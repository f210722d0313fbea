// The "worker" service of a microservice process that does not run the worker plugin: the same
// queue on NATS JetStream (built from JetStreamJobStoreOptionsFrom, as the plugin's), and a
// Worker of its own, so that the kinds this process's plugins handle (the metadata plugin's
// delete-video) run here, taken from the shared queue as any consumer of a distributed queue
// takes them. The periodic jobs stay the worker plugin's to queue.
//
// JetStream may be down when the process starts: the process starts anyway, and a thread tries
// to open the store every few seconds until it does. Until then calls answer kUnavailable saying
// what to do, and handler registrations wait for it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <spdlog/logger.h>

#include "config/config.h"
#include "daemon/plugin_api/jobs.h"
#include "daemon/plugins/worker/jetstream_job_store.h"
#include "daemon/plugins/worker/worker.h"

namespace sg::plugins {

class QueueProxy;

/// worker.concurrency, worker.max_attempts, worker.lease, worker.poll_interval and
/// worker.backoff_*; the owner is this process ("host:pid").
WorkerOptions WorkerOptionsFrom(const config::Config& config);

class JobQueueClient {
 public:
  /// Starts trying to open the store in the background; never fails.
  JobQueueClient(const config::Config& config, std::shared_ptr<spdlog::logger> logger,
                 std::chrono::milliseconds retry = std::chrono::seconds(2));
  ~JobQueueClient();  // Shutdown(now) unless done
  JobQueueClient(const JobQueueClient&) = delete;
  JobQueueClient& operator=(const JobQueueClient&) = delete;

  /// The "worker" service to provide. Valid for the client's life.
  std::shared_ptr<JobQueue> Queue() const;
  /// "" once the store is open; else why it is not, and what to do.
  std::string Why() const;
  /// Stops trying, then stops the worker: running handlers get until `deadline`, as in the
  /// worker plugin's Stop. Call before the process's plugins and NATS go.
  void Shutdown(std::chrono::steady_clock::time_point deadline);

 private:
  void Run();

  JetStreamJobStoreOptions store_options_;
  WorkerOptions worker_options_;
  std::shared_ptr<spdlog::logger> logger_;
  const std::chrono::milliseconds retry_;
  std::string where_;  // for messages: "NATS JetStream at URL (stream PREFIX)"
  std::shared_ptr<QueueProxy> proxy_;
  // Why calls fail now; shared with proxy_, which its holders may keep past this client.
  struct Problem {
    mutable std::mutex mu;
    std::string text;  // guarded by mu; "" once the store is open
    void Set(std::string t) {
      std::lock_guard lock(mu);
      text = std::move(t);
    }
    std::string Get() const {
      std::lock_guard lock(mu);
      return text;
    }
  };
  std::shared_ptr<Problem> problem_ = std::make_shared<Problem>();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;           // guarded by mu_
  std::shared_ptr<Worker> worker_;  // guarded by mu_: null until the store opened
  std::thread thread_;
};

}  // namespace sg::plugins
