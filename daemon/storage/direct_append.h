// Appending to a file past the page cache (O_DIRECT) where the filesystem allows it: a staged
// upload is written once, synced, and not read again until it is committed, so copying it
// through the page cache only costs time and evicts what readers need.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sg::storage {

/// Appends to an open file. Bytes gather in an aligned buffer; each full buffer goes to the disk
/// in one O_DIRECT write at an aligned offset. Flush writes what is left: the whole blocks
/// directly, the last partial block through the page cache (the next buffer starts by writing that
/// block again, read back, with the same bytes). Where O_DIRECT cannot be had (tmpfs, some FUSE
/// and network filesystems, an alignment the disk refuses: EINVAL), it writes through the page
/// cache instead, for good. Nothing is durable until the caller syncs the file. Not thread-safe.
class DirectAppender {
 public:
  /// The buffer, a multiple of every alignment a disk asks for.
  static constexpr size_t kBuffer = size_t{1} << 20;
  static constexpr size_t kAlign = 4096;

  /// `fd`: the file, open for reading and writing (kept by the caller, who syncs and truncates
  /// it); `path` opens it a second time with O_DIRECT. `end`: where appends start.
  DirectAppender(int fd, const std::string& path, uint64_t end);
  ~DirectAppender();
  DirectAppender(const DirectAppender&) = delete;
  DirectAppender& operator=(const DirectAppender&) = delete;

  /// Appends at end(). On failure the bytes from the last Flush on are undefined: Reset.
  Result<void> Append(std::string_view bytes);
  /// Writes every appended byte to the file and lets the buffer go (an idle upload holds none).
  Result<void> Flush();
  /// Forgets what was appended past `end` (the caller truncated the file there), and the buffer.
  void Reset(uint64_t end);

  uint64_t end() const { return start_ + length_; }
  /// Whether writes still go past the page cache.
  bool direct() const { return direct_fd_ >= 0; }

 private:
  Result<void> WriteDirect(size_t count);
  void Consume(size_t count);
  Result<void> WriteBuffered(const char* data, size_t count, uint64_t at);
  Result<void> LoadTail();
  Result<void> FallBack();

  const int fd_;
  int direct_fd_ = -1;
  std::string name_;  // for errors
  struct Free {
    void operator()(char* p) const;
  };
  // While mapped, it starts at an aligned offset with the file's bytes from there (LoadTail).
  std::unique_ptr<char, Free> buffer_;
  uint64_t start_ = 0;  // the file offset of buffer_[0]; end() while there is no buffer
  size_t length_ = 0;   // bytes in the buffer
};

}  // namespace sg::storage
