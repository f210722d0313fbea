// How `streamgate upload` shows its progress: a bar redrawn in place on a terminal, a plain line
// every few seconds or 10% elsewhere, or JSON lines for scripts.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace sg::cli {

/// "512 B", "1.5 KiB", "8.0 MiB", "1.25 GiB".
std::string HumanBytes(uint64_t bytes);
/// "42s", "3m 05s", "1h 02m"; "-" when unknown (negative).
std::string HumanEta(double seconds);

/// Not thread-safe: the upload's thread alone calls it.
class UploadProgress {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Mode {
    kTerminal,  // a one-line bar redrawn in place
    kLines,     // a line every 5 s or 10%
    kJson,      // {"event":"progress",...} lines, at most 4 a second
  };

  /// `start` is where this run starts (the offset it resumes from); the rate counts only the
  /// bytes this run sent.
  UploadProgress(std::ostream& out, Mode mode, uint64_t total, uint64_t start,
                 Clock::time_point now = Clock::now());

  /// `bytes` of the total are on the server (or on the way); shows it when it is time to.
  /// `force` shows it anyway (at the end of a chunk in JSON, at the end of the upload).
  void Update(uint64_t bytes, Clock::time_point now = Clock::now(), bool force = false);
  /// Ends the bar's line on a terminal, so that what follows starts on a line of its own.
  void Finish();
  /// Bytes a second this run, 0 before any.
  double Rate(uint64_t bytes, Clock::time_point now) const;
  /// The text of the bar or line for `bytes` (without the terminal's control characters).
  std::string Text(uint64_t bytes, Clock::time_point now) const;

 private:
  std::ostream& out_;
  Mode mode_;
  uint64_t total_;
  uint64_t start_;
  Clock::time_point started_;
  Clock::time_point last_shown_{};
  int last_decile_ = -1;
  uint64_t last_bytes_ = UINT64_MAX;  // what was shown last
  bool drawn_ = false;
};

}  // namespace sg::cli
