// The video catalogue ("metadata" in the service registry): the one record of every video, and
// the one place where a video's state may change. Plugins reach it through this interface alone;
// in microservice mode the same interface is a client of the metadata process (catalogue_rpc.h).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sg {

/// uploading → uploaded → queued → processing → ready | failed; any state → deleted.
/// failed → queued is a retry; ready → queued a re-transcode. Nothing else is legal.
enum class VideoState { kUploading, kUploaded, kQueued, kProcessing, kReady, kFailed, kDeleted };
enum class Visibility { kPublic, kUnlisted, kPrivate, kGated };

/// Stable wire names ("processing", "gated"), used in the database, JSON and the CLI.
std::string_view VideoStateName(VideoState state);
std::string_view VisibilityName(Visibility visibility);
std::optional<VideoState> ParseVideoState(std::string_view name);
std::optional<Visibility> ParseVisibility(std::string_view name);

/// A video's gate as the catalogue keeps it: "" (none), "erc721:0x" + 40 hex digits, or
/// "erc1155:0x" + 40 hex digits + ":" + a decimal token id; the address in lower case.
/// kInvalidArgument saying what is wrong.
Result<std::string> NormalizeGate(std::string_view gate);

/// The state machine, in one place: ok when `from` may become `to`, else kFailedPrecondition
/// naming both ("video state processing cannot become uploading").
Result<void> CheckTransition(VideoState from, VideoState to);

/// One output of the transcoder: a ladder rung of an HLS or DASH presentation.
struct Rendition {
  std::string name;      // "720p"
  int width = 0;         // pixels
  int height = 0;        // pixels
  int64_t bitrate = 0;   // bits per second
  std::string codec;     // "avc1.64001f"
  std::string playlist;  // storage key of its media playlist, or empty
  bool operator==(const Rendition&) const = default;
};

struct Video {
  std::string id;  // 26 characters of Crockford base32 (a ULID): sorts by creation time
  std::string title;
  std::string description;
  std::string owner;  // the account that uploaded it
  Visibility visibility = Visibility::kPublic;
  VideoState state = VideoState::kUploading;
  int64_t source_size = 0;  // bytes
  std::string source_type;  // media type of the uploaded file ("video/mp4")
  std::string source_key;   // storage key of the uploaded file
  double duration = 0;      // seconds; 0 until probed
  std::vector<Rendition> renditions;
  std::string poster;          // storage key of the poster image, or empty
  int64_t created_at = 0;      // milliseconds since the Unix epoch
  int64_t updated_at = 0;      // milliseconds since the Unix epoch
  std::string failure_reason;  // why it failed, when state is kFailed
  /// The transcoder's latest progress, a JSON object ({"percent":42.5,"stage":"encoding",...});
  /// empty when none. Cleared when the video becomes processing; percent 100 once ready.
  std::string progress;
  /// Who may play it when gated: "erc721:0xCONTRACT" or "erc1155:0xCONTRACT:ID" (a holder of
  /// that token); empty for the server's default gate (web3.gate_contract).
  std::string gate;
  bool operator==(const Video&) const = default;
};

/// What a new video starts with; the catalogue sets id, state (kUploading) and the times.
struct NewVideo {
  std::string title;
  std::string description;
  std::string owner;
  Visibility visibility = Visibility::kPublic;
  int64_t source_size = 0;
  std::string source_type;
  std::string source_key;
  std::string id;  // empty: the catalogue makes one; else used as is (the upload's id, say)
};

/// The fields a client may change (PATCH); unset fields stay as they are.
struct VideoEdit {
  std::optional<std::string> title;
  std::optional<std::string> description;
  std::optional<Visibility> visibility;
  std::optional<std::string> gate = std::nullopt;  // "" clears it
};

/// A state change, with what comes with it. Unset fields stay as they are.
struct VideoTransition {
  VideoState to = VideoState::kQueued;
  std::optional<std::string> failure_reason;  // for kFailed
  std::optional<double> duration;
  std::optional<std::vector<Rendition>> renditions;
  std::optional<std::string> poster;
  std::optional<int64_t> source_size;
  std::optional<std::string> source_type;
  std::optional<std::string> source_key;
};

/// A page of the list, newest first (created_at descending, then id descending: a stable order).
struct VideoQuery {
  std::optional<VideoState> state;   // only videos in this state
  std::optional<std::string> owner;  // only this owner's
  bool include_deleted = false;      // deleted videos are left out unless asked for
  std::string cursor;                // from VideoPage::next_cursor; empty for the first page
  int limit = 20;                    // 1..kMaxPageSize
};
inline constexpr int kMaxPageSize = 200;

struct VideoPage {
  std::vector<Video> videos;
  std::string next_cursor;  // empty on the last page
};

/// Thread-safe; every call may block on the database: call it on the blocking pool. Errors:
/// kNotFound for an unknown id, kInvalidArgument for bad input (the message names the field; a
/// cursor this catalogue did not make is one), kFailedPrecondition for an illegal transition,
/// kUnavailable while the database cannot be reached.
class Catalogue {
 public:
  virtual ~Catalogue() = default;
  virtual Result<Video> Create(const NewVideo& video) = 0;
  virtual Result<Video> Get(const std::string& id) = 0;
  virtual Result<VideoPage> List(const VideoQuery& query) = 0;
  virtual Result<Video> Edit(const std::string& id, const VideoEdit& edit) = 0;
  virtual Result<Video> Transition(const std::string& id, const VideoTransition& transition) = 0;
  /// Records the transcoder's latest progress (a JSON object, at most kMaxProgressSize bytes)
  /// on a video that is processing; kFailedPrecondition when it is in any other state (a late
  /// event of a finished attempt), kNotFound for an unknown id. Leaves updated_at as it is.
  virtual Result<Video> SetProgress(const std::string& id, const std::string& progress) {
    (void)progress;
    return Fail(ErrorCode::kFailedPrecondition,
                "video " + id + ": this catalogue does not record progress");
  }
};

/// Calls `each` for every video in `state`, newest first, a page of kMaxPageSize at a time, for
/// at most `max_pages` pages, and stops early when `go_on` (if set) says no. The first error of
/// List ends it (what came before was handed to `each`).
Result<void> ForEachVideo(Catalogue& catalogue, VideoState state,
                          const std::function<void(const Video&)>& each,
                          const std::function<bool()>& go_on = {}, int max_pages = 1000);
inline constexpr size_t kMaxProgressSize = 4096;

}  // namespace sg
