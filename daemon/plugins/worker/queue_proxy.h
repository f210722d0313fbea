// The "worker" service as plugins hold it: a JobQueue in front of whichever Worker runs now, so
// that handler registrations survive the worker's restarts.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "daemon/plugin_api/jobs.h"
#include "daemon/plugin_api/services.h"
#include "daemon/plugins/worker/worker.h"

namespace sg::plugins {

/// The queue other plugins hold ("worker" in the registry). It outlives restarts of the worker
/// plugin (or, in a process without it, the wait for JetStream: JobQueueClient), and keeps their
/// handler registrations across them: a plugin registers its kind once, and its handler runs
/// again as soon as a worker does, without watching for restarts. While no worker is attached,
/// calls answer `down`'s error (kUnavailable naming the plugin by default). Thread-safe.
class QueueProxy final : public JobQueue, public std::enable_shared_from_this<QueueProxy> {
 public:
  /// `down` makes the error of a call while no worker is attached.
  explicit QueueProxy(std::function<Error()> down =
                          [] { return Fail(ErrorCode::kUnavailable, NotRunningMessage("worker")); })
      : down_(std::move(down)) {}

  /// Start: runs every live registration's kind on `worker`. Returns the first failure.
  Result<void> Attach(const std::shared_ptr<Worker>& worker) {
    std::lock_guard lock(mu_);
    worker_ = worker;
    for (auto& [id, entry] : entries_) {
      auto inner = worker->Handle(entry.kind, entry.handler, entry.concurrency);
      if (!inner) return inner.error().Wrap("handle " + entry.kind);
      entry.inner = std::move(*inner);
    }
    return {};
  }

  /// Stop, after the worker's Shutdown: ends the registrations on it (waiting for their handlers)
  /// and forgets it; the registrations themselves stay, for the next Attach.
  void Detach() {
    std::vector<std::unique_ptr<Registration>> inners;
    {
      std::lock_guard lock(mu_);
      worker_.reset();
      for (auto& [id, entry] : entries_) {
        if (entry.inner) inners.push_back(std::move(entry.inner));
      }
    }
    inners.clear();  // outside the lock: each waits for its kind's running handlers
  }

  Result<Job> Enqueue(const JobSpec& spec) override {
    auto w = Current();
    if (!w) return Down();
    return w->Enqueue(spec);
  }
  Result<Job> Get(const std::string& id) override {
    auto w = Current();
    if (!w) return Down();
    return w->Get(id);
  }
  Result<std::vector<Job>> List(const JobFilter& filter) override {
    auto w = Current();
    if (!w) return Down();
    return w->List(filter);
  }
  Result<Job> Retry(const std::string& id) override {
    auto w = Current();
    if (!w) return Down();
    return w->Retry(id);
  }
  Result<Job> Cancel(const std::string& id) override {
    auto w = Current();
    if (!w) return Down();
    return w->Cancel(id);
  }
  Result<std::vector<JobCounts>> Counts() override {
    auto w = Current();
    if (!w) return Down();
    return w->Counts();
  }

  Result<std::unique_ptr<Registration>> Handle(const std::string& kind, JobHandler handler,
                                               int concurrency) override {
    std::lock_guard lock(mu_);
    for (const auto& [id, entry] : entries_) {
      if (entry.kind == kind) {
        return Fail(ErrorCode::kFailedPrecondition,
                    "job kind '" + kind + "' already has a handler in this process");
      }
    }
    Entry entry{kind, std::move(handler), concurrency, nullptr};
    if (worker_) {
      auto inner = worker_->Handle(entry.kind, entry.handler, entry.concurrency);
      if (!inner) return inner.error();
      entry.inner = std::move(*inner);
    }
    const int id = next_++;
    entries_.emplace(id, std::move(entry));
    return std::unique_ptr<Registration>(new ProxyRegistration(weak_from_this(), id));
  }

 private:
  struct Entry {
    std::string kind;
    JobHandler handler;
    int concurrency = 0;
    std::unique_ptr<Registration> inner;  // on the current worker; null while stopped
  };

  class ProxyRegistration final : public Registration {
   public:
    ProxyRegistration(std::weak_ptr<QueueProxy> proxy, int id)
        : proxy_(std::move(proxy)), id_(id) {}
    ~ProxyRegistration() override {
      if (auto proxy = proxy_.lock()) proxy->Remove(id_);
    }
    ProxyRegistration(const ProxyRegistration&) = delete;
    ProxyRegistration& operator=(const ProxyRegistration&) = delete;

   private:
    std::weak_ptr<QueueProxy> proxy_;
    int id_;
  };

  void Remove(int id) {
    std::unique_ptr<Registration> inner;
    {
      std::lock_guard lock(mu_);
      auto it = entries_.find(id);
      if (it == entries_.end()) return;
      inner = std::move(it->second.inner);
      entries_.erase(it);
    }
    inner.reset();  // outside the lock: waits for the kind's running handlers
  }

  std::shared_ptr<Worker> Current() const {
    std::lock_guard lock(mu_);
    return worker_;
  }
  Error Down() const { return down_(); }

  const std::function<Error()> down_;
  mutable std::mutex mu_;
  std::shared_ptr<Worker> worker_;  // guarded by mu_; null while the plugin is stopped
  std::map<int, Entry> entries_;    // guarded by mu_
  int next_ = 1;                    // guarded by mu_
};

}  // namespace sg::plugins
