// A bounded pool of threads for blocking work (disk, a database, child processes), apart from
// the HTTP I/O threads and the daemon's executor, which must never block. Submitting never
// blocks either: when the queue is full the work is refused, and the caller answers 503 (or
// retries later) instead of piling up memory.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <spdlog/logger.h>

namespace sg {

class BlockingPool {
 public:
  struct Stats {
    size_t threads = 0;
    size_t busy = 0;       // threads running work now
    size_t queued = 0;     // work waiting for a thread
    size_t max_queue = 0;  // past it, Submit refuses
    uint64_t completed = 0;
    uint64_t failed = 0;    // work that threw (caught and logged)
    uint64_t rejected = 0;  // refused: the queue was full, or the pool stopping
  };

  BlockingPool(size_t threads, size_t max_queue, std::shared_ptr<spdlog::logger> logger);
  /// Runs what is already queued, then joins the threads.
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  /// Queues `work` for a pool thread; false, with nothing queued, when `max_queue` jobs already
  /// wait or the pool is stopping. Safe from any thread.
  [[nodiscard]] bool Submit(std::function<void()> work);

  Stats Snapshot() const;

 private:
  void Run();

  const size_t max_queue_;
  std::shared_ptr<spdlog::logger> logger_;
  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  size_t busy_ = 0;                          // guarded by mu_
  uint64_t completed_ = 0;                   // guarded by mu_
  uint64_t failed_ = 0;                      // guarded by mu_
  uint64_t rejected_ = 0;                    // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace sg
