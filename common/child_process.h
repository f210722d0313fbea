// Runs a program as a child process in a process group of its own (so that a stop reaches
// everything it started), at a chosen nice level, with a time limit and a way to stop it early;
// its output is read line by line as it comes. The child dies with the thread that started it
// (PR_SET_PDEATHSIG), so a killed daemon leaves no encoder running.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sg {

struct ChildOptions {
  std::vector<std::string> argv;         // argv[0] is looked up on PATH unless it holds a '/'
  int nice = 0;                          // added to the daemon's nice level (0..19)
  std::chrono::milliseconds timeout{0};  // 0: no limit
  /// Polled about five times a second: true stops the child (SIGTERM to its group, SIGKILL after
  /// `grace`).
  std::function<bool()> stop;
  std::chrono::milliseconds grace{3000};
  std::function<void(std::string_view line)> on_stdout;  // each line, without its newline
  std::function<void(std::string_view line)> on_stderr;
  size_t stderr_tail_lines = 20;  // how many of stderr's last lines the result keeps
};

struct ChildResult {
  int exit_code = -1;  // when it exited; -1 when a signal ended it
  int signal = 0;      // the signal that ended it, or 0
  bool timed_out = false;
  bool stopped = false;  // `stop` said so
  std::vector<std::string> stderr_tail;

  bool Succeeded() const { return exit_code == 0 && !timed_out && !stopped; }
  /// "exited with status 1", "killed by signal 9 (time limit 30s passed)".
  std::string Describe() const;
};

/// Finds a program on PATH (or checks a path with a '/'); kNotFound says where it looked.
Result<std::string> FindProgram(std::string_view name);

/// Runs the child to its end. Errors only when it cannot be started (kNotFound for a missing
/// program, kIo otherwise); how it ended is in the result.
Result<ChildResult> RunChild(const ChildOptions& options);

}  // namespace sg
