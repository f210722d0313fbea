// The pool for plugins' blocking work: bounded, never blocking the submitter, counting what it
// did, and surviving work that throws. No timing: gates and latches only.
#include "daemon/plugin_api/blocking_pool.h"

#include <atomic>
#include <future>
#include <latch>

#include <catch2/catch.hpp>
#include <spdlog/sinks/null_sink.h>

namespace sg {
namespace {

std::shared_ptr<spdlog::logger> Quiet() {
  return std::make_shared<spdlog::logger>("blocking",
                                          std::make_shared<spdlog::sinks::null_sink_mt>());
}

}  // namespace

TEST_CASE("the blocking pool runs work on its threads and counts it", "[blocking]") {
  BlockingPool pool(4, 100, Quiet());
  std::latch done(50);
  std::atomic<int> ran{0};
  for (int i = 0; i < 50; ++i) {
    REQUIRE(pool.Submit([&] {
      ++ran;
      done.count_down();
    }));
  }
  done.wait();
  CHECK(ran == 50);
  // The counters follow the work; the last job may still be returning to its thread.
  for (;;) {
    const auto s = pool.Snapshot();
    if (s.completed == 50) {
      CHECK(s.threads == 4);
      CHECK(s.queued == 0);
      CHECK(s.failed == 0);
      CHECK(s.rejected == 0);
      break;
    }
    std::this_thread::yield();
  }
}

TEST_CASE("a full queue refuses work at once instead of blocking the caller", "[blocking]") {
  BlockingPool pool(1, 2, Quiet());
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  std::latch started(1);
  REQUIRE(pool.Submit([&] {
    started.count_down();
    open.wait();
  }));
  started.wait();  // the one thread is busy: what follows queues
  REQUIRE(pool.Submit([open] { open.wait(); }));
  REQUIRE(pool.Submit([open] { open.wait(); }));
  CHECK_FALSE(pool.Submit([] {}));  // the queue holds 2
  auto s = pool.Snapshot();
  CHECK(s.busy == 1);
  CHECK(s.queued == 2);
  CHECK(s.rejected == 1);
  gate.set_value();
}

TEST_CASE("work that throws is counted and the thread carries on", "[blocking]") {
  BlockingPool pool(1, 10, Quiet());
  std::latch done(1);
  REQUIRE(pool.Submit([] { throw std::runtime_error("disk on fire"); }));
  REQUIRE(pool.Submit([&] { done.count_down(); }));
  done.wait();
  for (;;) {
    const auto s = pool.Snapshot();
    if (s.completed + s.failed == 2) {
      CHECK(s.failed == 1);
      break;
    }
    std::this_thread::yield();
  }
}

TEST_CASE("the pool runs what was queued before it goes", "[blocking]") {
  std::atomic<int> ran{0};
  {
    BlockingPool pool(2, 100, Quiet());
    for (int i = 0; i < 20; ++i) REQUIRE(pool.Submit([&] { ++ran; }));
  }
  CHECK(ran == 20);
}

}  // namespace sg
