#include "daemon/plugins/worker/job_queue_client.h"

#include <algorithm>

#include <fmt/format.h>
#include <unistd.h>

#include "common/logging.h"
#include "daemon/plugins/worker/queue_proxy.h"

namespace sg::plugins {

WorkerOptions WorkerOptionsFrom(const config::Config& config) {
  WorkerOptions options;
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  options.owner = fmt::format("{}:{}", host[0] != '\0' ? host : "localhost", getpid());
  options.default_concurrency = static_cast<int>(config.Int("worker.concurrency"));
  options.max_attempts = static_cast<int>(config.Int("worker.max_attempts"));
  options.lease = config.Duration("worker.lease");
  options.poll_interval = config.Duration("worker.poll_interval");
  options.backoff_base = config.Duration("worker.backoff_base");
  options.backoff_max = std::max(config.Duration("worker.backoff_max"), options.backoff_base);
  return options;
}

JobQueueClient::JobQueueClient(const config::Config& config, std::shared_ptr<spdlog::logger> logger,
                               std::chrono::milliseconds retry)
    : store_options_(JetStreamJobStoreOptionsFrom(config)),
      worker_options_(WorkerOptionsFrom(config)),
      logger_(std::move(logger)),
      retry_(retry),
      where_(fmt::format("NATS JetStream at {} (stream {})", NatsServers(store_options_.connection),
                         store_options_.prefix)) {
  problem_->Set("the job queue on " + where_ +
                " is not open yet; this process is connecting to it");
  proxy_ = std::make_shared<QueueProxy>(
      [problem = problem_] { return Fail(ErrorCode::kUnavailable, problem->Get()); });
  thread_ = std::thread([this] { Run(); });
}

JobQueueClient::~JobQueueClient() { Shutdown(std::chrono::steady_clock::now()); }

std::shared_ptr<JobQueue> JobQueueClient::Queue() const { return proxy_; }

std::string JobQueueClient::Why() const { return problem_->Get(); }

void JobQueueClient::Run() {
  bool warned = false;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    auto store = MakeJetStreamJobStore(store_options_);
    lock.lock();
    if (stopping_) break;
    if (store) {
      auto worker = MakeWorker(*store, worker_options_);
      if (auto attached = proxy_->Attach(worker); !attached) {
        // Only a kind the store refuses gets here; the other kinds run.
        logger_->warn(log::With("A job handler of this process cannot run",
                                {{"error", attached.error().message}}));
      }
      worker_ = std::move(worker);
      problem_->Set("");
      logger_->info(log::With("Job queue ready", {{"store", where_}}));
      return;
    }
    problem_->Set(fmt::format(
        "the job queue on {} is not reachable: {}; start nats-server with JetStream "
        "(nats-server -js) at nats.url, or correct nats.url; this process tries again every {} ms",
        where_, store.error().message, retry_.count()));
    if (!warned) {
      logger_->warn(log::With("Job queue not reachable; retrying in the background",
                              {{"store", where_}, {"error", store.error().message}}));
      warned = true;
    }
    cv_.wait_for(lock, retry_, [this] { return stopping_; });
  }
}

void JobQueueClient::Shutdown(std::chrono::steady_clock::time_point deadline) {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::shared_ptr<Worker> worker;
  {
    std::lock_guard lock(mu_);
    worker = std::move(worker_);
    worker_.reset();
  }
  problem_->Set("the job queue of this process has stopped (the daemon is shutting down)");
  if (!worker) return;
  worker->Shutdown(deadline);
  proxy_->Detach();
}

}  // namespace sg::plugins
