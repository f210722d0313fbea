#include "daemon/plugins/cache/memory_cache.h"

#include <fmt/format.h>

namespace sg::plugins {

MemoryCache::MemoryCache(MemoryCacheOptions options)
    : options_(std::move(options)),
      shard_budget_(options_.max_bytes / std::max<size_t>(1, options_.shards)) {
  for (size_t i = 0; i < std::max<size_t>(1, options_.shards); ++i)
    shards_.push_back(std::make_unique<Shard>());
}

MemoryCache::Shard& MemoryCache::ShardFor(const std::string& key) {
  return *shards_[std::hash<std::string>{}(key) % shards_.size()];
}

void MemoryCache::Erase(Shard& shard, std::list<Entry>::iterator it) {
  shard.bytes -= it->Cost();
  bytes_ -= it->Cost();
  --entries_;
  shard.index.erase(it->key);
  shard.lru.erase(it);
}

std::shared_ptr<const SharedBytes> MemoryCache::Find(const std::string& key) {
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  auto found = shard.index.find(key);
  if (found == shard.index.end()) {
    ++counters_.misses;
    return nullptr;
  }
  auto it = found->second;
  if (it->expires <= options_.now()) {
    Erase(shard, it);
    ++counters_.expirations;
    ++counters_.misses;
    return nullptr;
  }
  shard.lru.splice(shard.lru.begin(), shard.lru, it);
  ++counters_.hits;
  return it->value;
}

Result<std::optional<std::string>> MemoryCache::Get(const std::string& key) {
  auto value = Find(key);
  if (value == nullptr) return std::optional<std::string>();
  return std::optional<std::string>(value->view());
}

std::shared_ptr<const SharedBytes> MemoryCache::Peek(const std::string& key) { return Find(key); }

Result<void> MemoryCache::Set(const std::string& key, std::string value, Duration ttl) {
  if (ttl <= Duration::zero()) ttl = options_.default_ttl;
  const size_t cost = key.size() + value.size() + kEntryOverhead;
  if (cost > shard_budget_) {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("cache entry '{}' of {} bytes is larger than a shard's budget of {} bytes", key,
                    cost, shard_budget_));
  }
  // A large value goes to a file, for responses to send by sendfile (plugin_api/shared_bytes.h).
  Entry entry{key, SharedBytes::Make(std::move(value), options_.file_dir), options_.now() + ttl};
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  if (auto found = shard.index.find(key); found != shard.index.end()) Erase(shard, found->second);
  shard.bytes += entry.Cost();
  bytes_ += entry.Cost();
  ++entries_;
  shard.lru.push_front(std::move(entry));
  shard.index.emplace(key, shard.lru.begin());
  // Least recently used first out, until the shard fits its budget again.
  while (shard.bytes > shard_budget_ && shard.lru.size() > 1) {
    Erase(shard, std::prev(shard.lru.end()));
    ++counters_.evictions;
  }
  return {};
}

Result<bool> MemoryCache::Delete(const std::string& key) {
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  auto found = shard.index.find(key);
  if (found == shard.index.end()) return false;
  Erase(shard, found->second);
  return true;
}

Result<std::string> MemoryCache::GetOrLoad(const std::string& key, Loader loader, Duration ttl) {
  return LoadThrough(*this, flights_, key, loader, ttl, counters_.loads);
}

CacheStats MemoryCache::Stats() const {
  CacheStats s = counters_.Snapshot();
  s.entries = entries_;
  s.bytes = bytes_;
  return s;
}

}  // namespace sg::plugins
