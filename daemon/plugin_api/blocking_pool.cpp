#include "daemon/plugin_api/blocking_pool.h"

#include "common/logging.h"

namespace sg {

BlockingPool::BlockingPool(size_t threads, size_t max_queue, std::shared_ptr<spdlog::logger> logger)
    : max_queue_(max_queue), logger_(std::move(logger)) {
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

BlockingPool::~BlockingPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (auto& t : threads_) t.join();
}

bool BlockingPool::Submit(std::function<void()> work) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= max_queue_) {
      ++rejected_;
      return false;
    }
    queue_.push_back(std::move(work));
  }
  ready_.notify_one();
  return true;
}

BlockingPool::Stats BlockingPool::Snapshot() const {
  std::lock_guard lock(mu_);
  return Stats{threads_.size(), busy_, queue_.size(), max_queue_, completed_, failed_, rejected_};
}

void BlockingPool::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to run
    auto work = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    lock.unlock();
    bool threw = false;
    try {
      work();
    } catch (const std::exception& e) {
      threw = true;
      logger_->error(log::With("Blocking work threw", {{"error", e.what()}}));
    } catch (...) {
      threw = true;
      logger_->error("Blocking work threw something that is not an exception");
    }
    work = nullptr;  // destroy captures outside the lock
    lock.lock();
    --busy_;
    ++(threw ? failed_ : completed_);
  }
}

}  // namespace sg
