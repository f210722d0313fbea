// The in-process cache: LRU within a byte budget, TTLs, sharded by key hash so that threads
// rarely contend.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/plugin_api/cache.h"
#include "daemon/plugin_api/single_flight.h"

namespace sg::plugins {

struct MemoryCacheOptions {
  size_t max_bytes = 64 * 1024 * 1024;  // cache.max_bytes, split evenly over shards
  size_t shards = 16;                   // cache.shards
  Cache::Duration default_ttl = std::chrono::minutes(5);  // cache.default_ttl
  /// Where values of SharedBytes::kFileThreshold and more are kept in unnamed files, so that
  /// responses send them by sendfile; empty: in memfds (plugin_api/shared_bytes.h).
  std::string file_dir;
  /// The clock TTLs are measured on; tests pass a fake one.
  std::function<std::chrono::steady_clock::time_point()> now = [] {
    return std::chrono::steady_clock::now();
  };
};

class MemoryCache final : public Cache {
 public:
  explicit MemoryCache(MemoryCacheOptions options);

  using Cache::GetOrLoad;
  using Cache::Set;
  Result<std::optional<std::string>> Get(const std::string& key) override;
  std::shared_ptr<const SharedBytes> Peek(const std::string& key) override;
  bool InProcess() const override { return true; }
  Result<void> Set(const std::string& key, std::string value, Duration ttl) override;
  Result<bool> Delete(const std::string& key) override;
  Result<std::string> GetOrLoad(const std::string& key, Loader loader, Duration ttl) override;
  CacheStats Stats() const override;

  /// What one entry costs against the budget besides its key and value.
  static constexpr size_t kEntryOverhead = 64;

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const SharedBytes> value;  // shared with readers that Peek
    std::chrono::steady_clock::time_point expires;
    size_t Cost() const { return key.size() + value->size() + kEntryOverhead; }
  };
  struct Shard {
    std::mutex mu;
    std::list<Entry> lru;  // guarded by mu; most recently used first
    std::unordered_map<std::string, std::list<Entry>::iterator> index;  // guarded by mu
    size_t bytes = 0;                                                   // guarded by mu
  };

  Shard& ShardFor(const std::string& key);
  void Erase(Shard& shard, std::list<Entry>::iterator it);  // requires shard.mu
  /// The fresh value of `key`, made the most recently used, counted as a hit or a miss.
  std::shared_ptr<const SharedBytes> Find(const std::string& key);

  const MemoryCacheOptions options_;
  const size_t shard_budget_;
  std::vector<std::unique_ptr<Shard>> shards_;
  SingleFlight flights_;
  CacheCounters counters_;
  std::atomic<uint64_t> entries_{0}, bytes_{0};
};

}  // namespace sg::plugins
