// What a plugin says about its own health, and what the kernel makes of all of them.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace sg {

enum class HealthStatus { kHealthy, kDegraded, kUnhealthy };

/// "healthy", "degraded", "unhealthy".
std::string_view HealthStatusName(HealthStatus status);

/// The worse of two statuses.
inline HealthStatus Worst(HealthStatus a, HealthStatus b) { return a > b ? a : b; }

struct HealthReport {
  HealthStatus status = HealthStatus::kHealthy;
  std::string message;  // "" when healthy; otherwise what is wrong, for operators
};

}  // namespace sg
