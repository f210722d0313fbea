// A timer that calls a function every interval until it is destroyed: a plugin's timers are
// handles that undo themselves, like its other registrations.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <boost/asio/any_io_executor.hpp>

namespace sg {

/// Calls `tick` on `executor` every `interval` (one call at a time), from construction until
/// destruction. The destructor cancels the next call and waits for one in progress, unless it
/// is called from inside `tick`. Not copyable or movable.
class PeriodicTimer {
 public:
  PeriodicTimer(const boost::asio::any_io_executor& executor, std::chrono::milliseconds interval,
                std::function<void()> tick);
  ~PeriodicTimer();
  PeriodicTimer(const PeriodicTimer&) = delete;
  PeriodicTimer& operator=(const PeriodicTimer&) = delete;

  struct State;  // opaque: shared with the pending wait, which may outlive the timer

 private:
  std::shared_ptr<State> state_;
};

}  // namespace sg
