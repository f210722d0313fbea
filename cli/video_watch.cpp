#include "cli/video_watch.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <optional>
#include <ostream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/http_libs.h"
#include "cli/upload_progress.h"
#include "common/exit_codes.h"

namespace sg::cli {

std::vector<SseEvent> SseParser::Feed(std::string_view bytes) {
  std::vector<SseEvent> out;
  buffer_.append(bytes);
  size_t start = 0;
  for (;;) {
    const size_t nl = buffer_.find('\n', start);
    if (nl == std::string::npos) break;
    std::string line = buffer_.substr(start, nl - start);
    start = nl + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {  // the end of an event
      if (has_data_ || !current_.event.empty()) out.push_back(std::move(current_));
      current_ = {};
      has_data_ = false;
      continue;
    }
    if (line.front() == ':') continue;  // a comment: a keepalive
    const size_t colon = line.find(':');
    const std::string field = line.substr(0, colon);
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.erase(0, 1);
    if (field == "data") {
      if (has_data_) current_.data += '\n';
      current_.data += value;
      has_data_ = true;
    } else if (field == "event") {
      current_.event = value;
    } else if (field == "id") {
      current_.id = value;
    }
  }
  buffer_.erase(0, start);
  return out;
}

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr size_t kMaxErrorBody = 64 * 1024;

// One HTTP exchange's result: the status (0 when nothing answered) and the error body.
struct Exchange {
  long status = 0;
  std::string body;
  std::string error;  // curl's, when nothing answered or the connection broke
};

class Watcher {
 public:
  Watcher(const WatchOptions& o, std::ostream& out, std::ostream& err)
      : o_(o),
        out_(out),
        err_(err),
        deadline_(Clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(o.timeout_seconds * 1000))) {}

  WatchOutcome Run() {
    bool answered_once = false;
    for (;;) {
      Exchange ex = Stream();
      if (done_) return Finish(*done_);
      if (Interrupted()) return Finish(InterruptedOutcome());
      if (ex.status != 0) answered_once = true;
      if (ex.status == 404) {
        // The video is unknown, or the daemon is older than the events route: a GET tells.
        Exchange get = GetVideo();
        if (get.status == 404) return Finish(NotFound());
        if (get.status == 200) return Poll();
      }
      if (ex.status == 0 && !answered_once) {
        return Finish({kExitUnreachable,
                       fmt::format("cannot reach the daemon's HTTP listener: {}; is streamgated "
                                   "running ('streamgate status' shows its HTTP URL)?",
                                   ex.error)});
      }
      if (ex.status != 0 && ex.status != 200) {
        problem_ = fmt::format("HTTP {}", ex.status);
      } else if (!ex.error.empty()) {
        problem_ = ex.error;
      }
      // The stream ended without a final state (the daemon restarted, a proxy cut it): again.
      if (!Pause()) return Finish(Interrupted() ? InterruptedOutcome() : Timeout());
    }
  }

 private:
  bool Interrupted() const { return o_.interrupted && o_.interrupted(); }
  bool PastDeadline() const { return Clock::now() >= deadline_; }

  // Waits a second (less before the deadline); false when interrupted or out of time.
  bool Pause() {
    const auto until = std::min(Clock::now() + 1s, deadline_);
    while (Clock::now() < until) {
      if (Interrupted()) return false;
      std::this_thread::sleep_for(std::min<Clock::duration>(100ms, until - Clock::now()));
    }
    return !Interrupted() && !PastDeadline();
  }

  WatchOutcome NotFound() const {
    return {kExitNotFound, fmt::format("video {} is not in the catalogue (HTTP 404); check the id "
                                       "('streamgate videos list' shows them)",
                                       o_.video)};
  }
  WatchOutcome InterruptedOutcome() const {
    return {kExitInterrupted,
            fmt::format("stopped watching; video {} goes on without us: 'streamgate videos show "
                        "{}' shows its state",
                        o_.video, o_.video)};
  }
  WatchOutcome Timeout() const {
    return {kExitFailure,
            fmt::format("video {} is still {} after {}s (--timeout); it goes on without us: {}{}",
                        o_.video, last_state_.empty() ? "unknown" : "'" + last_state_ + "'",
                        o_.timeout_seconds, o_.timeout_hint,
                        problem_.empty() ? "" : " (last error: " + problem_ + ")")};
  }
  WatchOutcome Finish(WatchOutcome outcome) {
    EndBar();
    return outcome;
  }

  std::string Url(bool events) const {
    return o_.base_url + "/api/v1/videos/" + o_.video + (events ? "/events" : "");
  }

  // libcurl and a handle for one exchange; nullptr, with the reason in `ex.error`, when either
  // cannot be had.
  static CURL* NewHandle(Exchange& ex, const HttpLibs*& libs) {
    auto loaded = LoadHttpLibs();
    if (!loaded) {
      ex.error = loaded.error().message;
      return nullptr;
    }
    libs = *loaded;
    CURL* curl = libs->easy_init();
    if (curl == nullptr) ex.error = "libcurl could not make a handle";
    return curl;
  }

  // The events route, read until the video's final state, the end of the stream, an error
  // status, Ctrl-C or the deadline.
  Exchange Stream() {
    Exchange ex;
    const HttpLibs* libs = nullptr;
    CURL* curl = NewHandle(ex, libs);
    if (curl == nullptr) return ex;
    const HttpLibs& api = *libs;
    struct Ctx {
      Watcher* self;
      const HttpLibs* api;
      CURL* curl;
      Exchange* ex;
      SseParser parser;
      bool checked = false;
    } ctx{this, &api, curl, &ex, {}, false};
    const std::string url = Url(true);
    curl_slist* headers = api.slist_append(nullptr, "Accept: text/event-stream");
    api.easy_setopt(curl, CURLOPT_URL, url.c_str());
    api.easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    api.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    api.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    api.easy_setopt(
        curl, CURLOPT_WRITEFUNCTION,
        +[](char* data, size_t size, size_t count, void* user) -> size_t {
          auto* c = static_cast<Ctx*>(user);
          const size_t n = size * count;
          if (!c->checked) {
            c->api->easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &c->ex->status);
            c->checked = true;
          }
          if (c->ex->status != 200) {
            if (c->ex->body.size() < kMaxErrorBody) c->ex->body.append(data, n);
            return n;
          }
          for (auto& e : c->parser.Feed(std::string_view(data, n))) c->self->OnEvent(e);
          return c->self->done_ ? 0 : n;  // 0 ends the transfer: the video is done
        });
    api.easy_setopt(curl, CURLOPT_WRITEDATA, &ctx);
    api.easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    api.easy_setopt(
        curl, CURLOPT_XFERINFOFUNCTION,
        +[](void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
          auto* c = static_cast<Ctx*>(user);
          return c->self->Interrupted() || c->self->PastDeadline() ? 1 : 0;
        });
    api.easy_setopt(curl, CURLOPT_XFERINFODATA, &ctx);
    const CURLcode code = api.easy_perform(curl);
    if (!ctx.checked) api.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ex.status);
    if (code != CURLE_OK && code != CURLE_WRITE_ERROR && code != CURLE_ABORTED_BY_CALLBACK) {
      ex.error = fmt::format("GET {}: {}", url, api.easy_strerror(code));
    }
    api.slist_free_all(headers);
    api.easy_cleanup(curl);
    return ex;
  }

  Exchange GetVideo() {
    Exchange ex;
    const HttpLibs* libs = nullptr;
    CURL* curl = NewHandle(ex, libs);
    if (curl == nullptr) return ex;
    const HttpLibs& api = *libs;
    const std::string url = Url(false);
    api.easy_setopt(curl, CURLOPT_URL, url.c_str());
    api.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    api.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    api.easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    api.easy_setopt(
        curl, CURLOPT_WRITEFUNCTION,
        +[](char* data, size_t size, size_t count, void* user) -> size_t {
          auto* body = static_cast<std::string*>(user);
          if (body->size() < kMaxErrorBody) body->append(data, size * count);
          return size * count;
        });
    api.easy_setopt(curl, CURLOPT_WRITEDATA, &ex.body);
    const CURLcode code = api.easy_perform(curl);
    if (code == CURLE_OK) {
      api.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ex.status);
    } else {
      ex.error = fmt::format("GET {}: {}", url, api.easy_strerror(code));
    }
    api.easy_cleanup(curl);
    return ex;
  }

  // A daemon without the events route: the video's record every second.
  WatchOutcome Poll() {
    for (;;) {
      Exchange ex = GetVideo();
      if (ex.status == 200) {
        const json video = json::parse(ex.body, nullptr, false);
        if (video.is_object()) OnVideo(video);
        if (done_) return Finish(*done_);
      } else if (ex.status == 404) {
        return Finish(NotFound());
      } else {
        problem_ =
            ex.status != 0 ? fmt::format("GET {}: HTTP {}", Url(false), ex.status) : ex.error;
      }
      if (!Pause()) return Finish(Interrupted() ? InterruptedOutcome() : Timeout());
    }
  }

  void OnEvent(const SseEvent& e) {
    const json data = json::parse(e.data, nullptr, false);
    if (!data.is_object()) return;
    if (e.event == "state") OnVideo(data);
    if (e.event == "progress") OnProgress(data);
  }

  void Print(const json& j) {
    out_ << j.dump(-1, ' ', false, json::error_handler_t::replace) << '\n' << std::flush;
  }

  void OnVideo(const json& v) {
    const std::string state = v.value("state", "");
    if (state.empty()) return;
    if (state != last_state_) {
      last_state_ = state;
      const std::string reason = v.value("failure_reason", "");
      if (o_.json) {
        json event = {{"event", "state"}, {"video", o_.video}, {"state", state}};
        if (!reason.empty()) event["failure_reason"] = reason;
        Print(event);
      } else {
        EndBar();
        out_ << "state: " << state << '\n' << std::flush;
      }
      if (state == "processing" && v.contains("progress") && v["progress"].is_object()) {
        OnProgress(v["progress"]);
      }
      if (state == "ready") {
        if (!o_.json && v.contains("progress") && v["progress"].is_object()) {
          OnProgress(v["progress"]);
        }
        done_ = WatchOutcome{kExitOk, ""};
      } else if (state == "failed") {
        done_ = WatchOutcome{kExitFailure,
                             fmt::format("video {} failed{}; 'streamgate videos show {}' says more",
                                         o_.video, reason.empty() ? "" : ": " + reason, o_.video)};
      } else if (state == "deleted") {
        done_ = WatchOutcome{kExitFailure, fmt::format("video {} was deleted", o_.video)};
      }
    }
  }

  static std::string ProgressText(const json& p) {
    const double percent = p.value("percent", 0.0);
    const int width = 24;
    const int filled = std::clamp(static_cast<int>(percent / 100.0 * width), 0, width);
    std::string text = "[" + std::string(static_cast<size_t>(filled), '#') +
                       std::string(static_cast<size_t>(width - filled), ' ') + "] " +
                       fmt::format("{:5.1f}%", percent);
    if (p.contains("stage") && p["stage"].is_string()) text += " " + p["stage"].get<std::string>();
    if (p.contains("rendition") && p["rendition"].is_string()) {
      text += " " + p["rendition"].get<std::string>();
    }
    if (p.contains("fps") && p["fps"].is_number()) {
      text += fmt::format("  {:.0f} fps", p["fps"].get<double>());
    }
    if (p.contains("speed") && p["speed"].is_number()) {
      text += fmt::format("  {:.1f}x", p["speed"].get<double>());
    }
    if (p.contains("eta_seconds") && p["eta_seconds"].is_number()) {
      text += "  ETA " + HumanEta(p["eta_seconds"].get<double>());
    }
    return text;
  }

  void OnProgress(const json& p) {
    if (!p.contains("percent") || !p["percent"].is_number()) return;
    if (o_.json) {
      // "transcode", not "progress": upload --json says "progress" of its bytes.
      json event = {{"event", "transcode"}, {"video", o_.video}};
      for (const auto& [key, value] : p.items()) {
        if (key != "video") event[key] = value;
      }
      Print(event);
      return;
    }
    const std::string text = ProgressText(p);
    if (o_.terminal) {
      err_ << '\r' << text << "\x1b[K" << std::flush;
      bar_drawn_ = true;
      return;
    }
    // Elsewhere a line every 10% or 5 s.
    const double percent = p.value("percent", 0.0);
    const int decile = static_cast<int>(percent / 10);
    const auto now = Clock::now();
    if (decile != last_decile_ || now - last_line_ >= 5s || percent >= 100) {
      if (percent >= 100 && last_decile_ == 10) return;
      last_decile_ = decile;
      last_line_ = now;
      err_ << "progress: " << text << '\n' << std::flush;
    }
  }

  void EndBar() {
    if (bar_drawn_) err_ << '\n' << std::flush;
    bar_drawn_ = false;
  }

  const WatchOptions& o_;
  std::ostream& out_;
  std::ostream& err_;
  const Clock::time_point deadline_;
  std::string last_state_;
  std::string problem_;
  std::optional<WatchOutcome> done_;
  bool bar_drawn_ = false;
  int last_decile_ = -1;
  Clock::time_point last_line_{};
};

}  // namespace

WatchOutcome WatchVideo(const WatchOptions& options, std::ostream& out, std::ostream& err) {
  Watcher watcher(options, out, err);
  return watcher.Run();
}

}  // namespace sg::cli
