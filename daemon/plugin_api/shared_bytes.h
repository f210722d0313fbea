// Bytes shared without copies between a cache and the responses that send them. A large value
// lives in a file of its own: an unnamed file (O_TMPFILE) in a folder the cache names, or else a
// sealed memfd, mapped read-only. Readers see it as memory, and an HTTP response sends it with
// sendfile(2) from the descriptor, as a file on disk is sent, instead of copying it through a
// write. Small values, and large ones once the process's budget of such descriptors is spent,
// live in an ordinary string.
//
// Why a file on disk first: the page cache of a regular file is kept in large folios, while a
// memfd's (shmem) is looked up page by page on every sendfile; a 1 MiB segment spent about half
// of its sending CPU in that lookup (tests/bench/README.md). The file's pages are the page
// cache's, which the kernel may write back or drop under pressure like any other file's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace sg {

class SharedBytes {
 public:
  /// Values from this size up go to a memfd when the budget allows.
  static constexpr size_t kFileThreshold = 32 * 1024;

  /// `bytes` as shared bytes: in a file when it is at least `file_threshold` long and the
  /// budget has room (the string is then released), else kept as it is. The file is an unnamed
  /// one in `file_dir` when that is set and allows it, else a memfd.
  static std::shared_ptr<const SharedBytes> Make(std::string bytes,
                                                 const std::string& file_dir = "",
                                                 size_t file_threshold = kFileThreshold);

  /// `bytes` as shared bytes in memory, whatever their size.
  static std::shared_ptr<const SharedBytes> InMemory(std::string bytes) {
    return Make(std::move(bytes), "", SIZE_MAX);
  }

  SharedBytes(const SharedBytes&) = delete;
  SharedBytes& operator=(const SharedBytes&) = delete;
  ~SharedBytes();

  std::string_view view() const { return view_; }
  size_t size() const { return view_.size(); }
  /// The file that holds the bytes, or -1 when they are in memory only. Owned by this object:
  /// whoever sends from it after this object may be gone must dup(2) it.
  int fd() const { return fd_; }
  /// Where `part` (a view into view()) starts.
  uint64_t OffsetOf(std::string_view part) const {
    return static_cast<uint64_t>(part.data() - view_.data());
  }

  /// Files (unnamed or memfds) alive in this process, and how many may be: an eighth of the
  /// descriptor limit, at most 8192, none under a limit of 4096 (sg::CachedFileBudget); the HTTP
  /// connection budget leaves them room.
  static uint64_t LiveFiles();

 private:
  SharedBytes() = default;
  std::string string_;
  void* map_ = nullptr;
  int fd_ = -1;
  std::string_view view_;
};

}  // namespace sg
