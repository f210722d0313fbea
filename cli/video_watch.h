// Following a video until it is ready, failed or deleted: the server-sent events of the daemon's
// GET /api/v1/videos/{id}/events, read as they come, or, from a daemon without that route, a GET
// of the video every second. `streamgate videos watch` and `streamgate upload --wait` both use it.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace sg::cli {

/// One event of the stream: its name ("state", "progress") and its data (JSON text).
struct SseEvent {
  std::string id;
  std::string event;
  std::string data;
};

/// Splits server-sent events out of bytes as they arrive. Comments (": keepalive") are skipped.
class SseParser {
 public:
  /// Feeds bytes; returns the events they completed.
  std::vector<SseEvent> Feed(std::string_view bytes);

 private:
  std::string buffer_;
  SseEvent current_;
  bool has_data_ = false;
};

struct WatchOptions {
  std::string base_url;  // "http://127.0.0.1:8080", without a trailing slash
  std::string video;
  double timeout_seconds = 3600;
  bool json = false;                  // one JSON object a line on `out`
  bool terminal = false;              // a progress bar redrawn on `err`, else lines
  std::function<bool()> interrupted;  // checked while waiting: Ctrl-C
  std::string timeout_hint;           // what to do after a timeout ("run ... again")
};

/// How the watch ended: the exit code and, unless it is 0, what to say.
struct WatchOutcome {
  int exit_code = 0;
  std::string message;
};

/// Follows the video until it is ready (0), failed or deleted (1), unknown (5), the time is up
/// (1), the daemon cannot be reached (3) or `interrupted` says so (130). States go to `out` as
/// "state: NAME" lines (or JSON), progress to `err` (or JSON on `out`).
WatchOutcome WatchVideo(const WatchOptions& options, std::ostream& out, std::ostream& err);

}  // namespace sg::cli
