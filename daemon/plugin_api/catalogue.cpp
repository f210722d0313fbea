#include "daemon/plugin_api/catalogue.h"

#include <array>
#include <cctype>
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

Result<std::string> NormalizeGate(std::string_view gate) {
  if (gate.empty()) return std::string();
  auto bad = [&] {
    return Fail(ErrorCode::kInvalidArgument,
                "gate: '" + std::string(gate.substr(0, 100)) +
                    "' is not erc721:0xCONTRACT or erc1155:0xCONTRACT:TOKEN_ID");
  };
  std::string_view rest = gate;
  std::string out;
  bool erc1155 = false;
  if (rest.starts_with("erc721:")) {
    rest.remove_prefix(7);
    out = "erc721:";
  } else if (rest.starts_with("erc1155:")) {
    rest.remove_prefix(8);
    out = "erc1155:";
    erc1155 = true;
  } else {
    return bad();
  }
  if (rest.size() < 42 || !(rest.starts_with("0x") || rest.starts_with("0X"))) return bad();
  out += "0x";
  for (size_t i = 2; i < 42; ++i) {
    const char c = rest[i];
    if (!std::isxdigit(static_cast<unsigned char>(c))) return bad();
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  rest.remove_prefix(42);
  if (!erc1155) return rest.empty() ? Result<std::string>(out) : bad();
  if (!rest.starts_with(":") || rest.size() < 2 || rest.size() > 79) return bad();
  rest.remove_prefix(1);
  for (const char c : rest) {
    if (c < '0' || c > '9') return bad();
  }
  return out + ":" + std::string(rest);
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

Result<void> ForEachVideo(Catalogue& catalogue, VideoState state,
                          const std::function<void(const Video&)>& each,
                          const std::function<bool()>& go_on, int max_pages) {
  VideoQuery query;
  query.state = state;
  query.limit = kMaxPageSize;
  for (int pages = 0; pages < max_pages && (!go_on || go_on()); ++pages) {
    auto page = catalogue.List(query);
    if (!page) return page.error();
    for (const auto& video : page->videos) each(video);
    if (page->next_cursor.empty()) break;
    query.cursor = page->next_cursor;
  }
  return {};
}

}  // namespace sg
