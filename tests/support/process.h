// A child process for integration tests: the real binaries, started with posix_spawn, their
// output captured to files, waited for with a deadline (never a fixed sleep).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace sg::test {

using namespace std::chrono_literals;

/// A fresh temporary directory, removed with everything in it when this object goes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  /// Writes a file under the directory; returns its path.
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

struct SpawnOptions {
  std::map<std::string, std::string> env;  // added to (or replacing in) the test's environment
  std::vector<std::string> unset_env;      // removed from it
  std::string cwd;                         // "" for the test's own
};

class Process {
 public:
  /// Starts argv[0] with stdout and stderr captured to files in `dir`.
  Process(const std::vector<std::string>& argv, const TempDir& dir,
          const SpawnOptions& options = {});
  ~Process();  // kills the process if it still runs
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int signo) const;
  /// Waits for exit up to `timeout`; the exit code (128+N for a signal), or nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  bool Running();
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_;
  std::string err_path_;
};

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs a command to completion (killed after `timeout`, which fails the test).
RunResult Run(const std::vector<std::string>& argv, const SpawnOptions& options = {},
              std::chrono::milliseconds timeout = 30s);

/// Polls `condition` until it holds or the deadline passes; true when it held.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

std::string ReadFile(const std::string& path);

/// A process's resident set size in KiB (VmRSS), or -1 when it cannot be read.
long RssKib(pid_t pid);

}  // namespace sg::test
