// The ring of recent log records behind `streamgate logs`: bounded, numbered, with listeners for
// the live stream and counts per level for /metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "common/log_record.h"

namespace sg::log {

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

}  // namespace sg::log
