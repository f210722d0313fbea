// The cache service ("cache" in the service registry): an in-process LRU or Redis, behind one
// interface, so a plugin that caches never knows which.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "daemon/plugin_api/shared_bytes.h"
#include "daemon/plugin_api/single_flight.h"

namespace sg {

struct CacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;    // entries dropped to stay within the byte budget
  uint64_t expirations = 0;  // entries found past their TTL
  uint64_t errors = 0;       // operations that failed (a backend unreachable)
  uint64_t loads = 0;        // loader calls made by GetOrLoad
  uint64_t entries = 0;
  uint64_t bytes = 0;
};

/// The counters every cache keeps, from any thread. Snapshot() gives them as CacheStats; entries
/// and bytes stay 0 there, for the cache that keeps them to add.
struct CacheCounters {
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> misses{0};
  std::atomic<uint64_t> evictions{0};
  std::atomic<uint64_t> expirations{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> loads{0};

  CacheStats Snapshot() const;
};

/// Thread-safe. Errors: kUnavailable when the backend cannot be reached, kTimeout when it does
/// not answer in time, kInvalidArgument for an entry larger than the cache can hold.
class Cache {
 public:
  virtual ~Cache() = default;
  using Duration = std::chrono::milliseconds;

  /// The value, or nullopt on a miss.
  virtual Result<std::optional<std::string>> Get(const std::string& key) = 0;
  /// The value without copying it and without waiting: a cache in this process's memory answers
  /// from there (a hit counts as Get's would); one that would have to ask a server (Redis, or
  /// the cache in another process) says null, as on a miss. Safe on an I/O thread. A large value
  /// may come in a memfd (SharedBytes::fd), which a response sends by sendfile.
  virtual std::shared_ptr<const SharedBytes> Peek(const std::string& key) {
    (void)key;
    return nullptr;
  }
  /// Whether the cache lives in this process's memory: its calls then never wait on a server,
  /// and an I/O thread may store in it.
  virtual bool InProcess() const { return false; }
  /// Stores a value for `ttl` (zero: the cache's default TTL).
  virtual Result<void> Set(const std::string& key, std::string value, Duration ttl) = 0;
  Result<void> Set(const std::string& key, std::string value) {
    return Set(key, std::move(value), Duration::zero());
  }
  /// Removes a key; true when it was there.
  virtual Result<bool> Delete(const std::string& key) = 0;

  using Loader = std::function<Result<std::string>()>;
  /// The cached value, or the loader's, which is then stored. Concurrent misses on one key call
  /// the loader once and all get its answer (single flight); a loader's error is not cached.
  virtual Result<std::string> GetOrLoad(const std::string& key, Loader loader, Duration ttl) = 0;
  Result<std::string> GetOrLoad(const std::string& key, Loader loader) {
    return GetOrLoad(key, std::move(loader), Duration::zero());
  }

  virtual CacheStats Stats() const = 0;
};

/// GetOrLoad for any Cache, on its Get and Set: the cached value, else one load per key at a
/// time (through `flights`), stored when it succeeds; `loads` counts the loader's calls. A cache
/// that cannot answer is treated as a miss: the loader is the source of truth.
Result<std::string> LoadThrough(Cache& cache, SingleFlight& flights, const std::string& key,
                                const Cache::Loader& loader, Cache::Duration ttl,
                                std::atomic<uint64_t>& loads);

}  // namespace sg
