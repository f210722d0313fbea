#include "daemon/plugin_api/catalogue.h"

#include <array>
#include <utility>

namespace sg {
namespace {

constexpr std::array<std::pair<VideoState, std::string_view>, 7> kStateNames = {{
    {VideoState::kUploading, "uploading"},
    {VideoState::kUploaded, "uploaded"},
    {VideoState::kQueued, "queued"},
    {VideoState::kProcessing, "processing"},
    {VideoState::kReady, "ready"},
    {VideoState::kFailed, "failed"},
    {VideoState::kDeleted, "deleted"},
}};

constexpr std::array<std::pair<Visibility, std::string_view>, 4> kVisibilityNames = {{
    {Visibility::kPublic, "public"},
    {Visibility::kUnlisted, "unlisted"},
    {Visibility::kPrivate, "private"},
    {Visibility::kGated, "gated"},
}};

template <typename Enum, size_t N>
std::string_view NameOf(const std::array<std::pair<Enum, std::string_view>, N>& names, Enum e) {
  for (const auto& [value, name] : names) {
    if (value == e) return name;
  }
  return "unknown";
}

template <typename Enum, size_t N>
std::optional<Enum> Parse(const std::array<std::pair<Enum, std::string_view>, N>& names,
                          std::string_view text) {
  for (const auto& [value, name] : names) {
    if (name == text) return value;
  }
  return std::nullopt;
}

}  // namespace

std::string_view VideoStateName(VideoState state) { return NameOf(kStateNames, state); }
std::string_view VisibilityName(Visibility visibility) {
  return NameOf(kVisibilityNames, visibility);
}
std::optional<VideoState> ParseVideoState(std::string_view name) {
  return Parse(kStateNames, name);
}
std::optional<Visibility> ParseVisibility(std::string_view name) {
  return Parse(kVisibilityNames, name);
}

Result<void> CheckTransition(VideoState from, VideoState to) {
  using S = VideoState;
  bool legal = false;
  if (to == S::kDeleted) {
    legal = from != S::kDeleted;
  } else {
    switch (from) {
      case S::kUploading:
        legal = to == S::kUploaded || to == S::kFailed;
        break;
      case S::kUploaded:
        legal = to == S::kQueued || to == S::kFailed;
        break;
      case S::kQueued:
        legal = to == S::kProcessing || to == S::kFailed;
        break;
      case S::kProcessing:
        legal = to == S::kReady || to == S::kFailed || to == S::kQueued;  // queued: lease lost
        break;
      case S::kReady:   // queued again: a re-transcode
      case S::kFailed:  // queued again: a retry
        legal = to == S::kQueued;
        break;
      case S::kDeleted:
        legal = false;
        break;
    }
  }
  if (legal) return {};
  return Fail(ErrorCode::kFailedPrecondition, "video state " + std::string(VideoStateName(from)) +
                                                  " cannot become " +
                                                  std::string(VideoStateName(to)));
}

}  // namespace sg
