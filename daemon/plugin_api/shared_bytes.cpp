#include "daemon/plugin_api/shared_bytes.h"

#include <atomic>
#include <cerrno>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/fd_limits.h"

namespace sg {
namespace {

std::atomic<uint64_t> live_files{0};

uint64_t Budget() {
  static const uint64_t budget = CachedFileBudget(CurrentDescriptorLimit());
  return budget;
}

// Takes one unit of the budget; false when it is spent.
bool Reserve() {
  uint64_t live = live_files.load();
  do {
    if (live >= Budget()) return false;
  } while (!live_files.compare_exchange_weak(live, live + 1));
  return true;
}

bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// A file for `bytes`, written: unnamed in `dir` (no other process can open it, and it is gone
// with its last descriptor), else a memfd sealed against any change. -1 when neither works.
int FileOf(std::string_view bytes, const std::string& dir) {
  if (!dir.empty()) {
    const int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 && WriteAll(fd, bytes)) return fd;
    if (fd >= 0) ::close(fd);  // a full disk, say: memory will do
  }
  const int fd = ::memfd_create("streamgate-cache", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd >= 0 && WriteAll(fd, bytes) &&
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == 0) {
    return fd;
  }
  if (fd >= 0) ::close(fd);
  return -1;
}

}  // namespace

std::shared_ptr<const SharedBytes> SharedBytes::Make(std::string bytes, const std::string& file_dir,
                                                     size_t file_threshold) {
  std::shared_ptr<SharedBytes> out(new SharedBytes());
  if (bytes.size() >= file_threshold && !bytes.empty() && Reserve()) {
    // Written, then mapped read-only: what a reader sees and what sendfile sends are the same
    // bytes. Any failure leaves them in the string.
    const int fd = FileOf(bytes, file_dir);
    void* map = MAP_FAILED;
    if (fd >= 0) map = ::mmap(nullptr, bytes.size(), PROT_READ, MAP_SHARED, fd, 0);
    if (map != MAP_FAILED) {
      out->fd_ = fd;
      out->map_ = map;
      out->view_ = std::string_view(static_cast<const char*>(map), bytes.size());
      return out;
    }
    if (fd >= 0) ::close(fd);
    --live_files;
  }
  out->string_ = std::move(bytes);
  out->view_ = out->string_;
  return out;
}

SharedBytes::~SharedBytes() {
  if (map_ != nullptr) ::munmap(map_, view_.size());
  if (fd_ >= 0) {
    ::close(fd_);
    --live_files;
  }
}

uint64_t SharedBytes::LiveFiles() { return live_files.load(); }

}  // namespace sg
