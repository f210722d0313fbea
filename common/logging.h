// Logging for the daemon and the CLI: one spdlog logger per component, all sharing the same sinks
// (the console, an optional rotating file, and a bounded ring of recent records for
// `streamgate logs`), three output formats, and levels that can change at run time. The hub lives
// here; records (log_record.h), formats (log_format.h), the ring (log_ring.h) and the sinks
// (log_sinks.h) have files of their own, and this header brings in the first three.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "common/log_format.h"
#include "common/log_record.h"
#include "common/log_ring.h"
#include "common/result.h"

namespace spdlog::details {
class thread_pool;
}  // namespace spdlog::details

namespace sg::log {

class AccessLog;

struct Options {
  spdlog::level::level_enum level = spdlog::level::info;  // logging.level
  Format format = Format::kProd;                          // logging.format
  std::string file;                                       // logging.file; "" for none
  size_t max_file_bytes = 10 * 1024 * 1024;               // logging.max_size
  size_t max_files = 5;                                   // logging.max_files
  size_t ring_size = 10000;                               // logging.ring_size
  std::string service = "streamgate";                     // printed in prod and json records
  bool console = true;                                    // write to stderr
};

/// Owns the sinks and the named loggers. Thread-safe.
class LogHub {
 public:
  /// Fails when the log file cannot be opened.
  static Result<std::unique_ptr<LogHub>> Create(const Options& options);
  ~LogHub();
  LogHub(const LogHub&) = delete;
  LogHub& operator=(const LogHub&) = delete;

  /// The logger for a component ("kernel", "api-gateway"), created on first use.
  std::shared_ptr<spdlog::logger> Get(const std::string& component);
  /// A logger whose records are formatted and written by a background thread: the caller only
  /// queues the record. When the queue (8192 records) is full the caller waits, so nothing is
  /// lost. (The access log has its own, cheaper path: Access().)
  std::shared_ptr<spdlog::logger> GetAsync(const std::string& component);

  /// Sets the level of every component that has no level of its own.
  void SetLevel(spdlog::level::level_enum level);
  /// Sets one component's level; nullopt returns it to the default level.
  void SetComponentLevel(const std::string& component,
                         std::optional<spdlog::level::level_enum> level);
  spdlog::level::level_enum DefaultLevel() const;
  /// The level a component logs at on the console and in the file.
  spdlog::level::level_enum EffectiveLevel(const std::string& component) const;
  /// Lets records down to `floor` reach the ring (and so `streamgate logs`) without reaching
  /// the console or the file: a log viewer's own level. nullopt removes the floor.
  void SetViewerFloor(std::optional<spdlog::level::level_enum> floor);
  bool HasViewerFloor() const { return has_floor_.load(std::memory_order_relaxed); }
  /// Each component's effective level, with whether it was set for that component alone.
  std::map<std::string, std::pair<spdlog::level::level_enum, bool>> Levels() const;

  /// The access log (access_log.h), made on first use: its lines go to the log file, or to
  /// stderr when there is none, and never to the ring. Its level is the "access" component's.
  std::shared_ptr<AccessLog> Access();

  RecordRing& Ring() { return *ring_; }
  const RecordRing& Ring() const { return *ring_; }
  const Options& options() const { return options_; }
  void Flush();

 private:
  explicit LogHub(const Options& options);
  void ApplyLevel(const std::string& component, spdlog::logger& logger);  // requires mu_

  Options options_;
  std::shared_ptr<RecordRing> ring_;

  std::vector<spdlog::sink_ptr> sinks_;
  // Where whole lines of the access log go: the file's sink, else the console's; may be null.
  spdlog::sink_ptr lines_sink_;
  mutable std::mutex mu_;
  spdlog::level::level_enum default_level_;                         // guarded by mu_
  std::map<std::string, std::shared_ptr<spdlog::logger>> loggers_;  // guarded by mu_
  std::map<std::string, spdlog::level::level_enum> overrides_;      // guarded by mu_
  std::optional<spdlog::level::level_enum> floor_;                  // guarded by mu_
  std::atomic<bool> has_floor_{false};
  std::shared_ptr<AccessLog> access_;  // guarded by mu_; closed before the sinks go
  // For GetAsync; made on first use. Last, so destroyed first: its thread drains queued records
  // into sinks that still read the members above.
  std::shared_ptr<spdlog::details::thread_pool> pool_;
};

}  // namespace sg::log
