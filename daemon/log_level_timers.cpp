#include "daemon/log_level_timers.h"

#include <algorithm>

namespace sg::daemon {

std::optional<std::chrono::system_clock::time_point> LogLevelTimers::Set(
    spdlog::level::level_enum level, const std::string& component,
    std::optional<std::chrono::seconds> revert_after) {
  std::lock_guard lock(mu_);
  // What to go back to: the level before any temporary change of this component.
  const auto levels = logs_.Levels();
  std::optional<spdlog::level::level_enum> previous;
  if (component.empty()) {
    previous = logs_.DefaultLevel();
  } else if (auto it = levels.find(component); it != levels.end() && it->second.second) {
    previous = it->second.first;
  }
  if (auto it = level_timers_.find(component); it != level_timers_.end()) {
    // A temporary level replacing another still goes back to the level from before the first.
    previous = it->second.previous;
    it->second.timer->cancel();
    level_timers_.erase(it);
  }
  if (component.empty()) {
    logs_.SetLevel(level);
  } else {
    logs_.SetComponentLevel(component, level);
  }
  logger_->info(
      log::With("Log level set", {{"target", component.empty() ? "*" : component},
                                  {"new_level", log::LevelName(level)},
                                  {"for_seconds", revert_after ? revert_after->count() : 0}}));
  if (!revert_after) return std::nullopt;
  auto timer = std::make_unique<boost::asio::steady_timer>(executor_, *revert_after);
  timer->async_wait([this, component, previous](const boost::system::error_code& ec) {
    if (ec) return;
    std::lock_guard timers(mu_);
    if (component.empty()) {
      logs_.SetLevel(previous.value_or(spdlog::level::info));
    } else {
      logs_.SetComponentLevel(component, previous);
    }
    logger_->info(
        log::With("Log level reverted", {{"target", component.empty() ? "*" : component}}));
    level_timers_.erase(component);
  });
  level_timers_[component] = LevelTimer{std::move(timer), previous};
  return std::chrono::system_clock::now() + *revert_after;
}

void LogLevelTimers::LeaseViewer(spdlog::level::level_enum level) {
  {
    std::lock_guard lock(mu_);
    // One lease per level, the latest: however often viewers renew, the list stays short.
    const auto until = Clock::now() + std::chrono::seconds(30);
    auto same = std::find_if(viewers_.begin(), viewers_.end(),
                             [level](const auto& v) { return v.first == level; });
    if (same == viewers_.end()) {
      viewers_.emplace_back(level, until);
    } else {
      same->second = until;
    }
  }
  UpdateViewerFloor();
}

void LogLevelTimers::UpdateViewerFloor() {
  std::lock_guard lock(mu_);
  const auto now = Clock::now();
  std::erase_if(viewers_, [now](const auto& v) { return v.second <= now; });
  std::optional<spdlog::level::level_enum> floor;
  for (const auto& [level, until] : viewers_) floor = floor ? std::min(*floor, level) : level;
  logs_.SetViewerFloor(floor);
  if (viewers_.empty()) return;
  // Look again when the next registration lapses.
  if (!viewer_timer_) viewer_timer_ = std::make_unique<boost::asio::steady_timer>(executor_);
  viewer_timer_->expires_after(std::chrono::seconds(5));
  viewer_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) UpdateViewerFloor();
  });
}

void LogLevelTimers::Cancel() {
  std::lock_guard lock(mu_);
  for (auto& [name, pending] : level_timers_) pending.timer->cancel();
  if (viewer_timer_) viewer_timer_->cancel();
}

}  // namespace sg::daemon
