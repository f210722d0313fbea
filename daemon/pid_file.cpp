#include "daemon/pid_file.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

namespace sg::daemon {
namespace {

pid_t ReadPid(int fd) {
  char buffer[32] = {};
  const ssize_t n = pread(fd, buffer, sizeof buffer - 1, 0);
  return n > 0 ? static_cast<pid_t>(std::atol(buffer)) : 0;
}

}  // namespace

Result<std::unique_ptr<PidFile>> PidFile::Acquire(const std::string& path, bool& replaced_stale,
                                                  pid_t& stale_pid) {
  replaced_stale = false;
  stale_pid = 0;
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return Fail(ErrorCode::kIo, fmt::format("pid file {}: {}", path, std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const pid_t other = ReadPid(fd);
    close(fd);
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("another streamgated (pid {}) is already running on this control "
                            "endpoint (pid file {}); stop it first with 'streamgate stop'",
                            other, path));
  }
  stale_pid = ReadPid(fd);
  replaced_stale = stale_pid != 0;
  const std::string text = fmt::format("{}\n", getpid());
  if (ftruncate(fd, 0) != 0 ||
      pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    const int err = errno;
    close(fd);
    return Fail(ErrorCode::kIo, fmt::format("pid file {}: {}", path, std::strerror(err)));
  }
  return std::unique_ptr<PidFile>(new PidFile(path, fd));
}

PidFile::~PidFile() {
  unlink(path_.c_str());
  close(fd_);
}

}  // namespace sg::daemon
