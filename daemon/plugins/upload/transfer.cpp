#include "daemon/plugins/upload/transfer.h"

#include <algorithm>
#include <chrono>
#include <mutex>

#include <fmt/format.h>

#include "common/logging.h"
#include "daemon/plugins/upload/responses.h"

namespace sg::plugins::upload {
namespace {

// One request's body on its way into an upload (a PATCH, or a POST with creation-with-upload):
// read on the I/O thread in pieces, gathered up to kWriteBatch, written on the blocking pool.
// Reading goes on while a batch is written; with one batch written and the next one full, it
// waits, so a fast client never fills memory (two batches and a spare string at most) and the
// socket's window closes on it.
class Transfer : public std::enable_shared_from_this<Transfer> {
 public:
  using Params = TransferParams;

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

}  // namespace

void StartTransfer(std::shared_ptr<Shared> shared, TransferParams params,
                   std::unique_ptr<StagedObject> staged, Record record,
                   std::shared_ptr<HttpBodyReader> body, std::shared_ptr<HttpResponder> responder) {
  std::make_shared<Transfer>(std::move(shared), std::move(params), std::move(staged),
                             std::move(record), std::move(body), std::move(responder))
      ->Begin();
}

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

}  // namespace sg::plugins::upload
