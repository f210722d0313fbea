// Calls into plugins with a time limit. A call that overruns is abandoned, not killed: it goes on
// in its own thread, holding what it needs, and its result is dropped.
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace sg::kernel {

template <typename T>
struct CallOutcome {
  enum class Kind { kReturned, kThrew, kTimedOut };
  Kind kind = Kind::kReturned;
  std::optional<T> value;  // set when kReturned
  std::string error;       // what was thrown, when kThrew
};

/// Runs fn on a new thread and waits up to `timeout` for it. fn must own (or share) everything
/// it touches, since it may outlive this call.
template <typename T>
CallOutcome<T> CallWithTimeout(std::function<T()> fn, std::chrono::milliseconds timeout) {
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> future = promise->get_future();
  std::thread([promise, fn = std::move(fn)]() mutable {
    try {
      promise->set_value(fn());
    } catch (...) {
      promise->set_exception(std::current_exception());
    }
  }).detach();
  CallOutcome<T> outcome;
  if (future.wait_for(timeout) != std::future_status::ready) {
    outcome.kind = CallOutcome<T>::Kind::kTimedOut;
    return outcome;
  }
  try {
    outcome.value.emplace(future.get());
  } catch (const std::exception& e) {
    outcome.kind = CallOutcome<T>::Kind::kThrew;
    outcome.error = e.what();
  } catch (...) {
    outcome.kind = CallOutcome<T>::Kind::kThrew;
    outcome.error = "unknown exception";
  }
  return outcome;
}

}  // namespace sg::kernel
