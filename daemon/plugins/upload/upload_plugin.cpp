#include "daemon/plugins/upload/upload_plugin.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "common/ulid.h"
#include "daemon/plugin_api/access_guard.h"
#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/catalogue_json.h"
#include "daemon/plugin_api/jobs.h"
#include "daemon/plugin_api/locks.h"
#include "daemon/plugin_api/periodic_timer.h"
#include "daemon/plugin_api/registration.h"
#include "daemon/plugins/upload/holds.h"
#include "daemon/plugins/upload/responses.h"
#include "daemon/plugins/upload/transfer.h"
#include "daemon/plugins/upload/tus.h"
#include "daemon/plugins/upload/upload_config.h"
#include "daemon/plugins/upload/upload_state.h"

namespace sg::plugins {
namespace {

using namespace upload;  // the plugin's own parts

// How often the upload service looks for committed uploads whose video was left "uploading".
constexpr auto kSweepEvery = std::chrono::seconds(10);

constexpr std::string_view kBase = "/api/v1/uploads";
constexpr const char* kExpireUploadsKind = "expire-uploads";  // queued by the worker plugin
// ---- Who may write ----------------------------------------------------------------------------

// Every upload route writes (HEAD too tells the offset of someone's upload): the caller's token
// must carry videos:write. The principal, or the 401/403 to send.
std::variant<Principal, HttpResponse> Authorize(const Shared& s, const HttpRequest& req) {
  if (s.access == nullptr) return Principal{};
  return s.access->Require(req, kScopeWrite);
}

// ---- The plugin --------------------------------------------------------------------------------

// Everything a request handler needs of its request once it leaves the I/O thread.
struct Call {
  std::string id;
  std::string method;
  std::string request_id;
  std::string remote;
  std::string owner = {};  // the token's subject: who a new video belongs to
  // Until when the request may wait for an upload another request holds (upload.lock_wait from
  // its arrival), in this process (LockWait) and then in another (LeaseWait).
  std::chrono::steady_clock::time_point wait_until = {};
};

class UploadPlugin final : public Plugin {
 public:
  std::string_view Name() const override { return "upload"; }
  std::string_view Version() const override { return "1.0.0"; }
  // No declared dependency on the api-gateway, as with metadata: its router outlives a restart of
  // the gateway, so the gateway may be stopped alone; Init needs the router to be there.
  std::vector<std::string> ConfigKeys() const override { return UploadConfig().Reads(); }

  Result<void> Init(PluginContext& context) override {
    const config::Config& config = *context.config;
    shared_ = std::make_shared<Shared>();
    Shared& s = *shared_;
    s.logger = context.logger;
    s.settings.max_size = static_cast<uint64_t>(config.Int("upload.max_size"));
    s.settings.expiry = config.Duration("upload.expiry");
    s.settings.per_client = static_cast<int>(config.Int("upload.max_concurrent_per_client"));
    s.settings.sync_every = static_cast<uint64_t>(config.Int("upload.sync_every"));
    s.settings.cors_origins = config.List("upload.cors_origins");
    // A wait must end before the request's deadline (504 at server.write_timeout), so that the
    // client gets the 423 or the offset: at most three quarters of it.
    const auto deadline = config.Duration("server.write_timeout");
    s.settings.lock_wait = std::min(config.Duration("upload.lock_wait"), deadline * 3 / 4);
    if (s.settings.lock_wait < config.Duration("upload.lock_wait")) {
      s.logger->warn(log::With(
          "upload.lock_wait is longer than the request's deadline allows: waits end sooner",
          {{"lock_wait_ms", static_cast<int64_t>(s.settings.lock_wait.count())},
           {"remedy", std::string("set upload.lock_wait below three quarters of "
                                  "server.write_timeout, or raise server.write_timeout")}}));
    }
    s.storage = context.storage;
    s.blocking = context.blocking;
    s.services = context.services;
    if (auto access = context.services->Find<AccessGuard>("access")) s.access = *access;
    s.bus = context.bus;
    router_ = context.router;
    metrics_ = context.metrics;
    executor_ = context.executor;
    s.executor = context.executor;
    if (s.storage == nullptr) {
      return Fail(ErrorCode::kConfig, "upload: no media store (storage.*) to keep uploads in");
    }
    if (router_ == nullptr) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "upload: the api-gateway is not running here; the upload plugin serves "
                  "/api/v1/uploads on its router");
    }
    return {};
  }

  Result<void> Start() override {
    {
      std::lock_guard lock(shared_->mu);
      shared_->running = true;
    }
    auto s = shared_;
    CorsPolicy cors;
    cors.allow_origins = s->settings.cors_origins;
    cors.allow_headers = {"Authorization",   "Tus-Resumable",         "Upload-Length",
                          "Upload-Offset",   "Upload-Metadata",       "Upload-Defer-Length",
                          "Upload-Checksum", "Upload-Concat",         "Content-Type",
                          "X-Request-ID",    "X-HTTP-Method-Override"};
    cors.expose_headers = {"Tus-Resumable",
                           "Tus-Version",
                           "Tus-Extension",
                           "Tus-Max-Size",
                           "Tus-Checksum-Algorithm",
                           "Upload-Offset",
                           "Upload-Length",
                           "Upload-Expires",
                           "Upload-Defer-Length",
                           "Upload-Concat",
                           "Upload-Metadata",
                           "Location",
                           "Link",
                           "X-Request-ID"};
    cors.max_age_seconds = 86400;
    router_->SetCors(std::string(kBase), cors);
    router_->SetCors(std::string(kBase) + "/{id}", cors);

    const uint64_t body_limit = s->settings.max_size;
    auto add = [&](Result<Router::RouteId> id) -> Result<void> {
      if (!id) return id.error().Wrap("upload: add a route");
      routes_.emplace_back([router = router_, rid = *id] { router->RemoveRoute(rid); });
      return {};
    };
    auto options = [max = s->settings.max_size](const HttpRequest&, HttpResponse& res) {
      Options(max, res);
    };
    if (auto r = add(router_->AddRoute("OPTIONS", std::string(kBase), options)); !r) return r;
    if (auto r = add(router_->AddRoute("OPTIONS", std::string(kBase) + "/{id}", options)); !r) {
      return r;
    }
    if (auto r = add(router_->AddStreamingRoute(
            "POST", std::string(kBase), body_limit,
            [s](const HttpRequest& req, const std::shared_ptr<HttpBodyReader>& body,
                const std::shared_ptr<HttpResponder>& responder) {
              Create(s, req, body, responder);
            }));
        !r) {
      return r;
    }
    if (auto r = add(router_->AddStreamingRoute(
            "PATCH", std::string(kBase) + "/{id}", body_limit,
            [s](const HttpRequest& req, const std::shared_ptr<HttpBodyReader>& body,
                const std::shared_ptr<HttpResponder>& responder) {
              Patch(s, req, body, responder);
            }));
        !r) {
      return r;
    }
    if (auto r = add(router_->AddAsyncRoute(
            "GET", std::string(kBase) + "/{id}",
            [s](const HttpRequest& req, const std::shared_ptr<HttpResponder>& responder) {
              Head(s, req, responder);
            }));
        !r) {
      return r;
    }
    if (auto r = add(router_->AddAsyncRoute(
            "DELETE", std::string(kBase) + "/{id}",
            [s](const HttpRequest& req, std::shared_ptr<HttpResponder> responder) {
              Terminate(s, req, std::move(responder));
            }));
        !r) {
      return r;
    }
    if (metrics_ != nullptr) {
      collector_ =
          AddCollector(*metrics_, [s](std::vector<MetricFamily>& out) { Collect(*s, out); });
    }
    RegisterExpiry(s);
    // Count what waits from before (a restart): the log says how many uploads can resume.
    if (!s->blocking->Submit([s] {
          auto listed = s->storage->ListStaged();
          if (!listed) {
            s->logger->warn(log::With("Cannot list the unfinished uploads",
                                      {{"error", listed.error().message}}));
            return;
          }
          s->staged.store(listed->size());
          s->logger->info(log::With("Uploads ready at /api/v1/uploads (tus 1.0.0)",
                                    {{"unfinished", static_cast<int64_t>(listed->size())},
                                     {"store", std::string(s->storage->Kind())},
                                     {"max_size", static_cast<int64_t>(s->settings.max_size)}}));
        })) {
      s->logger->warn("The blocking pool refused to count the unfinished uploads");
    }
    // An upload whose bytes were committed while the catalogue was away (NATS restarting, the
    // metadata service being replaced) answered 204 and left its video "uploading"; the client,
    // done, never asks again. Finish those here.
    sweep_ = std::make_unique<PeriodicTimer>(
        executor_, kSweepEvery, [s] { (void)s->blocking->Submit([s] { FinishCommitted(*s); }); });
    return {};
  }

  void Stop(Deadline) override {
    sweep_.reset();
    routes_.clear();
    collector_.Reset();
    std::unique_ptr<JobQueue::Registration> handler;
    {
      std::lock_guard lock(shared_->mu);
      shared_->running = false;
      handler = std::move(shared_->expire_handler);
    }
    handler.reset();
  }

  HealthReport CheckHealth() const override {
    const Shared& s = *shared_;
    auto catalogue = s.FindCatalogue();
    if (!catalogue) {
      return {HealthStatus::kDegraded,
              "no catalogue: new uploads answer 503 until the metadata plugin runs (" +
                  catalogue.error().message + ")"};
    }
    return {HealthStatus::kHealthy,
            fmt::format("{} store; {} bodies arriving, {} unfinished uploads", s.storage->Kind(),
                        s.transfers.load(), s.staged.load())};
  }

 private:
  static void Options(uint64_t max_size, HttpResponse& res) {
    res = Tus(204);
    res.headers.emplace_back("Tus-Max-Size", std::to_string(max_size));
    res.headers.emplace_back("Tus-Version", std::string(tus::kVersion));
    res.headers.emplace_back("Tus-Extension", std::string(tus::kExtensions));
    res.headers.emplace_back("Tus-Checksum-Algorithm", std::string(tus::kChecksumAlgorithms));
  }

  // A refusal of a request that holds nothing: counted (its reason and its answer), and sent.
  struct Refusal {
    HttpResponse response;
    Reason reason;
  };
  static void Refuse(Shared& s, std::string_view method, HttpResponder& responder,
                     Refusal refusal) {
    s.Failed(refusal.reason);
    s.Answered(method, refusal.response.status);
    responder.Send(std::move(refusal.response));
  }

  // Another request held the upload for all of upload.lock_wait.
  static Refusal Locked(const Shared& s, const std::string& id) {
    return {TusError(423, "locked",
                     fmt::format("another request is still writing upload '{}' after {} ms "
                                 "(upload.lock_wait)",
                                 id, s.settings.lock_wait.count()),
                     "wait for it to end (or cancel it), then HEAD for the offset"),
            Reason::kLocked};
  }

  // The deployment-wide lease of an upload (TakeLease), taken on the blocking pool; while
  // another instance holds it, tried again after 100 ms, then 200, 400 and every 500 ms, on a
  // timer of the daemon's executor (the pool is not kept waiting; a request's I/O thread may end
  // first), until the call's wait_until: the counterpart across processes of LockWait. The
  // request holds the upload in this process meanwhile, and counts in the waiting gauge.
  class LeaseWait {
   public:
    using Then = std::function<void(Lease)>;
    using LetGo = std::function<void()>;

    // `then` runs on the pool with the lease (null in monolith mode); `let_go` lets go of what
    // the request holds here (the upload, its client's slot) when it ends without the lease: a
    // refusal (then answered) or a client that left while it waited.
    static void Start(std::shared_ptr<Shared> s, Call call,
                      std::shared_ptr<HttpResponder> responder, Then then, LetGo let_go) {
      Submit(std::make_shared<LeaseWait>(std::move(s), std::move(call), std::move(responder),
                                         std::move(then), std::move(let_go)));
    }

    LeaseWait(std::shared_ptr<Shared> s, Call call, std::shared_ptr<HttpResponder> responder,
              Then then, LetGo let_go)
        : s_(std::move(s)),
          call_(std::move(call)),
          responder_(std::move(responder)),
          then_(std::move(then)),
          let_go_(std::move(let_go)) {}
    ~LeaseWait() {
      if (!done_) Gone();  // the executor ended with the wait
    }
    LeaseWait(const LeaseWait&) = delete;
    LeaseWait& operator=(const LeaseWait&) = delete;

   private:
    static constexpr auto kMaxRetry = std::chrono::milliseconds(500);
    static constexpr auto kLeastWait = std::chrono::milliseconds(10);

    static void Submit(const std::shared_ptr<LeaseWait>& w) {
      if (!w->s_->blocking->Submit([w] { Take(w); })) {
        w->Refused({Overloaded(), Reason::kOverloaded});
      }
    }

    void Stop() {
      done_ = true;
      if (counted_) s_->holds->waiting.fetch_sub(1);
      counted_ = false;
    }
    void Refused(Refusal r) {
      Gone();
      Refuse(*s_, call_.method, *responder_, std::move(r));
    }
    void Gone() {
      Stop();
      let_go_();
    }

    static void Take(const std::shared_ptr<LeaseWait>& w) {
      if (w->responder_->ClientGone()) return w->Gone();
      auto lease = TakeLease(*w->s_, w->call_.id);
      if (lease) {
        // A client that left while the lease was taken gets nothing done (a DELETE least of all).
        if (w->responder_->ClientGone()) {
          lease->reset();
          return w->Gone();
        }
        w->Stop();
        return w->then_(std::move(*lease));
      }
      const bool held_elsewhere = lease.error().code == ErrorCode::kFailedPrecondition;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          w->call_.wait_until - std::chrono::steady_clock::now());
      if (!held_elsewhere || !w->s_->executor || left < kLeastWait) {
        return w->Refused({LeaseRefused(lease.error(), w->call_.id),
                           held_elsewhere ? Reason::kLocked : Reason::kOverloaded});
      }
      if (!w->counted_) {
        w->counted_ = true;
        w->s_->holds->waiting.fetch_add(1);
      }
      auto timer =
          std::make_shared<boost::asio::steady_timer>(w->s_->executor, std::min(w->retry_, left));
      w->retry_ = std::min(w->retry_ * 2, kMaxRetry);
      timer->async_wait([w, timer](const boost::system::error_code&) {
        if (w->responder_->ClientGone()) return w->Gone();
        Submit(w);
      });
    }

    std::shared_ptr<Shared> s_;
    Call call_;
    std::shared_ptr<HttpResponder> responder_;
    Then then_;
    LetGo let_go_;
    std::chrono::milliseconds retry_{100};
    bool counted_ = false;  // in holds->waiting
    bool done_ = false;
  };

  // POST /api/v1/uploads: creation, with or without a first body, partial or final.
  static void Create(const std::shared_ptr<Shared>& s, const HttpRequest& req,
                     const std::shared_ptr<HttpBodyReader>& body,
                     std::shared_ptr<HttpResponder> responder) {
    auto answer = [&](HttpResponse res, Reason reason) {
      Refuse(*s, "POST", *responder, {std::move(res), reason});
    };
    if (auto bad = CheckVersion(req)) return answer(std::move(*bad), Reason::kVersion);
    auto who = Authorize(*s, req);
    if (auto* denied = std::get_if<HttpResponse>(&who)) {
      return answer(std::move(*denied), Reason::kUnauthorized);
    }
    const std::string_view length_text = req.Header("Upload-Length");
    const std::string_view defer = req.Header("Upload-Defer-Length");
    auto concat = tus::ParseConcat(req.Header("Upload-Concat"));
    if (!concat) {
      return answer(TusError(400, "bad_header", concat.error().message,
                             "see https://tus.io/protocols/resumable-upload#concatenation"),
                    Reason::kBadRequest);
    }
    auto metadata = tus::ParseMetadata(req.Header("Upload-Metadata"));
    if (!metadata) {
      return answer(TusError(400, "bad_metadata", metadata.error().message,
                             "send Upload-Metadata as 'key base64,key2 base64' (filename, "
                             "filetype, title, description, visibility)"),
                    Reason::kBadRequest);
    }
    Record record;
    record.metadata = std::string(req.Header("Upload-Metadata"));
    record.created = NowMs();
    record.expires = record.created + s->settings.expiry.count();
    record.partial = concat->kind == tus::Concat::Kind::kPartial;
    const bool final = concat->kind == tus::Concat::Kind::kFinal;
    if (final) {
      if (!length_text.empty() || !defer.empty()) {
        return answer(TusError(400, "bad_header",
                               "a final upload (Upload-Concat: final) takes its length from its "
                               "parts: it has no Upload-Length or Upload-Defer-Length",
                               "leave out Upload-Length"),
                      Reason::kBadRequest);
      }
    } else if (!length_text.empty() && !defer.empty()) {
      return answer(
          TusError(400, "bad_header", "Upload-Length and Upload-Defer-Length are both given",
                   "send one of them"),
          Reason::kBadRequest);
    } else if (!length_text.empty()) {
      auto length = tus::ParseCount(length_text);
      if (!length) {
        return answer(TusError(400, "bad_header",
                               fmt::format("Upload-Length '{}' is not a whole number of bytes",
                                           length_text.substr(0, 32)),
                               "send the file's size in bytes"),
                      Reason::kBadRequest);
      }
      if (*length > s->settings.max_size) {
        HttpResponse res = TooLarge(*s, *length);
        return answer(std::move(res), Reason::kTooLarge);
      }
      record.length = *length;
    } else if (defer != "1") {
      return answer(TusError(400, "bad_header",
                             defer.empty() ? std::string("Upload-Length is missing")
                                           : "Upload-Defer-Length must be 1",
                             "send Upload-Length (the file's size in bytes), or "
                             "'Upload-Defer-Length: 1' and the length with a later PATCH"),
                    Reason::kBadRequest);
    }
    // creation-with-upload: a body of the offset+octet-stream type is the first chunk.
    const std::string_view type = req.Header("Content-Type");
    const auto content_length = body->ContentLength();
    const bool has_body = (content_length && *content_length > 0) ||
                          (!content_length && !req.Header("Transfer-Encoding").empty());
    if (has_body && type != tus::kOffsetOctetStream) {
      return answer(TusError(415, "content_type",
                             fmt::format("a creation's body must be {}, not '{}'",
                                         tus::kOffsetOctetStream, type.substr(0, 64)),
                             "send the first chunk as application/offset+octet-stream, or no "
                             "body"),
                    Reason::kContentType);
    }
    if (has_body && final) {
      return answer(TusError(400, "bad_request", "a final upload takes no body",
                             "send the bytes to the partial uploads"),
                    Reason::kBadRequest);
    }
    std::optional<tus::Checksum> checksum;
    if (has_body && !req.Header("Upload-Checksum").empty()) {
      auto parsed = tus::ParseChecksum(req.Header("Upload-Checksum"));
      if (!parsed) {
        return answer(TusError(400, "bad_checksum", parsed.error().message,
                               "send 'Upload-Checksum: sha1 <base64 digest>'"),
                      Reason::kBadRequest);
      }
      checksum = std::move(*parsed);
    }
    const std::string remote(req.remote);
    if (has_body && !s->EnterClient(remote)) {
      return answer(TooMany(*s), Reason::kTooMany);
    }
    Call call{{}, "POST", std::string(req.request_id), remote, std::get<Principal>(who).subject};
    auto work =
        [s, call, record, concat = std::move(*concat), metadata = std::move(*metadata), has_body,
         body, responder,
         checksum = std::make_shared<std::optional<tus::Checksum>>(std::move(checksum))]() mutable {
          CreateOnPool(s, call, record, concat, metadata, has_body, body, responder,
                       std::move(*checksum));
        };
    if (!s->blocking->Submit(std::move(work))) {
      if (has_body) s->LeaveClient(remote);
      return answer(Overloaded(), Reason::kOverloaded);
    }
  }

  static void CreateOnPool(const std::shared_ptr<Shared>& s, Call call, Record record,
                           const tus::Concat& concat, const tus::Metadata& metadata, bool has_body,
                           const std::shared_ptr<HttpBodyReader>& body,
                           const std::shared_ptr<HttpResponder>& responder,
                           std::optional<tus::Checksum> checksum) {
    auto answer = [&](HttpResponse res, std::optional<Reason> reason = std::nullopt) {
      if (reason) s->Failed(*reason);
      if (has_body) s->LeaveClient(call.remote);
      s->Answered("POST", res.status);
      responder->Send(std::move(res));
    };
    // A final upload: its parts must be whole; its length is theirs.
    std::vector<ObjectInfo> parts;
    if (concat.kind == tus::Concat::Kind::kFinal) {
      uint64_t total = 0;
      for (const auto& part : concat.parts) {
        auto info = ValidateStagedId(part) ? s->storage->Stat(PartKey(part))
                                           : Result<ObjectInfo>(Fail(ErrorCode::kNotFound, ""));
        if (!info) {
          if (info.error().code != ErrorCode::kNotFound) return answer(StorageError(info.error()));
          const bool unfinished = ValidateStagedId(part) && s->storage->OpenStaged(part);
          return answer(
              TusError(400, "bad_concat",
                       unfinished ? fmt::format("partial upload '{}' is not finished", part)
                                  : fmt::format("'{}' is not a finished partial upload (created "
                                                "with Upload-Concat: partial)",
                                                part.substr(0, 80)),
                       "finish every partial upload, then create the final one"),
              Reason::kBadRequest);
        }
        total += info->size;
        parts.push_back(std::move(*info));
      }
      if (total > s->settings.max_size) return answer(TooLarge(*s, total), Reason::kTooLarge);
      record.length = total;
    }
    // The id: the video's, from the catalogue, or a new one for a part.
    std::string id;
    if (record.partial) {
      id = NewUlid();
    } else {
      auto catalogue = s->FindCatalogue();
      if (!catalogue) {
        return answer(TusError(503, "unavailable",
                               "the catalogue is not available: " + catalogue.error().message,
                               "start the metadata plugin ('streamgate plugins start metadata') "
                               "and try again"),
                      Reason::kCatalogue);
      }
      NewVideo video;
      video.owner = call.owner;
      const auto filename = tus::Find(metadata, "filename");
      video.title = tus::Find(metadata, "title").value_or(filename.value_or("untitled"));
      video.description = tus::Find(metadata, "description").value_or("");
      video.source_type = tus::Find(metadata, "filetype").value_or("");
      if (const auto visibility = tus::Find(metadata, "visibility")) {
        const auto parsed = ParseVisibility(*visibility);
        if (!parsed) {
          return answer(TusError(400, "bad_metadata",
                                 fmt::format("Upload-Metadata: visibility '{}' is not one of "
                                             "public, unlisted, private, gated",
                                             visibility->substr(0, 32)),
                                 "send one of them, or leave visibility out (public)"),
                        Reason::kBadRequest);
        }
        video.visibility = *parsed;
      }
      video.source_size = static_cast<int64_t>(record.length.value_or(0));
      auto made = (*catalogue)->Create(video);
      if (!made) {
        const bool bad = made.error().code == ErrorCode::kInvalidArgument;
        return answer(bad ? TusError(400, "bad_metadata", made.error().message,
                                     "correct the Upload-Metadata field it names")
                          : TusError(503, "unavailable", made.error().message,
                                     "the catalogue's database is away; try again shortly"),
                      bad ? Reason::kBadRequest : Reason::kCatalogue);
      }
      id = made->id;
    }
    auto staged = s->storage->Stage(id, record.ToJson());
    if (!staged) {
      s->logger->error(log::With(
          "Cannot stage a new upload",
          {{"upload", id}, {"error", staged.error().message}, {"request_id", call.request_id}}));
      return answer(StorageError(staged.error()), Reason::kStorage);
    }
    s->created.fetch_add(1);
    s->staged.fetch_add(1);
    const std::string location = fmt::format("{}/{}", kBase, id);
    s->logger->info(
        log::With("Upload created",
                  {{"upload", id},
                   {"length", record.length ? static_cast<int64_t>(*record.length) : int64_t{-1}},
                   {"kind", record.partial                             ? "partial"
                            : concat.kind == tus::Concat::Kind::kFinal ? "final"
                                                                       : "video"},
                   {"request_id", call.request_id}}));

    if (concat.kind == tus::Concat::Kind::kFinal) {
      auto done = Concatenate(*s, **staged, parts, record, call.request_id);
      if (!done) return answer(StorageError(done.error()), Reason::kStorage);
      HttpResponse res = Tus(201);
      res.headers.emplace_back("Location", location);
      res.headers.emplace_back("Upload-Offset", std::to_string(*record.length));
      res.headers.emplace_back("Link", fmt::format("</api/v1/videos/{}>; rel=\"video\"", id));
      res.body = Dump({{"id", id}, {"video", "/api/v1/videos/" + id}});
      return answer(std::move(res));
    }
    if (record.length && *record.length == 0) {
      // An empty file is whole at once.
      if (auto done = FinishUpload(*s, **staged, record, call.request_id); !done) {
        return answer(StorageError(done.error()), Reason::kStorage);
      }
    }
    HttpResponse created = Tus(201);
    created.headers.emplace_back("Location", location);
    if (!has_body) {
      AddOffsetHeaders(created, 0, record.length, record.expires, record.partial);
      created.body = Dump(
          {{"id", id}, {"video", record.partial ? json(nullptr) : json("/api/v1/videos/" + id)}});
      return answer(std::move(created));
    }
    if (!s->holds->Hold(id)) {  // nobody knows the id yet: cannot be held
      return answer(TusError(500, "internal", "a new upload is already held", "try again"));
    }
    TransferParams params;
    params.id = id;
    params.method = "POST";
    params.request_id = call.request_id;
    params.remote = call.remote;
    params.checksum = std::move(checksum);
    params.success_status = 201;
    params.success_headers.emplace_back("Location", location);
    StartTransfer(s, std::move(params), std::move(*staged), record, body, responder);
  }

  // The final upload's bytes: each part's, in order, then the whole committed as the video's.
  static Result<void> Concatenate(Shared& s, StagedObject& staged,
                                  const std::vector<ObjectInfo>& parts, const Record& record,
                                  const std::string& request_id) {
    std::string buffer(kWriteBatch, '\0');
    for (const auto& part : parts) {
      auto reader = s.storage->Get(part.key, {});
      if (!reader) return reader.error();
      for (;;) {
        auto n = (*reader)->Read(buffer.data(), buffer.size());
        if (!n) return n.error();
        if (*n == 0) break;
        if (auto wrote = staged.Append(std::string_view(buffer.data(), *n)); !wrote) return wrote;
      }
    }
    if (auto synced = staged.Sync(record.ToJson()); !synced) return synced;
    if (auto done = FinishUpload(s, staged, record, request_id); !done) return done;
    for (const auto& part : parts) (void)s.storage->Delete(part.key);
    return {};
  }

  // PATCH /api/v1/uploads/{id}: the next chunk.
  static void Patch(const std::shared_ptr<Shared>& s, const HttpRequest& req,
                    const std::shared_ptr<HttpBodyReader>& body,
                    std::shared_ptr<HttpResponder> responder) {
    auto answer = [&](HttpResponse res, Reason reason) {
      Refuse(*s, "PATCH", *responder, {std::move(res), reason});
    };
    if (auto bad = CheckVersion(req)) return answer(std::move(*bad), Reason::kVersion);
    auto who = Authorize(*s, req);
    if (auto* denied = std::get_if<HttpResponse>(&who)) {
      return answer(std::move(*denied), Reason::kUnauthorized);
    }
    const std::string id(req.Param("id"));
    if (!ValidateStagedId(id)) return answer(Missing(id), Reason::kNotFound);
    const std::string_view type = req.Header("Content-Type");
    if (type != tus::kOffsetOctetStream) {
      return answer(TusError(415, "content_type",
                             fmt::format("a PATCH body must be {}, not '{}'",
                                         tus::kOffsetOctetStream, type.substr(0, 64)),
                             "send 'Content-Type: application/offset+octet-stream'"),
                    Reason::kContentType);
    }
    const auto offset = tus::ParseCount(req.Header("Upload-Offset"));
    if (!offset) {
      return answer(TusError(400, "bad_header",
                             req.Header("Upload-Offset").empty()
                                 ? std::string("the Upload-Offset header is missing")
                                 : "Upload-Offset is not a whole number of bytes",
                             "HEAD the upload and send its Upload-Offset"),
                    Reason::kBadRequest);
    }
    std::optional<uint64_t> late_length;
    if (!req.Header("Upload-Length").empty()) {
      late_length = tus::ParseCount(req.Header("Upload-Length"));
      if (!late_length) {
        return answer(TusError(400, "bad_header", "Upload-Length is not a whole number of bytes",
                               "send the file's size in bytes"),
                      Reason::kBadRequest);
      }
    }
    std::optional<tus::Checksum> checksum;
    if (!req.Header("Upload-Checksum").empty()) {
      auto parsed = tus::ParseChecksum(req.Header("Upload-Checksum"));
      if (!parsed) {
        return answer(TusError(400, "bad_checksum", parsed.error().message,
                               "send 'Upload-Checksum: sha1 <base64 digest>' (or md5, crc32, "
                               "sha256)"),
                      Reason::kBadRequest);
      }
      checksum = std::move(*parsed);
    }
    Call call{id, "PATCH", std::string(req.request_id), std::string(req.remote)};
    call.wait_until = std::chrono::steady_clock::now() + s->settings.lock_wait;
    auto shared_checksum = std::make_shared<std::optional<tus::Checksum>>(std::move(checksum));
    LockWait::Run(
        s->holds, id, &Holds::HoldOr, s->settings.lock_wait, *responder,
        [s, call, offset = *offset, late_length, body, responder, shared_checksum](bool held) {
          if (!held) return Refuse(*s, call.method, *responder, Locked(*s, call.id));
          if (responder->ClientGone()) return s->holds->Release(call.id);  // left while it waited
          if (!s->EnterClient(call.remote)) {
            s->holds->Release(call.id);
            return Refuse(*s, call.method, *responder, {TooMany(*s), Reason::kTooMany});
          }
          LeaseWait::Start(
              s, call, responder,
              [s, call, offset, late_length, body, responder, shared_checksum](Lease lease) {
                PatchOnPool(s, call, offset, late_length, body->ContentLength(), body, responder,
                            std::move(*shared_checksum), std::move(lease));
              },
              [s, call] {
                s->holds->Release(call.id);
                s->LeaveClient(call.remote);
              });
        });
  }

  static void PatchOnPool(const std::shared_ptr<Shared>& s, const Call& call, uint64_t offset,
                          std::optional<uint64_t> late_length,
                          std::optional<uint64_t> content_length,
                          const std::shared_ptr<HttpBodyReader>& body,
                          const std::shared_ptr<HttpResponder>& responder,
                          std::optional<tus::Checksum> checksum, Lease lease) {
    auto answer = [&](HttpResponse res, std::optional<Reason> reason) {
      if (reason) s->Failed(*reason);
      s->holds->Release(call.id);
      s->LeaveClient(call.remote);
      s->Answered("PATCH", res.status);
      responder->Send(std::move(res));
    };
    auto opened = s->storage->OpenStaged(call.id);
    if (!opened) {
      if (opened.error().code != ErrorCode::kNotFound) {
        return answer(StorageError(opened.error()), Reason::kStorage);
      }
      // Not staged: finished, gone, or never made.
      auto state = Lookup(*s, call.id, call.request_id);
      if (state.status == 200 && offset != state.offset) {
        return answer(TusError(409, "offset_mismatch",
                               fmt::format("Upload-Offset {} is not the upload's offset {}: it "
                                           "is complete",
                                           offset, state.offset),
                               "nothing more to send"),
                      Reason::kOffset);
      }
      if (state.status == 200) {
        // Whole already (a final upload's PATCH is 403 by the concatenation extension; so is
        // any write to an upload that is complete).
        return answer(TusError(403, "complete",
                               fmt::format("upload '{}' is complete ({} bytes); nothing more can "
                                           "be written to it",
                                           call.id, state.offset),
                               "nothing more to send"),
                      Reason::kBadRequest);
      }
      return answer(std::move(state.error),
                    state.status == 410 ? Reason::kGone : Reason::kNotFound);
    }
    auto staged = std::move(*opened);
    auto record = Record::FromJson(staged->meta());
    if (!record) {
      return answer(
          StorageError(Fail(ErrorCode::kIo, "upload '" + call.id + "' has an unreadable record")),
          Reason::kStorage);
    }
    if (record->expires > 0 && record->expires < NowMs()) {
      Expire(*s, call.id, staged->size(), *record, call.request_id);
      return answer(Gone(call.id, "it expired (upload.expiry) before it was finished"),
                    Reason::kGone);
    }
    if (offset != staged->size()) {
      return answer(TusError(409, "offset_mismatch",
                             fmt::format("Upload-Offset {} is not the upload's offset {}", offset,
                                         staged->size()),
                             "HEAD the upload and send from its Upload-Offset"),
                    Reason::kOffset);
    }
    if (late_length) {
      if (record->length && *record->length != *late_length) {
        return answer(TusError(400, "bad_header",
                               fmt::format("the upload's length is already {}", *record->length),
                               "leave out Upload-Length"),
                      Reason::kBadRequest);
      }
      if (*late_length < staged->size()) {
        return answer(TusError(400, "bad_header",
                               fmt::format("Upload-Length {} is less than the {} bytes received",
                                           *late_length, staged->size()),
                               "send the file's whole size"),
                      Reason::kBadRequest);
      }
      if (*late_length > s->settings.max_size) {
        return answer(TooLarge(*s, *late_length), Reason::kTooLarge);
      }
      if (!record->length) {
        record->length = *late_length;
        if (auto synced = staged->Sync(record->ToJson()); !synced) {
          return answer(StorageError(synced.error()), Reason::kStorage);
        }
      }
    }
    if (record->length && content_length && offset + *content_length > *record->length) {
      return answer(TusError(413, "too_large",
                             fmt::format("the body ({} bytes from offset {}) runs past "
                                         "Upload-Length {}",
                                         *content_length, offset, *record->length),
                             "send at most Upload-Length minus Upload-Offset bytes"),
                    Reason::kTooLarge);
    }
    TransferParams params;
    params.id = call.id;
    params.method = "PATCH";
    params.request_id = call.request_id;
    params.remote = call.remote;
    params.checksum = std::move(checksum);
    params.success_status = 204;
    params.lease = std::move(lease);
    StartTransfer(s, std::move(params), std::move(staged), *record, body, responder);
  }

  // What HEAD says of an upload that is not staged (finished, gone, unknown), or of one that is.
  struct State {
    unsigned status = 404;  // 200 when known
    uint64_t offset = 0;
    std::optional<uint64_t> length;
    int64_t expires = 0;
    bool partial = false;
    HttpResponse error;
  };

  static State Lookup(Shared& s, const std::string& id, const std::string& request_id) {
    State out;
    auto part = s.storage->Stat(PartKey(id));
    if (part) {
      out.status = 200;
      out.offset = part->size;
      out.length = part->size;
      out.partial = true;
      return out;
    }
    if (part.error().code != ErrorCode::kNotFound) {
      out.status = 500;
      out.error = StorageError(part.error());
      return out;
    }
    auto catalogue = s.FindCatalogue();
    if (!catalogue) {
      out.status = 503;
      out.error = TusError(503, "unavailable", catalogue.error().message,
                           "start the metadata plugin and try again");
      return out;
    }
    auto video = (*catalogue)->Get(id);
    if (!video) {
      if (video.error().code == ErrorCode::kNotFound ||
          video.error().code == ErrorCode::kInvalidArgument) {
        out.error = Missing(id);
        return out;
      }
      out.status = 503;
      out.error = TusError(503, "unavailable", video.error().message, "try again shortly");
      return out;
    }
    if (video->state == VideoState::kDeleted) {
      out.status = 410;
      out.error =
          Gone(id, video->failure_reason.empty() ? "it was deleted" : video->failure_reason);
      return out;
    }
    if (video->state == VideoState::kUploading) {
      // Committed while the catalogue was away: finish the step now.
      auto source = s.storage->Stat(SourceKey(id));
      if (!source) {
        out.status = 410;
        out.error = Gone(id, "its bytes are not in the store any more");
        return out;
      }
      if (auto marked = MarkUploaded(s, id, *source, request_id); !marked) {
        out.status = 503;
        out.error = TusError(503, "unavailable", marked.error().message, "try again shortly");
        return out;
      }
      out.status = 200;
      out.offset = source->size;
      out.length = source->size;
      return out;
    }
    out.status = 200;
    out.offset = static_cast<uint64_t>(video->source_size);
    out.length = out.offset;
    return out;
  }

  // Removes an expired upload's bytes; its video, if any, is deleted with the reason.
  static void Expire(Shared& s, const std::string& id, uint64_t size, const Record& record,
                     const std::string& request_id) {
    if (auto gone = s.storage->DeleteStaged(id);
        !gone && gone.error().code != ErrorCode::kNotFound) {
      s.logger->warn(log::With("Cannot remove an expired upload",
                               {{"upload", id}, {"error", gone.error().message}}));
      return;
    }
    s.expired.fetch_add(1);
    if (s.staged.load() > 0) s.staged.fetch_sub(1);
    if (!record.partial) {
      if (auto catalogue = s.FindCatalogue()) {
        VideoTransition to;
        to.to = VideoState::kDeleted;
        to.failure_reason = "the upload expired before it was finished";
        (void)(*catalogue)->Transition(id, to);
      }
    }
    s.logger->info(log::With(
        "Expired upload removed",
        {{"upload", id}, {"bytes", static_cast<int64_t>(size)}, {"request_id", request_id}}));
  }

  // GET and HEAD /api/v1/uploads/{id}: the offset (tus), and for GET a JSON view of it.
  static void Head(const std::shared_ptr<Shared>& s, const HttpRequest& req,
                   const std::shared_ptr<HttpResponder>& responder) {
    const bool head = req.method == "HEAD";
    if (head) {
      if (auto bad = CheckVersion(req)) {
        return Refuse(*s, "HEAD", *responder, {std::move(*bad), Reason::kVersion});
      }
    }
    auto who = Authorize(*s, req);
    if (auto* denied = std::get_if<HttpResponse>(&who)) {
      return Refuse(*s, head ? "HEAD" : "GET", *responder,
                    {std::move(*denied), Reason::kUnauthorized});
    }
    Call call{std::string(req.Param("id")), head ? "HEAD" : "GET", std::string(req.request_id),
              std::string(req.remote)};
    auto describe = [s, call, responder](bool) {
      if (!s->blocking->Submit([s, call, responder] {
            HttpResponse res = HeadOnPool(*s, call);
            s->Answered(call.method, res.status);
            responder->Send(std::move(res));
          })) {
        Refuse(*s, call.method, *responder, {Overloaded(), Reason::kOverloaded});
      }
    };
    // A tus client HEADs to resume: the offset it gets must be final, so HEAD waits (up to
    // upload.lock_wait) for a PATCH in progress to end; past that it answers the offset synced
    // so far. GET, the JSON view for people and progress bars, answers at once ("receiving").
    if (!head) return describe(true);
    LockWait::Run(s->holds, call.id, &Holds::FreeOr, s->settings.lock_wait, *responder,
                  std::move(describe));
  }

  static HttpResponse Describe(const std::string& id, const State& state, bool writing) {
    HttpResponse res = Tus(200);
    AddOffsetHeaders(res, state.offset, state.length, state.expires, state.partial);
    json j = {{"id", id},
              {"offset", state.offset},
              {"length", state.length ? json(*state.length) : json(nullptr)},
              {"complete", state.length && state.offset == *state.length},
              {"partial", state.partial},
              {"receiving", writing}};
    if (state.expires > 0 && (!state.length || state.offset < *state.length)) {
      j["expires"] = FormatTimeMs(state.expires);
    }
    if (!state.partial) j["video"] = "/api/v1/videos/" + id;
    res.body = Dump(j);
    return res;
  }

  static HttpResponse HeadOnPool(Shared& s, const Call& call) {
    if (!ValidateStagedId(call.id)) {
      s.Failed(Reason::kNotFound);
      return Missing(call.id);
    }
    if (auto writer = s.holds->Writer(call.id)) {
      // A PATCH here is writing it: its offset as last synced.
      State state{200, writer->kept, writer->length, writer->expires, writer->partial, {}};
      return Describe(call.id, state, true);
    }
    // Read only, so that HEAD never disturbs a writer (here or in another process).
    State state;
    auto staged = s.storage->StatStaged(call.id);
    if (staged) {
      auto record = Record::FromJson(staged->meta);
      if (!record) {
        s.Failed(Reason::kStorage);
        return StorageError(
            Fail(ErrorCode::kIo, "upload '" + call.id + "' has an unreadable record"));
      }
      if (record->expires > 0 && record->expires < NowMs()) {
        // The worker's expire-uploads job (or the next PATCH) removes it.
        s.Failed(Reason::kGone);
        return Gone(call.id, "it expired (upload.expiry) before it was finished");
      }
      state = State{200, staged->size, record->length, record->expires, record->partial, {}};
    } else if (staged.error().code == ErrorCode::kNotFound) {
      state = Lookup(s, call.id, call.request_id);
    } else {
      s.Failed(Reason::kStorage);
      return StorageError(staged.error());
    }
    if (state.status != 200) {
      s.Failed(state.status == 410 ? Reason::kGone : Reason::kNotFound);
      return std::move(state.error);
    }
    return Describe(call.id, state, false);
  }

  // DELETE /api/v1/uploads/{id}: termination.
  static void Terminate(const std::shared_ptr<Shared>& s, const HttpRequest& req,
                        std::shared_ptr<HttpResponder> responder) {
    auto answer = [&](HttpResponse res, Reason reason) {
      Refuse(*s, "DELETE", *responder, {std::move(res), reason});
    };
    if (auto bad = CheckVersion(req)) return answer(std::move(*bad), Reason::kVersion);
    auto who = Authorize(*s, req);
    if (auto* denied = std::get_if<HttpResponse>(&who)) {
      return answer(std::move(*denied), Reason::kUnauthorized);
    }
    const std::string id(req.Param("id"));
    if (!ValidateStagedId(id)) return answer(Missing(id), Reason::kNotFound);
    Call call{id, "DELETE", std::string(req.request_id), std::string(req.remote)};
    call.wait_until = std::chrono::steady_clock::now() + s->settings.lock_wait;
    LockWait::Run(s->holds, id, &Holds::HoldOr, s->settings.lock_wait, *responder,
                  [s, call, responder](bool held) {
                    if (!held) return Refuse(*s, call.method, *responder, Locked(*s, call.id));
                    if (responder->ClientGone())
                      return s->holds->Release(call.id);  // left while it waited
                    LeaseWait::Start(
                        s, call, responder,
                        [s, call, responder](Lease lease) {
                          HttpResponse res = TerminateOnPool(*s, call);
                          lease.reset();
                          s->holds->Release(call.id);
                          s->Answered("DELETE", res.status);
                          responder->Send(std::move(res));
                        },
                        [s, call] { s->holds->Release(call.id); });
                  });
  }

  // Under the request's hold of the upload and its lease.
  static HttpResponse TerminateOnPool(Shared& s, const Call& call) {
    bool partial = false;
    bool found = false;
    if (auto opened = s.storage->OpenStaged(call.id); opened) {
      if (auto record = Record::FromJson((*opened)->meta())) partial = record->partial;
      if (auto gone = s.storage->DeleteStaged(call.id); !gone) {
        s.Failed(Reason::kStorage);
        return StorageError(gone.error());
      }
      if (s.staged.load() > 0) s.staged.fetch_sub(1);
      found = true;
    } else if (opened.error().code != ErrorCode::kNotFound) {
      s.Failed(Reason::kStorage);
      return StorageError(opened.error());
    } else if (auto part = s.storage->Delete(PartKey(call.id)); part) {
      partial = true;
      found = true;
    }
    if (!partial) {
      auto catalogue = s.FindCatalogue();
      if (!catalogue) {
        if (!found) {
          s.Failed(Reason::kCatalogue);
          return TusError(503, "unavailable", catalogue.error().message,
                          "start the metadata plugin and try again");
        }
      } else {
        VideoTransition to;
        to.to = VideoState::kDeleted;
        to.failure_reason = "the upload was terminated by its client";
        auto video = (*catalogue)->Transition(call.id, to);
        if (video) {
          found = true;
          if (auto queue = s.services->Find<JobQueue>("worker")) {
            (void)(*queue)->Enqueue(DeleteVideoJob(*video));
          }
        } else if (video.error().code == ErrorCode::kFailedPrecondition) {
          s.Failed(Reason::kGone);
          return Gone(call.id, "it was deleted before");
        } else if (video.error().code != ErrorCode::kNotFound &&
                   video.error().code != ErrorCode::kInvalidArgument) {
          s.Failed(Reason::kCatalogue);
          return TusError(503, "unavailable", video.error().message, "try again shortly");
        }
      }
    }
    if (!found) {
      s.Failed(Reason::kNotFound);
      return Missing(call.id);
    }
    s.terminated.fetch_add(1);
    s.logger->info(
        log::With("Upload terminated", {{"upload", call.id}, {"request_id", call.request_id}}));
    return Tus(204);
  }

  static HttpResponse TooLarge(const Shared& s, uint64_t length) {
    HttpResponse res =
        TusError(413, "too_large",
                 fmt::format("the upload ({} bytes) is larger than upload.max_size ({} bytes)",
                             length, s.settings.max_size),
                 "send a smaller file, or raise upload.max_size");
    res.headers.emplace_back("Tus-Max-Size", std::to_string(s.settings.max_size));
    return res;
  }

  static HttpResponse TooMany(const Shared& s) {
    return TusError(429, "too_many_uploads",
                    fmt::format("this client already sends {} uploads at once "
                                "(upload.max_concurrent_per_client)",
                                s.settings.per_client),
                    "wait for one to finish, then resume (HEAD for the offset)");
  }

  static HttpResponse Overloaded() {
    return TusError(503, "unavailable",
                    "the daemon is overloaded: its queue of blocking work is full "
                    "(daemon.blocking_queue)",
                    "try again shortly");
  }

  // The worker's periodic expire-uploads job: removes unfinished uploads past their expiry.
  static void RegisterExpiry(const std::shared_ptr<Shared>& self) {
    auto queue = self->services->Find<JobQueue>("worker");
    if (!queue) {
      self->logger->info(
          "No worker service: expired uploads are removed when a client next touches them");
      return;
    }
    auto handle = (*queue)->Handle(
        kExpireUploadsKind,
        [weak = std::weak_ptr<Shared>(self)](JobContext& job) -> Result<void> {
          auto s = weak.lock();
          if (!s) return Fail(ErrorCode::kUnavailable, "the upload plugin has stopped");
          return CollectExpired(*s, job);
        },
        1);
    if (!handle) {
      self->logger->warn(log::With("Cannot register the expire-uploads job handler",
                                   {{"error", handle.error().message}}));
      return;
    }
    std::lock_guard lock(self->mu);
    if (self->running) self->expire_handler = std::move(*handle);
  }

  static Result<void> CollectExpired(Shared& s, JobContext& job) {
    auto listed = s.storage->ListStaged();
    if (!listed) return listed.error().Wrap("list the unfinished uploads");
    const int64_t now = NowMs();
    size_t removed = 0;
    size_t left = 0;
    for (const auto& info : *listed) {
      if (job.Cancelled()) break;
      auto record = Record::FromJson(info.meta);
      if (!record || record->expires == 0 || record->expires >= now) {
        ++left;
        continue;
      }
      if (!s.holds->Hold(info.id)) {
        ++left;
        continue;  // a request works on it: not abandoned
      }
      auto lease = TakeLease(s, info.id);
      if (!lease) {
        s.holds->Release(info.id);
        ++left;
        continue;  // another instance works on it
      }
      Expire(s, info.id, info.size, *record, "job:" + job.job().id);
      ++removed;
      s.holds->Release(info.id);
    }
    s.staged.store(left);
    if (removed > 0) {
      s.logger->info(
          log::With("Expired uploads collected", {{"removed", static_cast<int64_t>(removed)},
                                                  {"unfinished", static_cast<int64_t>(left)}}));
    }
    return {};
  }

  static void Collect(const Shared& s, std::vector<MetricFamily>& out) {
    MetricFamily answers{"streamgate_upload_responses_total",
                         "tus requests answered, by method and status",
                         "counter",
                         {}};
    MetricFamily failures{"streamgate_upload_failures_total",
                          "tus requests refused or broken, by reason",
                          "counter",
                          {}};
    {
      std::lock_guard lock(s.mu);
      for (const auto& [key, n] : s.answers) {
        answers.samples.push_back({"",
                                   {{"method", key.first}, {"status", std::to_string(key.second)}},
                                   static_cast<double>(n)});
      }
      for (size_t i = 0; i < static_cast<size_t>(Reason::kCount); ++i) {
        failures.samples.push_back(
            {"", {{"reason", kReasonNames[i]}}, static_cast<double>(s.failures[i])});
      }
    }
    out.push_back(std::move(answers));
    out.push_back(std::move(failures));
    AddValue(out, "streamgate_upload_bytes_total", "Upload bytes received and kept (synced)",
             "counter", static_cast<double>(s.bytes.load()));
    AddValue(out, "streamgate_upload_created_total", "Uploads created", "counter",
             static_cast<double>(s.created.load()));
    AddValue(out, "streamgate_upload_completed_total", "Uploads finished and committed to storage",
             "counter", static_cast<double>(s.completed.load()));
    AddValue(out, "streamgate_upload_terminated_total", "Uploads deleted by their client",
             "counter", static_cast<double>(s.terminated.load()));
    AddValue(out, "streamgate_upload_expired_total",
             "Unfinished uploads removed after upload.expiry", "counter",
             static_cast<double>(s.expired.load()));
    AddValue(out, "streamgate_upload_syncs_total", "fsyncs that made received bytes count",
             "counter", static_cast<double>(s.syncs.load()));
    AddValue(out, "streamgate_upload_transfers", "Request bodies being received now", "gauge",
             static_cast<double>(s.transfers.load()));
    AddValue(out, "streamgate_upload_unfinished", "Unfinished uploads, as last counted", "gauge",
             static_cast<double>(s.staged.load()));
    AddValue(out, "streamgate_upload_lock_waiting",
             "Requests waiting (up to upload.lock_wait) for an upload another request (or, in "
             "microservice mode, another instance) holds",
             "gauge", static_cast<double>(s.holds->waiting.load()));
  }

  std::shared_ptr<Shared> shared_;
  Router* router_ = nullptr;
  MetricsRegistry* metrics_ = nullptr;
  boost::asio::any_io_executor executor_;
  std::vector<Registration> routes_;
  Registration collector_;
  std::unique_ptr<PeriodicTimer> sweep_;  // the look for committed uploads left "uploading"
};

}  // namespace

std::unique_ptr<Plugin> MakeUpload() { return std::make_unique<UploadPlugin>(); }

}  // namespace sg::plugins
