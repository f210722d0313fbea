// Run-time log levels the control socket sets: a level for a while, which a timer puts back, and
// the leases of log viewers, whose lowest level lets records reach the ring without reaching the
// console or the file.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/logger.h>

#include "common/logging.h"

namespace sg::daemon {

/// Thread-safe. Borrows the hub, which outlives it; its timers run on `executor`, whose
/// io_context must outlive it too. Call Cancel() before the io_context stops.
class LogLevelTimers {
 public:
  LogLevelTimers(const boost::asio::any_io_executor& executor, log::LogHub& logs,
                 std::shared_ptr<spdlog::logger> logger)
      : executor_(executor), logs_(logs), logger_(std::move(logger)) {}
  LogLevelTimers(const LogLevelTimers&) = delete;
  LogLevelTimers& operator=(const LogLevelTimers&) = delete;

  /// Sets the level of `component` ("" for the default level). With `revert_after`, the level
  /// before the first temporary change of that component comes back then; returns when.
  std::optional<std::chrono::system_clock::time_point> Set(
      spdlog::level::level_enum level, const std::string& component,
      std::optional<std::chrono::seconds> revert_after);

  /// A log viewer at `level` renews its lease, which lapses after 30 seconds: while any lease
  /// holds, records down to the lowest leased level reach the ring.
  void LeaseViewer(spdlog::level::level_enum level);

  /// Cancels every pending timer; levels stay as they are.
  void Cancel();

 private:
  void UpdateViewerFloor();

  using Clock = std::chrono::steady_clock;
  // A timer that reverts a temporary level, and the level it goes back to.
  struct LevelTimer {
    std::unique_ptr<boost::asio::steady_timer> timer;
    std::optional<spdlog::level::level_enum> previous;
  };

  const boost::asio::any_io_executor executor_;
  log::LogHub& logs_;
  const std::shared_ptr<spdlog::logger> logger_;
  std::mutex mu_;
  std::map<std::string, LevelTimer> level_timers_;  // guarded by mu_, by component
  // Log viewers' levels and when each lease lapses.
  std::vector<std::pair<spdlog::level::level_enum, Clock::time_point>> viewers_;  // guarded by mu_
  std::unique_ptr<boost::asio::steady_timer> viewer_timer_;                       // guarded by mu_
};

}  // namespace sg::daemon
