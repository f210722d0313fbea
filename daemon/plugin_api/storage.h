// Where media lives: objects under keys ("videos/<id>/source",
// "videos/<id>/hls/720p/seg_00001.m4s"), written as a stream and committed at once, read by byte
// range. The daemon builds one Storage from storage.* (local disk or S3) and hands it to plugins.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sg {

/// What is known of a committed object.
struct ObjectInfo {
  std::string key;
  uint64_t size = 0;  // bytes
  /// A strong ETag, quoted as HTTP writes it ("\"9a0364b9e99bb480dd25e1f0284c8555\""): it
  /// changes whenever the object's bytes may have changed, and only then.
  std::string etag;
  std::chrono::system_clock::time_point modified;  // when it was committed
};

/// A part of an object: `length` bytes from `offset`; no length reads to the end.
struct ByteRange {
  uint64_t offset = 0;
  std::optional<uint64_t> length;
};

/// An object being written. Nothing is visible under the key until Commit succeeds; then the
/// whole object is, at once, replacing any previous one. Abort, a failed Write, destruction
/// without Commit, and a crash of the process all leave the previous state as it was.
/// Not thread-safe: one thread at a time (it may block on disk or network: use the blocking pool).
class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;  // implementations abort when not committed

  /// Appends bytes. On failure (kNoSpace for a full disk, a file size limit or a quota;
  /// kPermissionDenied; kUnavailable when the store cannot be reached) the write is aborted and
  /// every later call fails.
  virtual Result<void> Write(std::string_view bytes) = 0;
  /// Makes the object visible and durable (on local disk: fsynced, file and directory) before it
  /// returns; returns what Stat would. Called once.
  virtual Result<ObjectInfo> Commit() = 0;
  /// Discards what was written; idempotent, never fails (cleanup is best effort).
  virtual void Abort() = 0;
};

/// A byte range of one version of an object: what it reads stays consistent even if the object is
/// replaced or deleted meanwhile (or reading fails, saying so). Not thread-safe.
class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  /// The whole object's info (size is the object's, not the range's).
  virtual const ObjectInfo& info() const = 0;
  /// The range served: offset and the exact number of bytes Read will deliver in all.
  virtual uint64_t offset() const = 0;
  virtual uint64_t length() const = 0;
  /// Reads up to `max` bytes into `buffer`; 0 at the end of the range.
  virtual Result<size_t> Read(char* buffer, size_t max) = 0;
};

/// What is staged under one id (see Storage::Stage).
struct StagedInfo {
  std::string id;
  uint64_t size = 0;                               // bytes kept: what Sync made durable
  std::string meta;                                // the caller's description
  std::chrono::system_clock::time_point modified;  // the last Sync or SetMeta
};

/// A resumable upload's bytes while they arrive, over minutes or days and across restarts of the
/// process: appended in order, made durable by Sync, committed as an object once whole, with a
/// small description of the caller's (its JSON) kept beside them. Not thread-safe, and one per id
/// at a time: the caller serializes the writers of an id (an upload's lock). It may block.
class StagedObject {
 public:
  virtual ~StagedObject() = default;
  virtual const std::string& id() const = 0;
  /// The bytes kept: what the last Sync made durable. A crash, a kill -9 or a power cut loses
  /// nothing of them, and nothing appended after them counts once the object is reopened.
  virtual uint64_t size() const = 0;
  /// The bytes appended, durable or not (size() plus what waits for Sync).
  virtual uint64_t appended() const = 0;
  virtual const std::string& meta() const = 0;
  /// Appends bytes after appended(). They count once Sync returns; a failure leaves size() as
  /// it was (Rollback then, or reopen).
  virtual Result<void> Append(std::string_view bytes) = 0;
  /// Makes every appended byte durable (fsync on disk; on S3, full parts uploaded and the rest
  /// saved) and part of size(); also saves `meta` when given, in the same step.
  virtual Result<void> Sync(std::optional<std::string> meta = std::nullopt) = 0;
  /// Forgets what was appended since the last Sync (a chunk whose checksum did not match).
  virtual Result<void> Rollback() = 0;
  /// Makes the kept bytes (Sync first) the object under `key`, replacing any, without passing
  /// them through the process again (a rename on disk; on S3, which cannot rename, the multipart
  /// upload's completion and a server-side copy); the staging is gone after, and this object is
  /// spent. The key follows Storage's rules.
  virtual Result<ObjectInfo> Commit(std::string_view key) = 0;
};

/// An object store. Keys are '/'-separated segments of printable characters: not empty, no
/// empty, "." or ".." segment, no leading '/', no backslash, NUL or control character, no
/// segment starting with ".sg-" (reserved), at most 1024 bytes; other keys are refused with
/// kInvalidArgument. Errors: kNotFound, kNoSpace, kPermissionDenied, kInvalidArgument (key or
/// range), kUnavailable (a remote store unreachable or failing after retries), kIo otherwise.
/// Thread-safe; every call may block (disk, network), so call it from the blocking pool, never
/// from an HTTP I/O thread.
class Storage {
 public:
  virtual ~Storage() = default;

  /// "local" or "s3".
  virtual std::string_view Kind() const = 0;
  /// Starts writing an object.
  virtual Result<std::unique_ptr<ObjectWriter>> Put(std::string_view key) = 0;
  /// Opens a range for reading. A range starting at or past the end (except 0 of an empty
  /// object) is kInvalidArgument, so that an HTTP caller answers 416; Stat first to tell.
  virtual Result<std::unique_ptr<ObjectReader>> Get(std::string_view key, ByteRange range) = 0;
  virtual Result<ObjectInfo> Stat(std::string_view key) = 0;
  /// Every object whose key starts with `prefix` ("" for all), sorted by key.
  virtual Result<std::vector<ObjectInfo>> List(std::string_view prefix) = 0;
  /// Removes an object; kNotFound when there is none.
  virtual Result<void> Delete(std::string_view key) = 0;
  /// Where a valid key's object is (or would be) as a file on this machine, for zero-copy sends;
  /// nullopt for a store that is not local files, or a key Storage refuses. Does not block.
  virtual std::optional<std::string> LocalPath(std::string_view /*key*/) const {
    return std::nullopt;
  }

  /// Staging for resumable uploads, apart from the objects (List never shows it). Ids are 1 to
  /// 64 characters of [0-9A-Za-z_-]; others are kInvalidArgument. Stores that cannot stage (test
  /// doubles) answer kFailedPrecondition.
  /// Starts staging under a new id: kFailedPrecondition when the id is already staged.
  virtual Result<std::unique_ptr<StagedObject>> Stage(std::string_view id, std::string meta);
  /// Opens what is staged under an id: kNotFound when nothing is.
  virtual Result<std::unique_ptr<StagedObject>> OpenStaged(std::string_view id);
  /// What is staged under an id, read only (a reader never disturbs a writer of it, in this
  /// process or another): kNotFound when nothing is. `modified` may be unknown (epoch) on S3.
  virtual Result<StagedInfo> StatStaged(std::string_view id);
  /// Every staged id, for collecting the abandoned ones. Sorted by id.
  virtual Result<std::vector<StagedInfo>> ListStaged();
  /// Removes what is staged under an id: kNotFound when nothing is.
  virtual Result<void> DeleteStaged(std::string_view id);
};

/// Accepts a staged id as Storage describes (1 to 64 of [0-9A-Za-z_-]), or says why not.
Result<void> ValidateStagedId(std::string_view id);

}  // namespace sg
