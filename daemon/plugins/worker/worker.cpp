#include "daemon/plugins/worker/worker.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

#include "daemon/plugins/worker/sql_job_store.h"

namespace sg::plugins {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One job while its handler runs: what the heartbeat renews and the handler's context reads.
struct ActiveJob {
  Job job;
  std::atomic<double> progress{0};
  std::atomic<bool> cancelled{false};  // JobContext::Cancelled: any of the three below
  std::atomic<bool> cancel_requested{false};
  std::atomic<bool> lease_lost{false};
  std::atomic<bool> shutdown{false};
  // Held by the heartbeat while it renews, so that no Renew follows the end of the run.
  std::mutex mu;
  bool done = false;  // guarded by mu: the handler returned
};

class Context : public JobContext {
 public:
  explicit Context(std::shared_ptr<ActiveJob> active) : active_(std::move(active)) {}
  const Job& job() const override { return active_->job; }
  void Progress(double fraction) override {
    if (!(fraction >= 0)) fraction = 0;  // NaN too
    active_->progress = std::min(fraction, 1.0);
  }
  bool Cancelled() const override { return active_->cancelled; }

 private:
  std::shared_ptr<ActiveJob> active_;
};

// A registered kind: its handler and the `concurrency` threads that each lease and run one job
// at a time, so that no more than that many of its handlers ever run here.
struct Kind {
  std::string name;
  JobHandler handler;
  int concurrency = 0;
  std::mutex mu;
  std::condition_variable wake;  // an enqueue, or stop
  bool stopping = false;         // guarded by mu
  uint64_t wakeups = 0;          // guarded by mu: enqueues not yet seen by a poller
  std::vector<std::thread> threads;
};

class WorkerImpl final : public Worker, public std::enable_shared_from_this<WorkerImpl> {
 public:
  WorkerImpl(std::shared_ptr<JobStore> store, WorkerOptions options)
      : store_(std::move(store)), options_(std::move(options)) {
    // Out-of-range options are brought within reach rather than refused: MakeWorker cannot fail,
    // and the config layer has checked what users write.
    options_.lease = std::clamp(options_.lease, std::chrono::milliseconds(3),
                                std::chrono::milliseconds(int64_t{24} * 3600 * 1000));
    if (options_.poll_interval.count() < 1) options_.poll_interval = std::chrono::milliseconds(1);
    if (options_.default_concurrency < 1) options_.default_concurrency = 1;
    if (options_.max_attempts < 1) options_.max_attempts = 1;
    heartbeat_ = std::thread([this] { Heartbeat(); });
  }

  ~WorkerImpl() override {
    // Qualified: no virtual dispatch from a destructor (the class is final anyway).
    WorkerImpl::StopAll(std::chrono::steady_clock::now());
    std::map<std::string, std::shared_ptr<Kind>> kinds;
    {
      std::lock_guard lock(mu_);
      kinds.swap(kinds_);
    }
    for (auto& [name, kind] : kinds) Stop(*kind);
    {
      std::lock_guard lock(mu_);
      heartbeat_stop_ = true;
    }
    heartbeat_wake_.notify_all();
    heartbeat_.join();
  }

  WorkerImpl(const WorkerImpl&) = delete;
  WorkerImpl& operator=(const WorkerImpl&) = delete;

  Result<Job> Enqueue(const JobSpec& spec) override {
    auto job = store_->Enqueue(spec, options_.max_attempts, NowMs());
    if (job && job->state == JobState::kQueued) Wake(job->kind);
    return job;
  }
  Result<Job> Get(const std::string& id) override { return store_->Get(id); }
  Result<std::vector<Job>> List(const JobFilter& filter) override { return store_->List(filter); }
  Result<Job> Retry(const std::string& id) override {
    auto job = store_->Retry(id, NowMs());
    if (job) Wake(job->kind);
    return job;
  }
  Result<Job> Cancel(const std::string& id) override {
    auto job = store_->Cancel(id, NowMs());
    if (job && job->state == JobState::kRunning) {
      // Running here: tell the handler now rather than at the next heartbeat.
      std::lock_guard lock(mu_);
      if (auto it = active_.find(id); it != active_.end()) {
        it->second->cancel_requested = true;
        it->second->cancelled = true;
      }
    }
    return job;
  }
  Result<std::vector<JobCounts>> Counts() override { return store_->Counts(); }

  Result<std::unique_ptr<Registration>> Handle(const std::string& kind, JobHandler handler,
                                               int concurrency) override;

  WorkerStats Stats() const override {
    WorkerStats stats;
    stats.started = started_;
    stats.succeeded = succeeded_;
    stats.failed = failed_;
    stats.dead = dead_;
    stats.cancelled = cancelled_;
    stats.lease_lost = lease_lost_;
    stats.running = running_;
    return stats;
  }

  void Shutdown(std::chrono::steady_clock::time_point deadline) override { StopAll(deadline); }

  // Shutdown, also for the destructor (which must not call a virtual method).
  void StopAll(std::chrono::steady_clock::time_point deadline) {
    std::vector<std::shared_ptr<Kind>> kinds;
    {
      std::lock_guard lock(mu_);
      shut_down_ = true;
      for (auto& [name, kind] : kinds_) kinds.push_back(kind);
    }
    for (auto& kind : kinds) {
      {
        std::lock_guard lock(kind->mu);
        kind->stopping = true;
      }
      kind->wake.notify_all();
    }
    std::unique_lock lock(mu_);
    idle_.wait_until(lock, deadline, [this] { return active_.empty(); });
    for (auto& [id, active] : active_) {
      active->shutdown = true;
      active->cancelled = true;
    }
  }

  void Unregister(const std::shared_ptr<Kind>& kind) {
    {
      std::lock_guard lock(mu_);
      auto it = kinds_.find(kind->name);
      if (it != kinds_.end() && it->second == kind) kinds_.erase(it);
    }
    Stop(*kind);
  }

 private:
  class KindRegistration : public Registration {
   public:
    KindRegistration(std::weak_ptr<WorkerImpl> worker, std::shared_ptr<Kind> kind)
        : worker_(std::move(worker)), kind_(std::move(kind)) {}
    ~KindRegistration() override {
      // The worker gone means its destructor stopped this kind already.
      if (auto worker = worker_.lock()) worker->Unregister(kind_);
    }
    KindRegistration(const KindRegistration&) = delete;
    KindRegistration& operator=(const KindRegistration&) = delete;

   private:
    std::weak_ptr<WorkerImpl> worker_;
    std::shared_ptr<Kind> kind_;
  };

  static void Stop(Kind& kind) {
    {
      std::lock_guard lock(kind.mu);
      kind.stopping = true;
    }
    kind.wake.notify_all();
    for (auto& thread : kind.threads) {
      if (!thread.joinable()) continue;
      // A handler that drops its own registration cannot wait for itself.
      if (thread.get_id() == std::this_thread::get_id()) {
        thread.detach();
      } else {
        thread.join();
      }
    }
    kind.threads.clear();
  }

  void Wake(const std::string& name) {
    std::shared_ptr<Kind> kind;
    {
      std::lock_guard lock(mu_);
      auto it = kinds_.find(name);
      if (it == kinds_.end()) return;
      kind = it->second;
    }
    {
      std::lock_guard lock(kind->mu);
      ++kind->wakeups;
    }
    kind->wake.notify_one();
  }

  // One of a kind's threads: lease a job, run it, again; between empty polls wait for an
  // enqueue here or poll_interval. A job that succeeds leases the next in the same call.
  void Poll(const std::shared_ptr<Kind>& kind) {
    std::optional<Job> next;
    for (;;) {
      {
        std::lock_guard lock(kind->mu);
        // A job leased as the kind stopped is left to its lease's expiry, as one a shutdown
        // interrupts: started now, it could outlast Shutdown's deadline unseen.
        if (kind->stopping) return;
        if (!next && kind->wakeups > 0) --kind->wakeups;
      }
      if (next) {  // leased by SucceedThenLease or by the Lease below
        Job job = std::move(*next);
        next = Run(*kind, std::move(job));
        continue;
      }
      auto leased = store_->Lease(kind->name, options_.owner, options_.lease, NowMs());
      if (leased && *leased) {
        next = std::move(**leased);
        continue;
      }
      // Nothing runnable, or the store unreachable (kUnavailable): either way ask again later.
      std::unique_lock lock(kind->mu);
      kind->wake.wait_for(lock, options_.poll_interval,
                          [&] { return kind->stopping || kind->wakeups > 0; });
    }
  }

  // Runs the job and records how it ended; returns the next job when that leased one.
  std::optional<Job> Run(Kind& kind, Job job) {
    auto active = std::make_shared<ActiveJob>();
    active->job = std::move(job);
    const Job& j = active->job;
    if (j.attempts > j.max_attempts) {
      // Its last attempt's lease expired: the worker that ran it died or hung, maybe because of
      // this very job. It does not run again.
      Finish(j,
             AttemptFailure{"gave up after " + std::to_string(j.max_attempts) +
                                " attempts; the last one's lease expired (its worker stopped "
                                "or hung)" +
                                (j.last_error.empty() ? "" : "; last error: " + j.last_error),
                            std::nullopt},
             NowMs());
      return std::nullopt;
    }
    {
      std::lock_guard lock(mu_);
      // Our own lease on a job whose handler still runs here expired (renewals failed) and we
      // took it again: the running handler goes on under the new lease rather than a second one.
      if (!active_.emplace(j.id, active).second) return std::nullopt;
    }
    ++started_;
    ++running_;
    Result<void> result;
    try {
      Context context(active);
      result = kind.handler(context);
    } catch (const std::exception& e) {
      result = sg::Fail(ErrorCode::kInternal, std::string("handler threw: ") + e.what());
    } catch (...) {
      result = sg::Fail(ErrorCode::kInternal,
                        "handler threw an exception that is not a "
                        "std::exception");
    }
    {
      std::lock_guard done_lock(active->mu);
      active->done = true;
    }
    {
      std::lock_guard lock(mu_);
      active_.erase(j.id);
    }
    --running_;
    auto next = Settle(kind, *active, result);
    idle_.notify_all();
    return next;
  }

  // Records how the handler's run ended; after a success, leases the kind's next job in the same
  // store call unless the kind is stopping.
  std::optional<Job> Settle(Kind& kind, ActiveJob& active, const Result<void>& result) {
    const Job& job = active.job;
    if (active.lease_lost) return std::nullopt;  // another worker has it now (counted when seen)
    if (active.cancel_requested) {
      if (store_->AcknowledgeCancel(job.id, options_.owner, NowMs())) ++cancelled_;
      return std::nullopt;
    }
    // Left to lease expiry: another run picks it up.
    if (active.shutdown && !result) return std::nullopt;
    if (result) {
      bool stopping = false;
      {
        std::lock_guard lock(kind.mu);
        stopping = kind.stopping;
      }
      std::optional<Job> next;
      Result<void> done;
      if (stopping) {
        done = store_->Succeed(job.id, options_.owner, NowMs());
      } else {
        auto both =
            store_->SucceedThenLease(job.id, options_.owner, kind.name, options_.lease, NowMs());
        done = std::move(both.succeeded);
        if (both.next && *both.next) next = std::move(**both.next);
      }
      if (done) {
        ++succeeded_;
        return next;
      }
      Diagnose(active, done.error());
      if (active.cancel_requested && store_->AcknowledgeCancel(job.id, options_.owner, NowMs())) {
        ++cancelled_;
      }
      return next;
    }
    ++failed_;
    const int64_t now = NowMs();
    const Error& error = result.error();
    AttemptFailure failure{error.message, std::nullopt};
    if (error.code != ErrorCode::kInvalidArgument && job.attempts < job.max_attempts) {
      failure.retry_at = now + Backoff(job.attempts).count();
    }
    Finish(job, failure, now);
    return std::nullopt;
  }

  // `now` is the clock the backoff was added to, so that the store sees the delay it asked for.
  void Finish(const Job& job, const AttemptFailure& failure, int64_t now) {
    auto done = store_->Fail(job.id, options_.owner, failure, now);
    if (done && !failure.retry_at) ++dead_;
    if (!done && done.error().code == ErrorCode::kFailedPrecondition) {
      // Cancelled meanwhile: end it so.
      if (store_->AcknowledgeCancel(job.id, options_.owner, NowMs())) ++cancelled_;
    }
  }

  // After a refused Renew or Succeed: a cancel (end it cancelled) or a lost lease.
  void Diagnose(ActiveJob& active, const Error& error) {
    if (error.code != ErrorCode::kFailedPrecondition && error.code != ErrorCode::kNotFound) {
      return;  // the store is unreachable: keep the lease and try again later
    }
    auto job = store_->Get(active.job.id);
    const bool cancel =
        job && (job->state == JobState::kCancelled ||
                (job->state == JobState::kRunning && job->lease_owner == options_.owner));
    if (cancel) {
      active.cancel_requested = true;
    } else if (!active.lease_lost.exchange(true)) {
      ++lease_lost_;
    }
    active.cancelled = true;
  }

  std::chrono::milliseconds Backoff(int attempts) {
    const double base = static_cast<double>(options_.backoff_base.count());
    const double max = static_cast<double>(options_.backoff_max.count());
    double delay = std::min(base * std::pow(2.0, std::max(attempts - 1, 0)), max);
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    {
      std::lock_guard lock(rng_mu_);
      delay *= jitter(rng_);
    }
    return std::chrono::milliseconds(static_cast<int64_t>(std::max(delay, 0.0)));
  }

  // Renews every running job's lease each third of a lease, carrying its progress.
  void Heartbeat() {
    const auto period = options_.lease / 3;
    std::unique_lock lock(mu_);
    for (;;) {
      heartbeat_wake_.wait_for(lock, period, [this] { return heartbeat_stop_; });
      if (heartbeat_stop_) return;
      std::vector<std::shared_ptr<ActiveJob>> jobs;
      for (auto& [id, active] : active_) jobs.push_back(active);
      lock.unlock();
      for (auto& active : jobs) {
        std::lock_guard done_lock(active->mu);
        if (active->done || active->lease_lost || active->cancel_requested) continue;
        auto renewed = store_->Renew(active->job.id, options_.owner, options_.lease,
                                     active->progress, NowMs());
        if (!renewed) Diagnose(*active, renewed.error());
      }
      lock.lock();
    }
  }

  std::shared_ptr<JobStore> store_;
  WorkerOptions options_;
  std::mutex mu_;
  std::condition_variable idle_;                              // a handler returned
  std::condition_variable heartbeat_wake_;                    // heartbeat_stop_ set
  std::map<std::string, std::shared_ptr<Kind>> kinds_;        // guarded by mu_
  std::map<std::string, std::shared_ptr<ActiveJob>> active_;  // guarded by mu_
  bool shut_down_ = false;                                    // guarded by mu_
  bool heartbeat_stop_ = false;                               // guarded by mu_
  std::thread heartbeat_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_{std::random_device{}()};  // guarded by rng_mu_
  std::atomic<uint64_t> started_{0};
  std::atomic<uint64_t> succeeded_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> dead_{0};
  std::atomic<uint64_t> cancelled_{0};
  std::atomic<uint64_t> lease_lost_{0};
  std::atomic<int64_t> running_{0};
};

Result<std::unique_ptr<JobQueue::Registration>> WorkerImpl::Handle(const std::string& kind,
                                                                   JobHandler handler,
                                                                   int concurrency) {
  if (auto valid = ValidateJobKind(kind); !valid) return valid.error().Wrap("handle");
  if (!handler) {
    return sg::Fail(ErrorCode::kInvalidArgument, "handle '" + kind + "': the handler is empty");
  }
  if (concurrency < 0 || concurrency > 1000) {
    return sg::Fail(ErrorCode::kInvalidArgument,
                    "handle '" + kind +
                        "': concurrency must be 0 (worker.concurrency) to 1000, "
                        "not " +
                        std::to_string(concurrency));
  }
  auto state = std::make_shared<Kind>();
  state->name = kind;
  state->handler = std::move(handler);
  state->concurrency = concurrency == 0 ? options_.default_concurrency : concurrency;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) {
      return sg::Fail(ErrorCode::kFailedPrecondition,
                      "handle '" + kind + "': the worker is shutting down");
    }
    if (kinds_.count(kind) != 0) {
      return sg::Fail(ErrorCode::kFailedPrecondition,
                      "handle '" + kind + "': this process already has a handler for the kind");
    }
    kinds_[kind] = state;
    // Started under mu_ so that the destructor, which takes the kinds under mu_, sees them all.
    for (int i = 0; i < state->concurrency; ++i) {
      state->threads.emplace_back([this, state] { Poll(state); });
    }
  }
  return std::unique_ptr<Registration>(std::make_unique<KindRegistration>(weak_from_this(), state));
}

}  // namespace

std::shared_ptr<Worker> MakeWorker(std::shared_ptr<JobStore> store, WorkerOptions options) {
  if (options.owner.empty()) {
    std::array<char, 256> host{};
    if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
    options.owner = std::string(host.data()) + ":" + std::to_string(getpid());
  }
  return std::make_shared<WorkerImpl>(std::move(store), std::move(options));
}

}  // namespace sg::plugins
