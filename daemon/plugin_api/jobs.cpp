#include "daemon/plugin_api/jobs.h"

#include <array>
#include <utility>

namespace sg {
namespace {

constexpr std::array<std::pair<JobState, std::string_view>, 5> kJobStateNames = {{
    {JobState::kQueued, "queued"},
    {JobState::kRunning, "running"},
    {JobState::kSucceeded, "succeeded"},
    {JobState::kDead, "dead"},
    {JobState::kCancelled, "cancelled"},
}};

}  // namespace

std::string_view JobStateName(JobState state) {
  for (const auto& [value, name] : kJobStateNames) {
    if (value == state) return name;
  }
  return "unknown";
}

std::optional<JobState> ParseJobState(std::string_view name) {
  for (const auto& [value, text] : kJobStateNames) {
    if (text == name) return value;
  }
  return std::nullopt;
}

}  // namespace sg
