// The pid file that lets one daemon run per control endpoint. It is held with an flock for the
// daemon's life, so a file left by a killed daemon is unlocked and recognised as stale.
#pragma once

#include <memory>
#include <string>

#include <sys/types.h>

#include "common/result.h"

namespace sg::daemon {

class PidFile {
 public:
  /// Takes the file: kFailedPrecondition naming the running daemon's pid when another holds it.
  /// `replaced_stale` tells whether a stale file from a dead daemon was found and replaced.
  static Result<std::unique_ptr<PidFile>> Acquire(const std::string& path, bool& replaced_stale,
                                                  pid_t& stale_pid);
  ~PidFile();  // removes the file and releases the lock
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  PidFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
};

}  // namespace sg::daemon
