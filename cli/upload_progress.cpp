#include "cli/upload_progress.h"

#include <algorithm>
#include <cmath>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sg::cli {

std::string HumanBytes(uint64_t bytes) {
  constexpr double kKib = 1024.0;
  const double b = static_cast<double>(bytes);
  if (bytes < 1024) return fmt::format("{} B", bytes);
  if (b < kKib * kKib) return fmt::format("{:.1f} KiB", b / kKib);
  if (b < kKib * kKib * kKib) return fmt::format("{:.1f} MiB", b / (kKib * kKib));
  return fmt::format("{:.2f} GiB", b / (kKib * kKib * kKib));
}

std::string HumanEta(double seconds) {
  if (seconds < 0) return "-";
  const int64_t s = std::llround(seconds);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m {:02}s", s / 60, s % 60);
  return fmt::format("{}h {:02}m", s / 3600, (s % 3600) / 60);
}

UploadProgress::UploadProgress(std::ostream& out, Mode mode, uint64_t total, uint64_t start,
                               Clock::time_point now)
    : out_(out), mode_(mode), total_(total), start_(start), started_(now) {}

double UploadProgress::Rate(uint64_t bytes, Clock::time_point now) const {
  const double seconds = std::chrono::duration<double>(now - started_).count();
  if (seconds <= 0 || bytes <= start_) return 0;
  return static_cast<double>(bytes - start_) / seconds;
}

std::string UploadProgress::Text(uint64_t bytes, Clock::time_point now) const {
  const double fraction =
      total_ == 0 ? 1.0 : static_cast<double>(bytes) / static_cast<double>(total_);
  const double rate = Rate(bytes, now);
  const double eta = rate > 0 ? static_cast<double>(total_ - std::min(bytes, total_)) / rate : -1;
  const std::string figures =
      fmt::format("{:3.0f}%  {} / {}  {}/s  ETA {}", fraction * 100, HumanBytes(bytes),
                  HumanBytes(total_), HumanBytes(static_cast<uint64_t>(rate)), HumanEta(eta));
  if (mode_ != Mode::kTerminal) return "uploaded " + figures;
  constexpr int kWidth = 24;
  const int filled = std::clamp(static_cast<int>(fraction * kWidth), 0, kWidth);
  return "[" + std::string(static_cast<size_t>(filled), '#') +
         std::string(static_cast<size_t>(kWidth - filled), '.') + "] " + figures;
}

void UploadProgress::Update(uint64_t bytes, Clock::time_point now, bool force) {
  using std::chrono::milliseconds;
  const auto since = now - last_shown_;
  switch (mode_) {
    case Mode::kTerminal:
      if (!force && drawn_ && since < milliseconds(200)) return;
      // \r back to the start, \x1b[K clears what a longer line left behind.
      out_ << '\r' << Text(bytes, now) << "\x1b[K" << std::flush;
      drawn_ = true;
      break;
    case Mode::kLines: {
      // Every 10% and every 5 s; the end once. `force` adds nothing here: a line per chunk
      // would be noise in a log.
      const int decile = total_ == 0 ? 10 : static_cast<int>(bytes * 10 / total_);
      if (bytes == last_bytes_) return;
      if (decile == last_decile_ && since < milliseconds(5000)) return;
      last_decile_ = decile;
      out_ << Text(bytes, now) << '\n' << std::flush;
      break;
    }
    case Mode::kJson:
      if (!force && since < milliseconds(250)) return;
      out_ << nlohmann::json{{"event", "progress"},
                             {"bytes", bytes},
                             {"total", total_},
                             {"rate", static_cast<uint64_t>(Rate(bytes, now))}}
                  .dump()
           << '\n'
           << std::flush;
      break;
  }
  last_shown_ = now;
  last_bytes_ = bytes;
}

void UploadProgress::Finish() {
  if (mode_ == Mode::kTerminal && drawn_) out_ << '\n' << std::flush;
  drawn_ = false;
}

}  // namespace sg::cli
