// The access log: one line per HTTP request, in the daemon's log format, written where the daemon's
// records go (the log file, else stderr). Each thread formats its lines into a buffer of its own;
// a background thread hands the buffers on when one fills (64 KiB) and every half second, as
// nginx does with `access_log ... buffer= flush=`. Lines are not kept in the ring of recent
// records: a busy server would push every warning out of `streamgate logs` within a second.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include <spdlog/logger.h>

#include "common/log_format.h"

namespace sg::log {

/// One request, as the access log prints it (message "request", component "access").
struct AccessEntry {
  std::chrono::system_clock::time_point time;
  std::string_view method;
  std::string_view path;
  unsigned status = 0;
  uint64_t bytes = 0;
  double duration_ms = 0;
  std::string_view request_id;
  std::string_view remote;
};

/// The entry as a Record, as Render prints it.
Record ToRecord(const AccessEntry& entry);

/// Appends the entry as one line, newline included, byte for byte what Render(ToRecord(entry))
/// prints, without colour. The prod format, the default, takes a path of its own that allocates
/// nothing once `out` has grown.
void AppendAccessLine(std::string& out, const AccessEntry& entry, Format format,
                      std::string_view service);

class AccessLog {
 public:
  /// Takes whole lines; called by the flusher thread, one call at a time.
  using Writer = std::function<void(std::string_view lines)>;

  struct Options {
    Format format = Format::kProd;
    std::string service;
    size_t buffer_bytes = 64 * 1024;             // a thread's buffer is handed on when full
    std::chrono::milliseconds flush_every{500};  // and at least this often
    size_t max_pending = 64;                     // full buffers waiting; past it, Add waits
  };

  /// `level` decides whether lines are written at all (info or lower); it is the "access"
  /// component's logger, so `streamgate log-level access warn` turns the log off at run time.
  AccessLog(Options options, std::shared_ptr<spdlog::logger> level, Writer writer);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  bool Enabled() const { return level_->should_log(spdlog::level::info); }
  /// Formats the entry into the calling thread's buffer. Thread-safe.
  void Add(const AccessEntry& entry);
  /// Writes every buffer now and returns when it is written.
  void Flush();
  /// Flushes, stops the flusher and drops the writer; Add after it does nothing.
  void Close();

 private:
  struct Buffer {
    std::mutex mu;
    std::string bytes;  // guarded by mu
  };
  Buffer& Local();
  void Run();
  void WriteAll(std::unique_lock<std::mutex>& lock);  // requires mu_; unlocks while writing

  const Options options_;
  const std::shared_ptr<spdlog::logger> level_;
  const uint64_t id_;  // tells this log's buffers from another's in a thread's cache

  std::mutex mu_;
  std::condition_variable wake_;     // the flusher: a buffer is pending, or stop
  std::condition_variable drained_;  // Add waiting for room, Flush waiting for the write
  Writer writer_;                    // guarded by mu_
  std::map<std::thread::id, std::unique_ptr<Buffer>> buffers_;  // guarded by mu_
  std::deque<std::string> pending_;                             // guarded by mu_
  uint64_t flushes_requested_ = 0;                              // guarded by mu_
  uint64_t flushes_done_ = 0;                                   // guarded by mu_
  bool stop_ = false;                                           // guarded by mu_
  std::thread flusher_;
};

}  // namespace sg::log
