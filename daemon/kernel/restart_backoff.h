// Restart policies: when a failed plugin is started again, with a delay that doubles each time.
#pragma once

#include <chrono>

namespace sg::kernel {

struct RestartPolicy {
  enum class Mode { kNever, kOnFailure };
  Mode mode = Mode::kNever;
  int limit = 5;                            // restarts before giving up
  std::chrono::milliseconds backoff{1000};  // first delay; doubles each time
  std::chrono::milliseconds max_backoff{60000};
};

/// The delay before restart number `restarts + 1`: backoff doubled per restart made so far, at
/// most max_backoff.
std::chrono::milliseconds RestartDelay(const RestartPolicy& policy, int restarts);

}  // namespace sg::kernel
