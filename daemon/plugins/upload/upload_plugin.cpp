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
#include "daemon/plugins/upload/tus.h"
#include "daemon/plugins/upload/upload_config.h"

namespace sg::plugins {
namespace {

using upload::Held;
using upload::Holds;
using upload::LockWait;

// How often the upload service looks for committed uploads whose video was left "uploading".
constexpr auto kSweepEvery = std::chrono::seconds(10);

using nlohmann::json;

constexpr std::string_view kBase = "/api/v1/uploads";
constexpr const char* kExpireUploadsKind = "expire-uploads";  // queued by the worker plugin
constexpr size_t kWriteBatch = size_t{1} << 20;  // bytes gathered before a write to storage

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// The reasons a request failed, as metrics labels: a fixed set.
enum class Reason {
  kBadRequest,
  kVersion,
  kContentType,
  kOffset,
  kTooLarge,
  kNotFound,
  kGone,
  kLocked,
  kTooMany,
  kChecksum,
  kStalled,
  kClientGone,
  kStorage,
  kCatalogue,
  kOverloaded,
  kUnauthorized,
  kCount
};
constexpr const char* kReasonNames[] = {"bad_request", "version",   "content_type", "offset",
                                        "too_large",   "not_found", "gone",         "locked",
                                        "too_many",    "checksum",  "stalled",      "client_gone",
                                        "storage",     "catalogue", "overloaded",   "unauthorized"};
static_assert(std::size(kReasonNames) == static_cast<size_t>(Reason::kCount));

// The upload's record, kept with its bytes (StagedObject::meta) as JSON.
struct Record {
  std::optional<uint64_t> length;  // unset while deferred (Upload-Defer-Length)
  std::string metadata;            // Upload-Metadata as the client sent it
  int64_t created = 0;             // ms since the epoch
  int64_t expires = 0;             // ms since the epoch: last activity + upload.expiry
  bool partial = false;            // a part of a later concatenation, not a video

  std::string ToJson() const {
    json j = {{"v", 1},
              {"metadata", metadata},
              {"created", created},
              {"expires", expires},
              {"partial", partial}};
    if (length) j["length"] = *length;
    return Dump(j);
  }
  static std::optional<Record> FromJson(const std::string& text) {
    const json j = json::parse(text, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    Record r;
    if (j.contains("length") && j["length"].is_number_unsigned()) {
      r.length = j["length"].get<uint64_t>();
    }
    try {  // a field of the wrong type (a file edited by hand) is a damaged record
      r.metadata = j.value("metadata", "");
      r.created = j.value("created", int64_t{0});
      r.expires = j.value("expires", int64_t{0});
      r.partial = j.value("partial", false);
    } catch (const json::exception&) {
      return std::nullopt;
    }
    return r;
  }
};

// What HEAD answers from while a request writes an upload that has `kept` bytes so far.
Held Writing(uint64_t kept, const Record& record) {
  return Held{true, kept, record.length, record.expires, record.partial};
}

struct Settings {
  uint64_t max_size = uint64_t{16} << 30;
  std::chrono::milliseconds expiry{24 * 3600 * 1000};
  int per_client = 8;
  uint64_t sync_every = uint64_t{64} << 20;
  std::vector<std::string> cors_origins = {"*"};
  std::chrono::milliseconds lock_wait{5000};
};

// What the plugin shares with work on other threads, which may finish after a Stop.
struct Shared {
  std::shared_ptr<spdlog::logger> logger;
  Settings settings;
  Storage* storage = nullptr;
  BlockingPool* blocking = nullptr;
  ServiceRegistry* services = nullptr;
  Bus* bus = nullptr;
  std::shared_ptr<AccessGuard> access;  // null (everything open) only without a daemon: tests

  mutable std::mutex mu;
  const std::shared_ptr<Holds> holds = std::make_shared<Holds>();  // uploads requests work on
  std::map<std::string, int> per_client;  // guarded by mu: body-carrying requests by address
  std::map<std::pair<std::string, unsigned>, uint64_t> answers;  // guarded by mu
  uint64_t failures[static_cast<size_t>(Reason::kCount)] = {};   // guarded by mu
  std::unique_ptr<JobQueue::Registration> expire_handler;        // guarded by mu
  bool running = false;                                          // guarded by mu

  std::atomic<uint64_t> bytes{0};       // bytes kept (synced) from clients
  std::atomic<uint64_t> created{0};     // uploads created
  std::atomic<uint64_t> completed{0};   // uploads finished and committed
  std::atomic<uint64_t> terminated{0};  // uploads deleted by their client
  std::atomic<uint64_t> expired{0};     // uploads collected after upload.expiry
  std::atomic<uint64_t> syncs{0};       // fsyncs that made bytes count
  std::atomic<int64_t> transfers{0};    // bodies being received now
  std::atomic<uint64_t> staged{0};      // unfinished uploads, as last counted

  bool EnterClient(const std::string& remote) {
    std::lock_guard lock(mu);
    int& n = per_client[remote];
    if (n >= settings.per_client) {
      if (n == 0) per_client.erase(remote);
      return false;
    }
    ++n;
    return true;
  }
  void LeaveClient(const std::string& remote) {
    std::lock_guard lock(mu);
    auto it = per_client.find(remote);
    if (it != per_client.end() && --it->second <= 0) per_client.erase(it);
  }
  void Answered(std::string_view method, unsigned status) {
    std::lock_guard lock(mu);
    ++answers[{std::string(method), status}];
  }
  void Failed(Reason reason) {
    std::lock_guard lock(mu);
    ++failures[static_cast<size_t>(reason)];
  }

  Result<std::shared_ptr<Catalogue>> FindCatalogue() const {
    return services->Find<Catalogue>("metadata");
  }
};

// ---- Responses -------------------------------------------------------------------------------

HttpResponse Tus(unsigned status) {
  HttpResponse res;
  res.status = status;
  res.content_type = "application/json";
  res.headers.emplace_back("Tus-Resumable", std::string(tus::kVersion));
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

// An error in the gateway's JSON shape, with what to do next.
HttpResponse TusError(unsigned status, std::string_view code, const std::string& message,
                      const std::string& hint) {
  HttpResponse res = Tus(status);
  res.body = Dump({{"error", message}, {"code", std::string(code)}, {"hint", hint}});
  if (status == 412) res.headers.emplace_back("Tus-Version", std::string(tus::kVersion));
  if (status == 503 || status == 429) res.headers.emplace_back("Retry-After", "1");
  return res;
}

HttpResponse Missing(const std::string& id) {
  return TusError(404, "not_found", fmt::format("no upload with id '{}'", id.substr(0, 80)),
                  "create the upload again with POST /api/v1/uploads");
}

HttpResponse Gone(const std::string& id, const std::string& why) {
  return TusError(410, "gone", fmt::format("upload '{}' is gone: {}", id, why),
                  "start a new upload with POST /api/v1/uploads");
}

HttpResponse StorageError(const Error& e) {
  if (e.code == ErrorCode::kNoSpace) {
    return TusError(507, "no_space", e.message,
                    "free space in the media store (storage.path) or raise its quota; the bytes "
                    "received so far are kept, resume once there is room");
  }
  if (e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kTimeout) {
    return TusError(503, "unavailable", e.message,
                    "the media store cannot be reached; try again shortly (HEAD for the offset)");
  }
  return TusError(500, "storage", e.message,
                  "see the daemon's log ('streamgate logs --plugin upload'); HEAD the upload for "
                  "the offset and resume");
}

// Checks Tus-Resumable; the 412 to send when it is missing or another version.
std::optional<HttpResponse> CheckVersion(const HttpRequest& req) {
  const std::string_view v = req.Header("Tus-Resumable");
  if (v == tus::kVersion) return std::nullopt;
  return TusError(412, "version",
                  v.empty() ? std::string("the Tus-Resumable header is missing")
                            : fmt::format("Tus-Resumable {} is not supported", v.substr(0, 32)),
                  "send 'Tus-Resumable: 1.0.0' (this server speaks tus 1.0.0)");
}

void AddOffsetHeaders(HttpResponse& res, uint64_t offset, const std::optional<uint64_t>& length,
                      int64_t expires, bool partial) {
  res.headers.emplace_back("Upload-Offset", std::to_string(offset));
  if (length) {
    res.headers.emplace_back("Upload-Length", std::to_string(*length));
  } else {
    res.headers.emplace_back("Upload-Defer-Length", "1");
  }
  if ((!length || offset < *length) && expires > 0) {
    res.headers.emplace_back("Upload-Expires", tus::HttpDate(expires));
  }
  if (partial) res.headers.emplace_back("Upload-Concat", "partial");
}

std::string SourceKey(const std::string& id) { return "videos/" + id + "/source"; }
std::string PartKey(const std::string& id) { return "uploads/" + id; }

// ---- Holding an upload across processes -------------------------------------------------------

// In microservice mode the "locks" service makes an upload's hold deployment-wide, so that two
// upload instances never write one upload at once. Null (and fine) in monolith mode, where the
// plugin's own map is the whole truth. The error is the answer to send.
using Lease = std::unique_ptr<Locks::Lease>;

Result<Lease> TakeLease(Shared& s, const std::string& id) {
  auto locks = s.services->Find<Locks>("locks");
  if (!locks) return std::unique_ptr<Locks::Lease>();
  auto lease = (*locks)->TryTake("upload." + id);
  if (!lease) return lease.error();
  return std::move(*lease);
}

HttpResponse LeaseRefused(const Error& e, const std::string& id) {
  if (e.code == ErrorCode::kFailedPrecondition) {
    HttpResponse res = TusError(
        423, "locked",
        fmt::format("another upload instance is writing upload '{}' now ({})", id, e.message),
        "wait for it to end (or cancel it), then HEAD for the offset; if that instance died, its "
        "lease lapses within 30 seconds");
    // The holder renews its lease every 10 s; a dead one's lapses 30 s after its last renewal.
    res.headers.emplace_back("Retry-After", "10");
    return res;
  }
  return TusError(503, "unavailable", e.message,
                  "the deployment's lock store (NATS JetStream) cannot be reached; try again "
                  "shortly");
}

// ---- Who may write ----------------------------------------------------------------------------

// Every upload route writes (HEAD too tells the offset of someone's upload): the caller's token
// must carry videos:write. The principal, or the 401/403 to send.
std::variant<Principal, HttpResponse> Authorize(const Shared& s, const HttpRequest& req) {
  if (s.access == nullptr) return Principal{};
  return s.access->Require(req, kScopeWrite);
}

// ---- Completion --------------------------------------------------------------------------------

// Moves a video whose source object is in storage to "uploaded" and says so on the bus. Called
// when an upload finishes, and again by HEAD for a video left "uploading" after its commit (the
// catalogue was away then): the step is idempotent.
Result<void> MarkUploaded(Shared& s, const std::string& id, const ObjectInfo& source,
                          const std::string& request_id) {
  auto catalogue = s.FindCatalogue();
  if (!catalogue) return catalogue.error();
  auto video = (*catalogue)->Get(id);
  if (!video) return video.error();
  if (video->state != VideoState::kUploading) return {};  // done before
  VideoTransition to;
  to.to = VideoState::kUploaded;
  to.source_size = static_cast<int64_t>(source.size);
  to.source_key = source.key;
  auto moved = (*catalogue)->Transition(id, to);
  if (!moved) return moved.error();
  const json event = {{"id", id},
                      {"key", source.key},
                      {"size", source.size},
                      {"type", moved->source_type},
                      {"title", moved->title},
                      {"owner", moved->owner},
                      {"request_id", request_id}};
  if (auto sent = s.bus->Publish("video.uploaded", Dump(event)); !sent) {
    s.logger->warn(log::With("Could not publish video.uploaded",
                             {{"video", id}, {"error", sent.error().message}}));
  }
  return {};
}

// Videos left "uploading" whose source object is in the store: their upload was committed, but
// the step to "uploaded" failed (the catalogue was away). Each is marked now; the step is
// idempotent, so two instances sweeping at once do no harm.
void FinishCommitted(Shared& s) {
  auto catalogue = s.FindCatalogue();
  if (!catalogue) return;
  int64_t finished = 0;
  // An error (the catalogue away) ends this sweep: the next one tries again.
  (void)ForEachVideo(**catalogue, VideoState::kUploading, [&](const Video& video) {
    auto source = s.storage->Stat(SourceKey(video.id));
    if (!source) return;  // still arriving, or never will: expiry deals with those
    if (MarkUploaded(s, video.id, *source, "sweep")) ++finished;
  });
  if (finished > 0) {
    s.logger->info(
        log::With("Marked uploaded the videos whose upload was committed while the "
                  "catalogue was away",
                  {{"videos", finished}}));
  }
}

// Commits a whole upload: a partial one as uploads/ID for a later concatenation, a video's as
// its source object, then marks the video uploaded. The staged object is spent after.
Result<void> FinishUpload(Shared& s, StagedObject& staged, const Record& record,
                          const std::string& request_id) {
  const std::string id = staged.id();
  if (record.partial) {
    auto info = staged.Commit(PartKey(id));
    if (!info) return info.error();
    s.completed.fetch_add(1);
    s.logger->info(log::With(
        "Partial upload complete",
        {{"upload", id}, {"bytes", static_cast<int64_t>(info->size)}, {"request_id", request_id}}));
    return {};
  }
  auto info = staged.Commit(SourceKey(id));
  if (!info) return info.error();
  s.completed.fetch_add(1);
  s.logger->info(log::With("Upload complete", {{"upload", id},
                                               {"video", id},
                                               {"bytes", static_cast<int64_t>(info->size)},
                                               {"key", info->key},
                                               {"request_id", request_id}}));
  if (auto marked = MarkUploaded(s, id, *info, request_id); !marked) {
    s.Failed(Reason::kCatalogue);
    s.logger->warn(
        log::With("The upload is stored but its video is not marked uploaded yet; "
                  "the next HEAD of the upload tries again",
                  {{"video", id}, {"error", marked.error().message}, {"request_id", request_id}}));
  }
  return {};
}

// ---- Receiving a body --------------------------------------------------------------------------

// One request's body on its way into an upload (a PATCH, or a POST with creation-with-upload):
// read on the I/O thread in pieces, gathered up to kWriteBatch, written on the blocking pool.
// Reading goes on while a batch is written; with one batch written and the next one full, it
// waits, so a fast client never fills memory (two batches and a spare string at most) and the
// socket's window closes on it.
class Transfer : public std::enable_shared_from_this<Transfer> {
 public:
  struct Params {
    std::string id;
    std::string method;
    std::string request_id;
    std::string remote;
    std::optional<tus::Checksum> checksum;
    unsigned success_status = 204;
    std::vector<std::pair<std::string, std::string>> success_headers;
    std::unique_ptr<Locks::Lease> lease;  // the deployment-wide hold, in microservice mode
  };

  Transfer(std::shared_ptr<Shared> shared, Params params, std::unique_ptr<StagedObject> staged,
           Record record, std::shared_ptr<HttpBodyReader> body,
           std::shared_ptr<HttpResponder> responder)
      : s_(std::move(shared)),
        p_(std::move(params)),
        staged_(std::move(staged)),
        record_(std::move(record)),
        body_(std::move(body)),
        responder_(std::move(responder)),
        start_offset_(staged_->size()) {
    s_->transfers.fetch_add(1);
  }
  ~Transfer() {
    s_->transfers.fetch_sub(1);
    Let();
  }
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  void Begin() {
    s_->holds->Publish(p_.id, Writing(staged_->size(), record_));
    Pump();
  }

 private:
  // What the reading side hands the writing side: a batch of bytes, the body's last or not, or
  // the error that ended the body (with the bytes read before it).
  struct Batch {
    std::string bytes;
    bool last = false;
    std::optional<Error> error;
  };

  // The reading side: on the I/O thread (or the pool's, resuming after a wait).
  void Pump() {
    body_->Read([self = shared_from_this()](Result<HttpBodyChunk> chunk) {
      if (!chunk) return self->Hand({std::move(self->reading_), false, chunk.error()});
      self->reading_ += chunk->data;
      if (!chunk->last && self->reading_.size() < kWriteBatch) return self->Pump();
      self->Hand({std::move(self->reading_), chunk->last, std::nullopt});
    });
  }

  // Gives a batch to the writing side: at once when it is idle, reading on meanwhile; after the
  // batch it is writing when it is not, reading paused until then.
  void Hand(Batch batch) {
    {
      std::lock_guard lock(mutex_);
      reading_ = std::move(spare_);  // the capacity of a batch written before, if any
      spare_ = {};
      if (answered_) return;  // answered already (an error while reading on): nothing to do
      if (writing_) {
        waiting_ = std::move(batch);
        return;
      }
      writing_ = true;
    }
    Dispatch(std::move(batch));
  }

  // Sends a batch to the blocking pool (writing_ is set), and reads on unless it ends the body.
  // Each batch is a task of its own, so that a fast upload does not keep a pool thread from
  // other work for its whole length.
  void Dispatch(Batch batch) {
    const bool read_on = !batch.last && !batch.error;
    if (!Submit(std::move(batch))) return;
    if (read_on) Pump();
  }

  bool Submit(Batch batch) {
    auto work = [self = shared_from_this(), batch = std::move(batch)]() mutable {
      self->Write(std::move(batch));
    };
    if (s_->blocking->Submit(std::move(work))) return true;
    // The pool refused: keep what was synced, say so.
    {
      std::lock_guard lock(mutex_);
      writing_ = false;
    }
    s_->Failed(Reason::kOverloaded);
    (void)staged_->Rollback();
    Answer(TusError(503, "unavailable",
                    "the daemon is overloaded: its queue of blocking work is full "
                    "(daemon.blocking_queue)",
                    "HEAD the upload for its offset and resume shortly"));
    return false;
  }

  // The writing side, on the blocking pool: one batch at a time, in the order read; then the
  // batch that waited, if one did (reading was paused for it).
  void Write(Batch batch) {
    if (batch.error) return Interrupted(*batch.error, batch.bytes);
    if (!Store(batch.bytes)) return;
    if (batch.last) return Complete();
    batch.bytes.clear();
    std::optional<Batch> next;
    {
      std::lock_guard lock(mutex_);
      spare_ = std::move(batch.bytes);
      if (!waiting_) {
        writing_ = false;
        return;
      }
      next = std::move(waiting_);
      waiting_.reset();
    }
    Dispatch(std::move(*next));
  }

  // Appends a batch and syncs every upload.sync_every; false once it answered (a storage error,
  // a body past Upload-Length).
  bool Store(std::string_view bytes) {
    bool overflow = false;
    if (record_.length) {
      const uint64_t room = *record_.length - staged_->appended();
      if (bytes.size() > room) {
        bytes = bytes.substr(0, room);
        overflow = true;
      }
    }
    if (auto wrote = staged_->Append(bytes); !wrote) {
      s_->Failed(Reason::kStorage);
      (void)staged_->Rollback();
      s_->logger->error(log::With(
          "Could not write an upload's bytes",
          {{"upload", p_.id}, {"error", wrote.error().message}, {"request_id", p_.request_id}}));
      Answer(StorageError(wrote.error()));
      return false;
    }
    if (p_.checksum) p_.checksum->digest->Update(bytes);
    since_sync_ += bytes.size();
    if (overflow) {
      // Nothing past Upload-Length is stored; the bytes before it count unless a checksum
      // covers the whole body, which cannot match any more.
      s_->Failed(Reason::kTooLarge);
      if (p_.checksum) {
        (void)staged_->Rollback();
      } else if (auto kept = Keep(); !kept) {
        Answer(StorageError(kept.error()));
        return false;
      }
      Answer(TusError(413, "too_large",
                      fmt::format("the body runs past Upload-Length ({} bytes); nothing "
                                  "past it was stored",
                                  *record_.length),
                      "send at most Upload-Length minus Upload-Offset bytes"));
      return false;
    }
    if (!p_.checksum && since_sync_ >= s_->settings.sync_every) {
      if (auto kept = Keep(); !kept) {
        Answer(StorageError(kept.error()));
        return false;
      }
    }
    return true;
  }

  // Syncs what was appended: from now on it survives a crash, and HEAD reports it.
  Result<void> Keep() {
    if (staged_->appended() == staged_->size()) return {};
    const uint64_t before = staged_->size();
    record_.expires = NowMs() + s_->settings.expiry.count();
    if (auto synced = staged_->Sync(record_.ToJson()); !synced) {
      s_->Failed(Reason::kStorage);
      (void)staged_->Rollback();
      s_->logger->error(log::With(
          "Could not sync an upload's bytes",
          {{"upload", p_.id}, {"error", synced.error().message}, {"request_id", p_.request_id}}));
      return synced.error();
    }
    s_->syncs.fetch_add(1);
    s_->bytes.fetch_add(staged_->size() - before);
    since_sync_ = 0;
    s_->holds->Publish(p_.id, Writing(staged_->size(), record_));
    return {};
  }

  void Complete() {
    if (p_.checksum) {
      const std::string got = p_.checksum->digest->Final();
      if (got != p_.checksum->expected) {
        s_->Failed(Reason::kChecksum);
        (void)staged_->Rollback();
        s_->logger->info(log::With("Chunk discarded: its checksum did not match",
                                   {{"upload", p_.id},
                                    {"algorithm", p_.checksum->algorithm},
                                    {"offset", static_cast<int64_t>(staged_->size())},
                                    {"request_id", p_.request_id}}));
        return Answer(
            TusError(460, "checksum_mismatch",
                     fmt::format("the body's {} does not match Upload-Checksum; the "
                                 "chunk was discarded",
                                 p_.checksum->algorithm),
                     "send the chunk again from Upload-Offset " + std::to_string(staged_->size())));
      }
    }
    if (auto kept = Keep(); !kept) return Answer(StorageError(kept.error()));
    const uint64_t offset = staged_->size();
    HttpResponse res = Tus(p_.success_status);
    for (auto& h : p_.success_headers) res.headers.push_back(h);
    if (record_.length && offset == *record_.length) {
      if (auto done = FinishUpload(*s_, *staged_, record_, p_.request_id); !done) {
        s_->Failed(Reason::kStorage);
        return Answer(StorageError(done.error()));
      }
      res.headers.emplace_back("Upload-Offset", std::to_string(offset));
      if (!record_.partial) {
        res.headers.emplace_back("Link", fmt::format("</api/v1/videos/{}>; rel=\"video\"", p_.id));
      }
    } else {
      res.headers.emplace_back("Upload-Offset", std::to_string(offset));
      if (record_.expires > 0) {
        res.headers.emplace_back("Upload-Expires", tus::HttpDate(record_.expires));
      }
    }
    Answer(std::move(res));
  }

  // The body ended early: the client left, stalled past the read timeout, or broke a limit.
  // `arrived`: what was read after the last batch.
  void Interrupted(const Error& error, std::string_view arrived) {
    const bool gone = error.code == ErrorCode::kUnavailable;
    const bool stalled = error.code == ErrorCode::kTimeout;
    s_->Failed(gone ? Reason::kClientGone : stalled ? Reason::kStalled : Reason::kBadRequest);
    // What arrived counts (the client resumes from it), unless a checksum was to vouch for it.
    if (!arrived.empty() && !p_.checksum) {
      std::string_view bytes = arrived;
      if (record_.length) {
        bytes = bytes.substr(
            0, std::min<uint64_t>(bytes.size(), *record_.length - staged_->appended()));
      }
      if (staged_->Append(bytes)) since_sync_ += bytes.size();
    }
    if (p_.checksum) {
      (void)staged_->Rollback();
    } else {
      (void)Keep();
    }
    s_->logger->info(
        log::With(gone      ? "Upload interrupted: the client went away; what arrived is kept"
                  : stalled ? "Upload interrupted: the client stopped sending; what arrived is kept"
                            : "Upload interrupted",
                  {{"upload", p_.id},
                   {"offset", static_cast<int64_t>(staged_->size())},
                   {"received", static_cast<int64_t>(staged_->size() - start_offset_)},
                   {"error", error.message},
                   {"request_id", p_.request_id}}));
    if (stalled) {
      return Answer(TusError(408, "timeout",
                             fmt::format("no byte arrived for the read timeout; {} bytes are "
                                         "kept",
                                         staged_->size()),
                             "HEAD the upload for its offset and resume"));
    }
    Answer(
        TusError(400, "interrupted", error.message, "HEAD the upload for its offset and resume"));
  }

  // Lets go of the upload and the client's slot, once: before the answer goes out, so that the
  // client's next request (the next PATCH) finds them free.
  void Let() {
    if (let_) return;
    let_ = true;
    p_.lease.reset();
    s_->holds->Release(p_.id);
    s_->LeaveClient(p_.remote);
  }

  void Answer(HttpResponse res) {
    {
      std::lock_guard lock(mutex_);
      if (answered_) return;
      answered_ = true;
    }
    Let();
    s_->Answered(p_.method, res.status);
    responder_->Send(std::move(res));
  }

  std::shared_ptr<Shared> s_;
  Params p_;
  std::unique_ptr<StagedObject> staged_;
  Record record_;
  std::shared_ptr<HttpBodyReader> body_;
  std::shared_ptr<HttpResponder> responder_;
  const uint64_t start_offset_;
  std::string reading_;           // the reading side's batch, being gathered
  uint64_t since_sync_ = 0;       // the writing side's: bytes appended since the last sync
  std::mutex mutex_;              // guards what follows
  bool writing_ = false;          // a batch is on the blocking pool
  std::optional<Batch> waiting_;  // the next, full, batch; reading waits for it to go
  std::string spare_;             // a written batch's string, for its capacity
  bool answered_ = false;
  bool let_ = false;  // the hold and the slot are released
};

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
  // another instance holds it, tried again every kLeaseRetry on a timer of the request's I/O
  // thread (the pool is not kept waiting) until the call's wait_until: the counterpart across
  // processes of LockWait. The request holds the upload in this process meanwhile.
  struct LeaseWait {
    std::shared_ptr<Shared> s;
    Call call;
    std::shared_ptr<HttpResponder> responder;
    std::function<void(Lease)> then;      // on the pool, with the lease (null in monolith mode)
    std::function<void(Refusal)> refuse;  // lets go of what the request holds, and answers
    std::function<void()> gone;           // lets go of it: the client left while it waited
    bool counted = false;                 // in holds->waiting
    bool done = false;

    LeaseWait(std::shared_ptr<Shared> shared, Call c, std::shared_ptr<HttpResponder> r)
        : s(std::move(shared)), call(std::move(c)), responder(std::move(r)) {}
    ~LeaseWait() {
      if (counted) s->holds->waiting.fetch_sub(1);
      if (!done && gone) gone();  // the I/O thread ended with the wait
    }
    LeaseWait(const LeaseWait&) = delete;
    LeaseWait& operator=(const LeaseWait&) = delete;

    static constexpr auto kLeaseRetry = std::chrono::milliseconds(100);

    // Starts it from the request's I/O thread.
    static void Start(const std::shared_ptr<LeaseWait>& w) {
      if (!w->s->blocking->Submit([w] { Take(w); }))
        w->Refused({Overloaded(), Reason::kOverloaded});
    }

   private:
    void Refused(Refusal r) {
      done = true;
      refuse(std::move(r));
    }

    static void Take(const std::shared_ptr<LeaseWait>& w) {
      auto lease = TakeLease(*w->s, w->call.id);
      if (lease) {
        w->done = true;
        return w->then(std::move(*lease));
      }
      const auto executor = w->responder->executor();
      const bool held_elsewhere = lease.error().code == ErrorCode::kFailedPrecondition;
      if (!held_elsewhere || !executor ||
          std::chrono::steady_clock::now() + kLeaseRetry > w->call.wait_until) {
        return w->Refused({LeaseRefused(lease.error(), w->call.id),
                           held_elsewhere ? Reason::kLocked : Reason::kOverloaded});
      }
      if (!w->counted) {
        w->counted = true;
        w->s->holds->waiting.fetch_add(1);
      }
      auto timer = std::make_shared<boost::asio::steady_timer>(executor, kLeaseRetry);
      timer->async_wait([w, timer](const boost::system::error_code&) {
        if (w->responder->ClientGone()) {
          w->done = true;
          return w->gone();
        }
        Start(w);
      });
    }
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
    Transfer::Params params;
    params.id = id;
    params.method = "POST";
    params.request_id = call.request_id;
    params.remote = call.remote;
    params.checksum = std::move(checksum);
    params.success_status = 201;
    params.success_headers.emplace_back("Location", location);
    std::make_shared<Transfer>(s, std::move(params), std::move(*staged), record, body, responder)
        ->Begin();
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
          auto wait = std::make_shared<LeaseWait>(s, call, responder);
          wait->then = [s, call, offset, late_length, body, responder,
                        shared_checksum](Lease lease) {
            PatchOnPool(s, call, offset, late_length, body->ContentLength(), body, responder,
                        std::move(*shared_checksum), std::move(lease));
          };
          wait->gone = [s, call] {
            s->holds->Release(call.id);
            s->LeaveClient(call.remote);
          };
          wait->refuse = [s, call, responder](Refusal r) {
            s->holds->Release(call.id);
            s->LeaveClient(call.remote);
            Refuse(*s, call.method, *responder, std::move(r));
          };
          LeaseWait::Start(wait);
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
    Transfer::Params params;
    params.id = call.id;
    params.method = "PATCH";
    params.request_id = call.request_id;
    params.remote = call.remote;
    params.checksum = std::move(checksum);
    params.success_status = 204;
    params.lease = std::move(lease);
    std::make_shared<Transfer>(s, std::move(params), std::move(staged), *record, body, responder)
        ->Begin();
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
                    auto wait = std::make_shared<LeaseWait>(s, call, responder);
                    wait->then = [s, call, responder](Lease lease) {
                      HttpResponse res = TerminateOnPool(*s, call);
                      lease.reset();
                      s->holds->Release(call.id);
                      s->Answered("DELETE", res.status);
                      responder->Send(std::move(res));
                    };
                    wait->gone = [s, call] { s->holds->Release(call.id); };
                    wait->refuse = [s, call, responder](Refusal r) {
                      s->holds->Release(call.id);
                      Refuse(*s, call.method, *responder, std::move(r));
                    };
                    LeaseWait::Start(wait);
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
             "Requests waiting (up to upload.lock_wait) for an upload another request holds",
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
