#include "daemon/storage/direct_append.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/storage/object_key.h"

namespace sg::storage {

// The buffer is mapped for itself and unmapped when let go: a page-aligned block that goes back
// to the system at once (from malloc, freed megabytes stayed in the threads' arenas).
void DirectAppender::Free::operator()(char* p) const { ::munmap(p, kBuffer); }

DirectAppender::DirectAppender(int fd, const std::string& path, uint64_t end)
    : fd_(fd),
      direct_fd_(::open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC | O_NOFOLLOW)),
      name_(path),
      start_(end) {}

DirectAppender::~DirectAppender() {
  if (direct_fd_ >= 0) ::close(direct_fd_);
}

Result<void> DirectAppender::Append(std::string_view bytes) {
  if (direct_fd_ >= 0 && !buffer_) {
    if (auto tail = LoadTail(); !tail) return tail.error();
  }
  if (direct_fd_ < 0) {
    if (auto wrote = WriteBuffered(bytes.data(), bytes.size(), end()); !wrote) return wrote;
    start_ += bytes.size();
    return {};
  }
  while (!bytes.empty()) {
    const size_t n = std::min(bytes.size(), kBuffer - length_);
    std::memcpy(buffer_.get() + length_, bytes.data(), n);
    length_ += n;
    bytes.remove_prefix(n);
    if (length_ == kBuffer) {
      if (auto wrote = WriteDirect(kBuffer); !wrote) return wrote;
      if (direct_fd_ < 0) return Append(bytes);  // fell back: the rest through the page cache
    }
  }
  return {};
}

Result<void> DirectAppender::Flush() {
  if (!buffer_) return {};
  // (A buffer after the fallback holds what its own write failed to write: it goes again.)
  if (const size_t whole = length_ - length_ % kAlign; direct_fd_ >= 0 && whole > 0) {
    if (auto wrote = WriteDirect(whole); !wrote) return wrote;
  }
  if (buffer_ && length_ > 0) {
    if (auto wrote = WriteBuffered(buffer_.get(), length_, start_); !wrote) return wrote;
  }
  Reset(end());
  return {};
}

void DirectAppender::Reset(uint64_t end) {
  buffer_.reset();
  start_ = end;
  length_ = 0;
}

// Maps the buffer and makes it start at the block holding end(), with that block's bytes before
// end() read back from the file, so that its next write covers whole blocks.
Result<void> DirectAppender::LoadTail() {
  void* memory =
      ::mmap(nullptr, kBuffer, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return FallBack();
  buffer_.reset(static_cast<char*>(memory));
  const uint64_t block = start_ - start_ % kAlign;
  const size_t tail = static_cast<size_t>(start_ - block);
  size_t got = 0;
  while (got < tail) {
    const ssize_t n =
        ::pread(fd_, buffer_.get() + got, tail - got, static_cast<off_t>(block + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return FallBack();
    got += static_cast<size_t>(n);
  }
  start_ = block;
  length_ = tail;
  return {};
}

// The first `count` bytes of the buffer (a multiple of kAlign) to the disk at start_, past the
// page cache; what follows them moves to the front.
Result<void> DirectAppender::WriteDirect(size_t count) {
  size_t done = 0;
  while (done < count) {
    const ssize_t n =
        ::pwrite(direct_fd_, buffer_.get() + done, count - done, static_cast<off_t>(start_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EINVAL) return ErrnoError(errno, "local storage: write " + name_);
    if (n <= 0 || static_cast<size_t>(n) % kAlign != 0) {
      // The filesystem or the disk refuses this alignment after all (EINVAL), or a short write
      // leaves the next one unaligned (a disk nearly full): the rest through the page cache, for
      // good, which says why if it fails.
      Consume(done + static_cast<size_t>(std::max<ssize_t>(n, 0)));
      return FallBack();
    }
    done += static_cast<size_t>(n);
  }
  Consume(count);
  return {};
}

// The buffer's first `count` bytes are in the file: what follows them moves to the front.
void DirectAppender::Consume(size_t count) {
  std::memmove(buffer_.get(), buffer_.get() + count, length_ - count);
  start_ += count;
  length_ -= count;
}

Result<void> DirectAppender::WriteBuffered(const char* data, size_t count, uint64_t at) {
  while (count > 0) {
    const ssize_t n = ::pwrite(fd_, data, count, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "local storage: write " + name_);
    if (n == 0) return Fail(ErrorCode::kIo, "local storage: write " + name_ + " wrote nothing");
    data += n;
    count -= static_cast<size_t>(n);
    at += static_cast<uint64_t>(n);
  }
  return {};
}

// Writes through the page cache from now on: what the buffer holds first.
Result<void> DirectAppender::FallBack() {
  if (direct_fd_ >= 0) ::close(direct_fd_);
  direct_fd_ = -1;
  if (buffer_ && length_ > 0) {
    if (auto wrote = WriteBuffered(buffer_.get(), length_, start_); !wrote) return wrote;
  }
  Reset(end());
  return {};
}

}  // namespace sg::storage
