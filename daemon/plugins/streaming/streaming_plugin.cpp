#include "daemon/plugins/streaming/streaming_plugin.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log_record.h"
#include "daemon/plugin_api/access_guard.h"
#include "daemon/plugin_api/cache.h"
#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/http_conditional.h"
#include "daemon/plugin_api/registration.h"
#include "daemon/plugins/streaming/streaming_config.h"

namespace sg::plugins {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr std::string_view kPattern = "/videos/{id}/{file}";
// The same files behind a playback capability (private and gated videos): relative URIs in the
// playlists keep the prefix, so every segment request carries it.
constexpr std::string_view kCapabilityPattern = "/p/{cap}/videos/{id}/{file}";
constexpr const char* kImmutable = "public, max-age=31536000, immutable";

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// What a file of a video is; metrics label it with these names.
enum class Kind { kMaster, kPlaylist, kManifest, kInit, kSegment, kPoster, kCount };
constexpr const char* kKindNames[] = {"master", "playlist", "manifest",
                                      "init",   "segment",  "poster"};
static_assert(std::size(kKindNames) == static_cast<size_t>(Kind::kCount));

// Why a request got no media, as metrics labels: a fixed set.
enum class Reason {
  kBadPath,
  kNotFound,
  kGone,
  kNotReady,
  kPrivate,
  kStorage,
  kCatalogue,
  kOverloaded,
  kCapability,
  kCount
};
constexpr const char* kReasonNames[] = {"bad_path",  "not_found",  "gone",
                                        "not_ready", "private",    "storage",
                                        "catalogue", "overloaded", "capability"};
static_assert(std::size(kReasonNames) == static_cast<size_t>(Reason::kCount));

// Takes `prefix`, then `min` to `max` decimal digits, from the front of `s`.
bool TakeDigits(std::string_view& s, std::string_view prefix, size_t min, size_t max) {
  if (!s.starts_with(prefix)) return false;
  s.remove_prefix(prefix.size());
  size_t n = 0;
  while (n < s.size() && n < max + 1 && s[n] >= '0' && s[n] <= '9') ++n;
  if (n < min || n > max) return false;
  s.remove_prefix(n);
  return true;
}

// The file names the transcoder writes, and nothing else: no traversal can get through.
// media_N.m3u8, init-N.m4s, seg-N-NNNNN.m4s (N: 1 to 3 digits; the number 5 to 9), matched by
// hand on every request: no allocation, no regex.
std::optional<Kind> KindOf(std::string_view file) {
  if (file == "master.m3u8") return Kind::kMaster;
  if (file == "manifest.mpd") return Kind::kManifest;
  if (file == "poster.jpg") return Kind::kPoster;
  std::string_view s = file;
  if (TakeDigits(s, "media_", 1, 3) && s == ".m3u8") return Kind::kPlaylist;
  s = file;
  if (TakeDigits(s, "init-", 1, 3) && s == ".m4s") return Kind::kInit;
  s = file;
  if (TakeDigits(s, "seg-", 1, 3) && TakeDigits(s, "-", 5, 9) && s == ".m4s") {
    return Kind::kSegment;
  }
  return std::nullopt;
}

// A video id: 26 characters of Crockford base32.
bool ValidId(std::string_view id) {
  if (id.size() != 26) return false;
  for (const char c : id) {
    const bool digit = c >= '0' && c <= '9';
    const bool upper = c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U';
    if (!digit && !upper) return false;
  }
  return true;
}

const char* ContentType(Kind kind) {
  switch (kind) {
    case Kind::kMaster:
    case Kind::kPlaylist:
      return "application/vnd.apple.mpegurl";
    case Kind::kManifest:
      return "application/dash+xml";
    case Kind::kInit:
      return "video/mp4";
    case Kind::kSegment:
      return "video/iso.segment";
    case Kind::kPoster:
      return "image/jpeg";
    case Kind::kCount:
      break;
  }
  return "application/octet-stream";
}

std::string KeyOf(std::string_view id, std::string_view file, Kind kind) {
  if (kind == Kind::kPoster) return fmt::format("videos/{}/poster.jpg", id);
  return fmt::format("videos/{}/stream/{}", id, file);
}

struct Settings {
  std::chrono::milliseconds playlist_max_age{10000};
  std::chrono::milliseconds state_ttl{5000};
  uint64_t cache_max_object = uint64_t{8} << 20;
  std::chrono::milliseconds cache_ttl{3600 * 1000};
  std::vector<std::string> cors_origins = {"*"};
};

// A video's playability, as last read from the catalogue.
struct Known {
  std::optional<VideoState> state;  // unset: no such video
  Visibility visibility = Visibility::kPublic;
  SteadyClock::time_point until;
};

struct Shared {
  std::shared_ptr<spdlog::logger> logger;
  Settings settings;
  Storage* storage = nullptr;
  BlockingPool* blocking = nullptr;
  ServiceRegistry* services = nullptr;
  std::shared_ptr<AccessGuard> access;  // checks playback capabilities; null: none are good
  bool local = false;                   // the store is local files: zero-copy sends

  mutable std::mutex mu;
  std::map<std::string, Known> known;  // guarded by mu
  std::array<std::array<uint64_t, 6>, static_cast<size_t>(Kind::kCount)> answers{};  // by class
  std::array<uint64_t, static_cast<size_t>(Reason::kCount)> failures{};              // guarded
  std::atomic<uint64_t> state_hits{0};
  std::atomic<uint64_t> state_reads{0};
  std::atomic<uint64_t> cache_requests{0};
  std::atomic<uint64_t> cache_loads{0};
  std::atomic<uint64_t> bytes_from_store{0};
  std::atomic<uint64_t> ranged{0};

  void Answered(Kind kind, unsigned status) {
    std::lock_guard lock(mu);
    ++answers[static_cast<size_t>(kind)][std::min(status / 100, 5U)];
  }
  void Failed(Reason reason) {
    std::lock_guard lock(mu);
    ++failures[static_cast<size_t>(reason)];
  }
  std::optional<Known> Fresh(const std::string& id) const {
    std::lock_guard lock(mu);
    auto it = known.find(id);
    if (it == known.end() || SteadyClock::now() >= it->second.until) return std::nullopt;
    return it->second;
  }
  void Forget(const std::string& id) {
    std::lock_guard lock(mu);
    known.erase(id);
  }
  void Remember(const std::string& id, const Known& k) {
    std::lock_guard lock(mu);
    if (known.size() >= 100000) known.clear();  // bounded: a scan of ids costs a re-read
    known[id] = k;
  }
};

HttpResponse Problem(unsigned status, std::string_view code, std::string message,
                     std::string hint) {
  HttpResponse res;
  res.status = status;
  res.body = Dump({{"error", std::move(message)}, {"code", code}, {"hint", std::move(hint)}});
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

// An object of a remote store as the cache keeps it: a small header, then the bytes. Decoded in
// place: `bytes` lies in `whole`, which the response then keeps alive, so no copy is made.
struct Cached {
  std::string etag;
  std::time_t modified = 0;
  std::shared_ptr<const SharedBytes> whole;
  std::string_view bytes;
};

// "sg2\n" ETAG "\n" MODIFIED "\n" PADDING "\n" BYTES (an ETag never holds a newline: it is a
// header line's value, or ours). A value large enough to be held in a file of its own
// (SharedBytes) is padded with spaces so that its bytes start on a page: sendfile from a
// page-aligned offset moves whole pages, where from the header's end each page went out as two
// pieces, twice the pipe buffers and socket fragments (a 1 MiB segment from S3 ran at 0.8x the
// local file's rate).
std::string EncodeCached(const ObjectInfo& info, const std::string& bytes) {
  static const size_t page = static_cast<size_t>(std::max(4096L, ::sysconf(_SC_PAGESIZE)));
  const auto modified = std::chrono::system_clock::to_time_t(info.modified);
  std::string out = fmt::format("sg2\n{}\n{}\n", info.etag, static_cast<int64_t>(modified));
  size_t pad = 0;
  if (out.size() + 1 + bytes.size() >= SharedBytes::kFileThreshold)
    pad = (page - (out.size() + 1) % page) % page;
  out.reserve(out.size() + pad + 1 + bytes.size());
  out.append(pad, ' ');
  out += '\n';
  out += bytes;
  return out;
}

std::optional<Cached> DecodeCached(std::shared_ptr<const SharedBytes> whole) {
  if (whole == nullptr) return std::nullopt;
  const std::string_view text = whole->view();
  if (text.rfind("sg2\n", 0) != 0) return std::nullopt;
  const size_t a = text.find('\n', 4);
  if (a == std::string_view::npos) return std::nullopt;
  const size_t b = text.find('\n', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  const size_t c = text.find('\n', b + 1);
  if (c == std::string_view::npos) return std::nullopt;
  Cached out;
  out.etag = std::string(text.substr(4, a - 4));
  const std::string_view number = text.substr(a + 1, b - a - 1);
  int64_t modified = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), modified);
  if (ec != std::errc() || end != number.data() + number.size()) return std::nullopt;
  out.modified = static_cast<std::time_t>(modified);
  out.bytes = text.substr(c + 1);
  out.whole = std::move(whole);
  return out;
}

// A range of a large remote object, read a megabyte at a time on the blocking pool.
class ObjectSource final : public HttpBodySource,
                           public std::enable_shared_from_this<ObjectSource> {
 public:
  ObjectSource(std::shared_ptr<Shared> shared, std::unique_ptr<ObjectReader> reader)
      : s_(std::move(shared)), reader_(std::move(reader)) {}
  void Read(ChunkFn fn) override {
    if (!s_->blocking->Submit([self = shared_from_this(), fn] {
          std::string piece(size_t{1} << 20, '\0');
          auto got = self->reader_->Read(piece.data(), piece.size());
          if (!got) return fn(got.error());
          piece.resize(*got);
          self->s_->bytes_from_store.fetch_add(*got);
          self->delivered_ += *got;
          fn(HttpBodyChunk{std::move(piece),
                           *got == 0 || self->delivered_ >= self->reader_->length()});
        })) {
      fn(Fail(ErrorCode::kUnavailable, "the blocking pool is full"));
    }
  }

 private:
  std::shared_ptr<Shared> s_;
  std::unique_ptr<ObjectReader> reader_;
  uint64_t delivered_ = 0;  // bytes handed to the server so far
};

class StreamingPlugin final : public Plugin {
 public:
  std::string_view Name() const override { return "streaming"; }
  std::string_view Version() const override { return "1.0.0"; }
  std::vector<std::string> ConfigKeys() const override { return StreamingConfig().Reads(); }

  Result<void> Init(PluginContext& context) override {
    const config::Config& config = *context.config;
    shared_ = std::make_shared<Shared>();
    Shared& s = *shared_;
    s.logger = context.logger;
    s.storage = context.storage;
    s.blocking = context.blocking;
    s.services = context.services;
    if (auto access = context.services->Find<AccessGuard>("access")) s.access = *access;
    s.settings.playlist_max_age = config.Duration("streaming.playlist_max_age");
    s.settings.state_ttl = config.Duration("streaming.state_ttl");
    s.settings.cache_max_object = static_cast<uint64_t>(config.Int("streaming.cache_max_object"));
    s.settings.cache_ttl = config.Duration("streaming.cache_ttl");
    s.settings.cors_origins = config.List("streaming.cors_origins");
    bus_ = context.bus;
    router_ = context.router;
    metrics_ = context.metrics;
    if (s.storage == nullptr) {
      return Fail(ErrorCode::kConfig, "streaming: no media store (storage.*) to serve from");
    }
    s.local = s.storage->Kind() == "local";
    if (router_ == nullptr) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "streaming: the api-gateway is not running here; the streaming plugin serves "
                  "/videos/ on its router");
    }
    return {};
  }

  Result<void> Start() override {
    auto s = shared_;
    CorsPolicy cors;
    cors.allow_origins = s->settings.cors_origins;
    cors.allow_headers = {"Range", "If-None-Match", "If-Modified-Since", "If-Range"};
    cors.expose_headers = {"Content-Length", "Content-Range", "Accept-Ranges", "ETag",
                           "Last-Modified"};
    cors.max_age_seconds = 86400;
    for (const auto pattern : {kPattern, kCapabilityPattern}) {
      router_->SetCors(std::string(pattern), cors);
      auto route = router_->AddAsyncRoute(
          "GET", std::string(pattern),
          [s](const HttpRequest& req, const std::shared_ptr<HttpResponder>& responder) {
            Serve(s, req, responder);
          });
      if (!route) return route.error().Wrap("streaming: add the route " + std::string(pattern));
      routes_.emplace_back([router = router_, id = *route] { router->RemoveRoute(id); });
    }
    // A state change ends what is known of the video at once.
    if (bus_ != nullptr) {
      auto subscribed = Subscribe(*bus_, "video.state", [s](const Message& message) {
        const json event = json::parse(message.data, nullptr, false);
        if (event.is_object()) s->Forget(event.value("video", ""));
      });
      if (subscribed) {
        subscription_ = std::move(*subscribed);
      } else {
        s->logger->warn(log::With("Cannot hear video.state; states are re-read after state_ttl",
                                  {{"error", subscribed.error().message}}));
      }
    }
    if (metrics_ != nullptr) {
      collector_ =
          AddCollector(*metrics_, [s](std::vector<MetricFamily>& out) { Collect(*s, out); });
    }
    s->logger->info(
        log::With("Streams served at /videos/ID/master.m3u8 and manifest.mpd",
                  {{"store", std::string(s->storage->Kind())}, {"zero_copy", s->local}}));
    return {};
  }

  void Stop(Deadline) override {
    routes_.clear();
    subscription_.Reset();
    collector_.Reset();
  }

  HealthReport CheckHealth() const override {
    const Shared& s = *shared_;
    if (auto catalogue = s.services->Find<Catalogue>("metadata"); !catalogue) {
      return {HealthStatus::kDegraded,
              "no catalogue: streams answer 503 until the metadata plugin runs (" +
                  catalogue.error().message + ")"};
    }
    return {
        HealthStatus::kHealthy,
        fmt::format("{} store{}", s.storage->Kind(),
                    s.local ? ", zero-copy" : ", objects cached up to streaming.cache_max_object")};
  }

 private:
  // Runs on an I/O thread: answers at once when the video's state is known and the store is
  // local, else on the blocking pool.
  static void Serve(const std::shared_ptr<Shared>& s, const HttpRequest& req,
                    const std::shared_ptr<HttpResponder>& responder) {
    const std::string id(req.Param("id"));
    const std::string file(req.Param("file"));
    const auto kind = KindOf(file);
    if (!ValidId(id) || !kind) {
      s->Failed(Reason::kBadPath);
      return responder->Send(Problem(404, "not_found",
                                     "no such stream file: /videos/" + id + "/" + file,
                                     "streams are /videos/ID/master.m3u8 (HLS) and "
                                     "/videos/ID/manifest.mpd (DASH)"));
    }
    // A capability is checked here, on the I/O thread: an HMAC over a few bytes, no I/O.
    bool granted = false;
    if (const std::string_view cap = req.Param("cap"); !cap.empty()) {
      auto checked = s->access == nullptr
                         ? Result<Capability>(Fail(ErrorCode::kPermissionDenied,
                                                   "this process cannot check capabilities"))
                         : VerifyCapability(*s->access->Keys(), cap, id,
                                            static_cast<int64_t>(std::time(nullptr)));
      if (!checked) {
        s->Failed(Reason::kCapability);
        s->Answered(*kind, 403);
        return responder->Send(
            Problem(403, "bad_capability", checked.error().message,
                    "get a new playback URL: GET /api/v1/videos/" + id + "/playback"));
      }
      granted = true;
    }
    if (auto known = s->Fresh(id)) {
      const ConditionalHeaders headers{req.Header("If-None-Match"), req.Header("If-Modified-Since"),
                                       req.Header("Range"), req.Header("If-Range"), true};
      if (s->local) {
        s->state_hits.fetch_add(1);
        return responder->Send(Answer(s, id, file, *kind, *known, granted, &headers));
      }
      // A remote object that the cache holds in this process's memory is answered here too.
      if (auto peeked = Peek(*s, KeyOf(id, file, *kind))) {
        s->state_hits.fetch_add(1);
        return responder->Send(
            Answer(s, id, file, *kind, *known, granted, &headers, std::move(peeked)));
      }
    }
    struct Call {
      std::string id, file, if_none_match, if_modified_since, range, if_range;
      bool head = false;
      bool granted = false;
    };
    Call call{id,
              file,
              std::string(req.Header("If-None-Match")),
              std::string(req.Header("If-Modified-Since")),
              std::string(req.Header("Range")),
              std::string(req.Header("If-Range")),
              req.method == "HEAD",
              granted};
    const Kind k = *kind;
    if (!s->blocking->Submit([s, call, k, responder] {
          Known known;
          if (auto fresh = s->Fresh(call.id)) {
            s->state_hits.fetch_add(1);
            known = *fresh;
          } else {
            auto read = Lookup(*s, call.id);
            if (!read) {
              s->Failed(Reason::kCatalogue);
              s->Answered(k, 503);
              return responder->Send(Problem(503, "unavailable", read.error().message,
                                             "the catalogue cannot be reached now; try again "
                                             "shortly, and see 'streamgate health'"));
            }
            known = *read;
          }
          const ConditionalHeaders headers{call.if_none_match, call.if_modified_since, call.range,
                                           call.if_range, true};
          responder->Send(Answer(s, call.id, call.file, k, known, call.granted, &headers));
        })) {
      s->Failed(Reason::kOverloaded);
      s->Answered(*kind, 503);
      HttpResponse busy = Problem(503, "unavailable",
                                  "the daemon is overloaded: its queue of blocking work is full",
                                  "try again shortly");
      busy.headers.emplace_back("Retry-After", "1");
      responder->Send(std::move(busy));
    }
  }

  // The video's state from the catalogue, remembered for streaming.state_ttl.
  static Result<Known> Lookup(Shared& s, const std::string& id) {
    auto catalogue = s.services->Find<Catalogue>("metadata");
    if (!catalogue) return catalogue.error();
    s.state_reads.fetch_add(1);
    Known known;
    known.until = SteadyClock::now() + s.settings.state_ttl;
    auto video = (*catalogue)->Get(id);
    if (video) {
      known.state = video->state;
      known.visibility = video->visibility;
    } else if (video.error().code != ErrorCode::kNotFound) {
      return video.error();
    }
    s.Remember(id, known);
    return known;
  }

  // The answer for a video whose state is known: the media, or why not. `headers`: the
  // request's validators and range, which the server applies itself to a file answer.
  static HttpResponse Answer(const std::shared_ptr<Shared>& shared, const std::string& id,
                             const std::string& file, Kind kind, const Known& known, bool granted,
                             const ConditionalHeaders* headers,
                             std::shared_ptr<const SharedBytes> peeked = nullptr) {
    Shared& s = *shared;
    auto refuse = [&](Reason reason, HttpResponse res) {
      s.Failed(reason);
      s.Answered(kind, res.status);
      return res;
    };
    if (!known.state) {
      return refuse(Reason::kNotFound,
                    Problem(404, "not_found", "no video " + id,
                            "check the id; GET /api/v1/videos lists the videos there are"));
    }
    if (*known.state == VideoState::kDeleted) {
      return refuse(Reason::kGone, Problem(410, "gone", "video " + id + " was deleted",
                                           "it cannot be played any more"));
    }
    if (*known.state != VideoState::kReady) {
      HttpResponse res = Problem(
          409, "not_ready",
          fmt::format("video {} is {}, not ready to play", id, VideoStateName(*known.state)),
          "wait until it is ready: GET /api/v1/videos/" + id + "/events follows it");
      res.headers.emplace_back("Retry-After", "5");
      return refuse(Reason::kNotReady, std::move(res));
    }
    if (!granted &&
        (known.visibility == Visibility::kPrivate || known.visibility == Visibility::kGated)) {
      return refuse(Reason::kPrivate,
                    Problem(403, "forbidden",
                            fmt::format("video {} is {}: it plays only from a playback URL", id,
                                        VisibilityName(known.visibility)),
                            "get one: GET /api/v1/videos/" + id +
                                "/playback (with the owner's token, or a wallet's for a "
                                "gated video)"));
    }
    const std::string key = KeyOf(id, file, kind);
    const bool changes =
        kind == Kind::kMaster || kind == Kind::kPlaylist || kind == Kind::kManifest;
    const std::string cache_control =
        changes ? fmt::format("public, max-age={}", s.settings.playlist_max_age.count() / 1000)
                : kImmutable;
    if (s.local) {
      auto path = s.storage->LocalPath(key);
      if (!path) return refuse(Reason::kBadPath, Problem(404, "not_found", "no such file", ""));
      if (changes) {
        if (auto res = SmallFromMemory(shared, *path, key, kind, cache_control, *headers)) {
          return std::move(*res);
        }
      }
      HttpResponse res;
      res.file = *path;
      res.content_type = ContentType(kind);
      res.headers.emplace_back("Cache-Control", cache_control);
      s.Answered(kind, 200);
      return res;
    }
    return FromRemote(shared, key, kind, cache_control, *headers, DecodeCached(std::move(peeked)));
  }

  // The cache key of an object: versioned with the encoding (EncodeCached), so that processes of
  // two releases sharing a Redis cache during an upgrade never read each other's values.
  static std::string CacheKey(const std::string& key) { return "streaming:2:" + key; }

  // How long a playlist or manifest stays cached: its max-age, at least a second.
  static std::chrono::milliseconds PlaylistTtl(const Shared& s) {
    return std::max<std::chrono::milliseconds>(s.settings.playlist_max_age,
                                               std::chrono::seconds(1));
  }

  // A playlist or manifest of the local store from the in-process cache (never Redis: this runs
  // on the I/O thread), as a cached remote object is answered: one write instead of an open, a
  // sendfile and a close, a third of such a request's cost. The file's stat is its validator on
  // every request, so a file written anew is read again at once, and the ETag is the one the server
  // gives the file itself. Null when there is no in-process cache, the file is not a small regular
  // one, or it cannot be read (the file answer then says why).
  static std::optional<HttpResponse> SmallFromMemory(const std::shared_ptr<Shared>& shared,
                                                     const std::string& path,
                                                     const std::string& key, Kind kind,
                                                     const std::string& cache_control,
                                                     const ConditionalHeaders& headers) {
    constexpr int64_t kSmall = 64 * 1024;
    Shared& s = *shared;
    const auto cache = CacheOf(s);
    struct stat st {};
    if (cache == nullptr || !cache->InProcess() || ::stat(path.c_str(), &st) != 0 ||
        !S_ISREG(st.st_mode) || st.st_size > kSmall) {
      return std::nullopt;
    }
    const std::string cache_key = CacheKey(key);
    std::optional<Cached> cached = DecodeCached(cache->Peek(cache_key));
    if (!cached || cached->etag != StrongETag(FileMetaOf(st))) {
      // Read by one descriptor, whose own stat names what was read.
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return std::nullopt;
      std::string bytes;
      bool whole = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= kSmall;
      if (whole) {
        bytes.resize(static_cast<size_t>(st.st_size));
        size_t got = 0;
        while (got < bytes.size()) {
          const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) break;
          got += static_cast<size_t>(n);
        }
        whole = got == bytes.size();
      }
      ::close(fd);
      if (!whole) return std::nullopt;
      ObjectInfo info;
      info.etag = StrongETag(FileMetaOf(st));
      info.modified = std::chrono::system_clock::from_time_t(st.st_mtim.tv_sec);
      std::string encoded = EncodeCached(info, bytes);
      (void)cache->Set(cache_key, encoded, PlaylistTtl(s));
      cached = DecodeCached(SharedBytes::InMemory(std::move(encoded)));
    }
    return FromRemote(shared, key, kind, cache_control, headers, std::move(cached));
  }

  // The cache service, or null when no cache plugin runs.
  static std::shared_ptr<Cache> CacheOf(const Shared& s) {
    auto found = s.services->Find<Cache>("cache");
    return found ? *found : nullptr;
  }

  // The cached copy of a remote object, when the cache can give it without waiting.
  static std::shared_ptr<const SharedBytes> Peek(Shared& s, const std::string& key) {
    const auto cache = CacheOf(s);
    auto hit = cache == nullptr ? nullptr : cache->Peek(CacheKey(key));
    if (hit != nullptr) s.cache_requests.fetch_add(1);
    return hit;
  }

  // An object of a remote store, with validators and one range applied here. `cached`: the
  // cached copy when the I/O thread found one (then nothing here blocks); SmallFromMemory
  // answers a local playlist through here that way too.
  static HttpResponse FromRemote(const std::shared_ptr<Shared>& shared, const std::string& key,
                                 Kind kind, const std::string& cache_control,
                                 const ConditionalHeaders& headers, std::optional<Cached> cached) {
    Shared& s = *shared;
    auto missing = [&](const Error& error) {
      const bool gone = error.code == ErrorCode::kNotFound;
      s.Failed(gone ? Reason::kNotFound : Reason::kStorage);
      HttpResponse res =
          gone ? Problem(404, "not_found", "the stream has no " + key.substr(key.rfind('/') + 1),
                         "the video's files are incomplete; transcode it again")
               : Problem(503, "unavailable", "the media store failed: " + error.message,
                         "try again shortly; 'streamgate health' says more");
      s.Answered(kind, res.status);
      return res;
    };
    // A cached copy answers without asking the store anything; else the object's info, and for
    // a small object one load for everybody who asks meanwhile.
    const std::shared_ptr<Cache> cache = CacheOf(s);
    const std::string cache_key = CacheKey(key);
    const bool changes =
        kind == Kind::kMaster || kind == Kind::kPlaylist || kind == Kind::kManifest;
    const auto ttl = changes ? PlaylistTtl(s) : s.settings.cache_ttl;
    if (!cached && cache != nullptr) {
      s.cache_requests.fetch_add(1);
      if (auto held = cache->Peek(cache_key)) {
        cached = DecodeCached(std::move(held));
      } else if (auto hit = cache->Get(cache_key); hit && *hit) {
        cached = DecodeCached(SharedBytes::InMemory(std::move(**hit)));
      }
    }
    Representation what;
    if (cached) {
      what = {cached->bytes.size(), cached->etag, cached->modified};
    } else {
      auto info = s.storage->Stat(key);
      if (!info) return missing(info.error());
      what = {info->size, info->etag, std::chrono::system_clock::to_time_t(info->modified)};
      if (cache != nullptr && what.size <= s.settings.cache_max_object) {
        auto loaded = cache->GetOrLoad(
            cache_key,
            [&]() -> Result<std::string> {
              s.cache_loads.fetch_add(1);
              auto reader = s.storage->Get(key, {});
              if (!reader) return reader.error();
              std::string bytes;
              bytes.reserve(what.size);
              std::string piece(size_t{1} << 20, '\0');
              for (;;) {
                auto got = (*reader)->Read(piece.data(), piece.size());
                if (!got) return got.error();
                if (*got == 0) break;
                bytes.append(piece.data(), *got);
              }
              s.bytes_from_store.fetch_add(bytes.size());
              return EncodeCached((*reader)->info(), bytes);  // the version read
            },
            ttl);
        if (!loaded) return missing(loaded.error());
        cached = DecodeCached(SharedBytes::InMemory(std::move(*loaded)));
        if (!cached) return missing({ErrorCode::kIo, "the cached copy of " + key + " is damaged"});
        what = {cached->bytes.size(), cached->etag, cached->modified};
      }
    }
    const RangePlan plan = PlanConditional(headers, what);
    HttpResponse res;
    res.content_type = ContentType(kind);
    res.status = plan.status;
    res.headers.emplace_back("Cache-Control", cache_control);
    res.headers.emplace_back("ETag", what.etag);
    res.headers.emplace_back("Last-Modified", HttpDate(what.modified));
    res.headers.emplace_back("Accept-Ranges", "bytes");
    if (plan.status == 304) {
      res.content_type.clear();
      s.Answered(kind, 304);
      return res;
    }
    if (plan.status == 416) {
      res.headers.emplace_back("Content-Range", fmt::format("bytes */{}", what.size));
      res.content_type = "application/json";
      res.body = Dump({{"error", "the range is past the end of the object"},
                       {"code", "range_not_satisfiable"},
                       {"hint", fmt::format("the object has {} bytes", what.size)}});
      s.Answered(kind, 416);
      return res;
    }
    if (plan.status == 206) {
      s.ranged.fetch_add(1);
      res.headers.emplace_back(
          "Content-Range",
          fmt::format("bytes {}-{}/{}", plan.first, plan.first + plan.count - 1, what.size));
    }
    if (cached) {
      res.shared_view =
          plan.status == 206 ? cached->bytes.substr(plan.first, plan.count) : cached->bytes;
      res.shared = std::move(cached->whole);
      s.Answered(kind, res.status);
      return res;
    }
    if (what.size == 0) {
      s.Answered(kind, res.status);
      return res;
    }
    auto reader = s.storage->Get(key, ByteRange{plan.first, plan.count});
    if (!reader) return missing(reader.error());
    res.source = std::make_shared<ObjectSource>(shared, std::move(*reader));
    res.content_length = plan.count;
    s.Answered(kind, res.status);
    return res;
  }

  static void Collect(const Shared& s, std::vector<MetricFamily>& out) {
    MetricFamily answers{"streamgate_streaming_responses_total",
                         "Stream requests answered, by file kind and status class",
                         "counter",
                         {}};
    MetricFamily failures{"streamgate_streaming_failures_total",
                          "Stream requests that got no media, by reason",
                          "counter",
                          {}};
    {
      std::lock_guard lock(s.mu);
      for (size_t k = 0; k < static_cast<size_t>(Kind::kCount); ++k) {
        for (unsigned c = 2; c <= 5; ++c) {
          answers.samples.push_back({"",
                                     {{"kind", kKindNames[k]}, {"code", fmt::format("{}xx", c)}},
                                     static_cast<double>(s.answers[k][c])});
        }
      }
      for (size_t i = 0; i < static_cast<size_t>(Reason::kCount); ++i) {
        failures.samples.push_back(
            {"", {{"reason", kReasonNames[i]}}, static_cast<double>(s.failures[i])});
      }
    }
    out.push_back(std::move(answers));
    out.push_back(std::move(failures));
    AddValue(out, "streamgate_streaming_state_cache_hits_total",
             "Requests answered with a video state already known", "counter",
             static_cast<double>(s.state_hits.load()));
    AddValue(out, "streamgate_streaming_state_reads_total", "Video states read from the catalogue",
             "counter", static_cast<double>(s.state_reads.load()));
    AddValue(out, "streamgate_streaming_object_cache_requests_total",
             "Remote objects asked of the cache plugin", "counter",
             static_cast<double>(s.cache_requests.load()));
    AddValue(out, "streamgate_streaming_object_cache_loads_total",
             "Remote objects fetched from the store on a cache miss (one per key at a time)",
             "counter", static_cast<double>(s.cache_loads.load()));
    AddValue(out, "streamgate_streaming_store_bytes_total", "Bytes read from a remote store",
             "counter", static_cast<double>(s.bytes_from_store.load()));
    AddValue(out, "streamgate_streaming_ranges_total",
             "Range requests answered from a remote store", "counter",
             static_cast<double>(s.ranged.load()));
  }

  std::shared_ptr<Shared> shared_;
  Bus* bus_ = nullptr;
  Router* router_ = nullptr;
  MetricsRegistry* metrics_ = nullptr;
  std::vector<Registration> routes_;
  Registration subscription_;
  Registration collector_;
};

}  // namespace

std::unique_ptr<Plugin> MakeStreaming() { return std::make_unique<StreamingPlugin>(); }

}  // namespace sg::plugins
