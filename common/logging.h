// Logging for the daemon and the CLI: one spdlog logger per component, all sharing the same sinks
// (the console, an optional rotating file, and a bounded ring of recent records for
// `streamgate logs`), three output formats, and levels that can change at run time.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "common/result.h"

namespace spdlog::details {
class thread_pool;
}  // namespace spdlog::details

namespace sg::log {

enum class Format { kDev, kProd, kJson };

/// Parses "dev", "prod" or "json".
std::optional<Format> ParseFormat(std::string_view name);
/// Parses trace, debug, info, warn (or warning), error, critical, off.
std::optional<spdlog::level::level_enum> ParseLevel(std::string_view name);
/// The name we print for a level: trace, debug, info, warn, error, critical, off.
std::string_view LevelName(spdlog::level::level_enum level);

/// One key=value field of a structured record.
struct Field {
  using Value = std::variant<std::string, int64_t, double, bool>;
  template <typename T>
  Field(std::string k, T&& v) : key(std::move(k)), value(ToValue(std::forward<T>(v))) {}
  Field(std::string k, Value v, int /*tag*/) : key(std::move(k)), value(std::move(v)) {}

  std::string key;
  Value value;

 private:
  template <typename T>
  static Value ToValue(T&& v) {
    using D = std::decay_t<T>;
    if constexpr (std::is_same_v<D, bool>) {
      return v;
    } else if constexpr (std::is_integral_v<D>) {
      return static_cast<int64_t>(v);
    } else if constexpr (std::is_floating_point_v<D>) {
      return static_cast<double>(v);
    } else {
      return std::string(std::forward<T>(v));
    }
  }
};

/// A message with fields, encoded for spdlog: `logger->info(log::With("Plugin started",
/// {{"name", name}}))`. The formatters and the ring decode it again.
std::string With(std::string_view message, std::initializer_list<Field> fields);

/// A decoded record, as the ring keeps it and `streamgate logs` shows it.
struct Record {
  uint64_t seq = 0;
  std::chrono::system_clock::time_point time;
  spdlog::level::level_enum level = spdlog::level::info;
  std::string component;
  std::string message;
  std::vector<Field> fields;
};

/// Splits a payload made by With() into its message and fields.
void Decode(std::string_view payload, std::string& message, std::vector<Field>& fields);

/// A record as one JSON object: ts, level, service, component, msg, seq (when set), then the
/// fields.
nlohmann::ordered_json ToJson(const Record& record, std::string_view service);

/// Renders one record in a format, without a trailing newline.
std::string Render(const Record& record, Format format, std::string_view service, bool color);

/// The most recent records, bounded; thread-safe. Listeners are called, under the ring's lock and
/// in sequence order, for every new record: they must be quick and must not log.
class RecordRing {
 public:
  explicit RecordRing(size_t capacity) : capacity_(capacity) {}
  RecordRing(const RecordRing&) = delete;
  RecordRing& operator=(const RecordRing&) = delete;

  void Add(Record record);
  /// The last `n` records (all when n is 0), oldest first.
  std::vector<Record> Last(size_t n) const;
  /// The sequence number the next record will get.
  uint64_t NextSeq() const;
  /// Records seen since start, per level (spdlog's order: trace .. critical).
  std::array<uint64_t, 6> CountsByLevel() const;
  using Listener = std::function<void(const Record&)>;
  /// Registers a listener; returns an id for RemoveListener.
  int AddListener(Listener listener);
  void RemoveListener(int id);

 private:
  mutable std::mutex mu_;
  const size_t capacity_;
  std::deque<Record> records_;                       // guarded by mu_
  uint64_t next_seq_ = 1;                            // guarded by mu_
  std::map<int, Listener> listeners_;                // guarded by mu_
  int next_listener_ = 1;                            // guarded by mu_
  std::array<std::atomic<uint64_t>, 6> by_level_{};  // atomics: counted outside the lock too
};

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
  /// A logger whose records are formatted and written by a background thread, for hot paths
  /// such as the access log: the caller only queues the record. When the queue (8192 records)
  /// is full the caller waits, so nothing is lost.
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
  mutable std::mutex mu_;
  spdlog::level::level_enum default_level_;                         // guarded by mu_
  std::map<std::string, std::shared_ptr<spdlog::logger>> loggers_;  // guarded by mu_
  std::map<std::string, spdlog::level::level_enum> overrides_;      // guarded by mu_
  std::optional<spdlog::level::level_enum> floor_;                  // guarded by mu_
  std::atomic<bool> has_floor_{false};
  // For GetAsync; made on first use. Last, so destroyed first: its thread drains queued records
  // into sinks that still read the members above.
  std::shared_ptr<spdlog::details::thread_pool> pool_;
};

}  // namespace sg::log
