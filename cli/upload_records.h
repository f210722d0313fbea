// What `streamgate upload` remembers to resume: for each file being uploaded (its fingerprint:
// absolute path, size, modification time and the server's base URL), the upload's URL. Kept in a
// small JSON file, mode 0600, in the user's state folder.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"

namespace sg::cli {

/// Which file, as it is now, is uploaded where: a changed file or another server is another
/// upload.
struct UploadFingerprint {
  std::string path;  // absolute, symlinks resolved
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string base_url;  // the daemon's HTTP base URL, "http://127.0.0.1:8080"

  std::string Key() const;
};

/// The records file; each call reads it afresh and rewrites it whole (a temporary file renamed
/// over it) under an exclusive lock on FILE.lock, so that two uploads at once keep each other's
/// records. Not thread-safe within a process; safe across processes.
class UploadRecords {
 public:
  /// `file` is StateDir()/uploads.json in the CLI; tests pass their own.
  explicit UploadRecords(std::string file) : file_(std::move(file)) {}

  /// The upload URL remembered for `print`, or nullopt. An unreadable or garbled file counts as
  /// empty: losing a record only means starting that upload afresh.
  std::optional<std::string> Find(const UploadFingerprint& print) const;
  /// Remembers `upload_url` for `print`, creating the folder (0700) and the file (0600).
  Result<void> Put(const UploadFingerprint& print, const std::string& upload_url) const;
  /// Forgets `print`; not an error when it was not there.
  Result<void> Remove(const UploadFingerprint& print) const;

  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

}  // namespace sg::cli
