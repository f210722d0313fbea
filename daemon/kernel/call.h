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
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "common/result.h"

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

/// Why a call that returns a Result failed, or nullopt when it succeeded.
struct CallFailure {
  std::string reason;   // with what was called: "start timed out after 100ms", "start threw: x",
                        // "start: <the plugin's error>"
  std::string message;  // the plugin's error alone for a returned error; else the same as reason
};

/// Sorts an outcome into success or a failure of `what` ("init", "config check") named once,
/// so that every call into a plugin reports its failures the same way.
template <typename T>
std::optional<CallFailure> FailureOf(const CallOutcome<Result<T>>& outcome, std::string_view what,
                                     std::chrono::milliseconds timeout) {
  using Kind = typename CallOutcome<Result<T>>::Kind;
  if (outcome.kind == Kind::kTimedOut) {
    std::string reason = fmt::format("{} timed out after {}ms", what, timeout.count());
    return CallFailure{reason, reason};
  }
  if (outcome.kind == Kind::kThrew) {
    std::string reason = fmt::format("{} threw: {}", what, outcome.error);
    return CallFailure{reason, reason};
  }
  if (!outcome.value->has_value()) {
    const std::string& message = outcome.value->error().message;
    return CallFailure{fmt::format("{}: {}", what, message), message};
  }
  return std::nullopt;
}

}  // namespace sg::kernel
