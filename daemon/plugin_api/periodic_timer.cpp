#include "daemon/plugin_api/periodic_timer.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include <boost/asio/steady_timer.hpp>

namespace sg {

struct PeriodicTimer::State {
  State(const boost::asio::any_io_executor& executor, std::chrono::milliseconds i,
        std::function<void()> t)
      : timer(executor), interval(i), tick(std::move(t)) {}

  std::mutex mu;
  std::condition_variable cv;
  boost::asio::steady_timer timer;  // guarded by mu
  bool stopped = false;             // guarded by mu
  bool ticking = false;             // guarded by mu
  std::thread::id ticker;           // guarded by mu: the thread in `tick`
  const std::chrono::milliseconds interval;
  const std::function<void()> tick;
};

namespace {

void Arm(const std::shared_ptr<PeriodicTimer::State>& state) {
  std::lock_guard lock(state->mu);
  if (state->stopped) return;
  state->timer.expires_after(state->interval);
  state->timer.async_wait([state](const boost::system::error_code& ec) {
    {
      std::lock_guard tick_lock(state->mu);
      if (ec || state->stopped) return;
      state->ticking = true;
      state->ticker = std::this_thread::get_id();
    }
    state->tick();
    {
      std::lock_guard tick_lock(state->mu);
      state->ticking = false;
      state->ticker = {};
    }
    state->cv.notify_all();
    Arm(state);
  });
}

}  // namespace

PeriodicTimer::PeriodicTimer(const boost::asio::any_io_executor& executor,
                             std::chrono::milliseconds interval, std::function<void()> tick)
    : state_(std::make_shared<State>(executor, interval, std::move(tick))) {
  Arm(state_);
}

PeriodicTimer::~PeriodicTimer() {
  std::unique_lock lock(state_->mu);
  state_->stopped = true;
  state_->timer.cancel();
  if (state_->ticker == std::this_thread::get_id()) return;
  state_->cv.wait(lock, [this] { return !state_->ticking; });
}

}  // namespace sg
