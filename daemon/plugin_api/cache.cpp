#include "daemon/plugin_api/cache.h"

namespace sg {

CacheStats CacheCounters::Snapshot() const {
  CacheStats s;
  s.hits = hits;
  s.misses = misses;
  s.evictions = evictions;
  s.expirations = expirations;
  s.errors = errors;
  s.loads = loads;
  return s;
}

Result<std::string> LoadThrough(Cache& cache, SingleFlight& flights, const std::string& key,
                                const Cache::Loader& loader, Cache::Duration ttl,
                                std::atomic<uint64_t>& loads) {
  auto cached = cache.Get(key);
  if (cached && cached->has_value()) return std::move(**cached);
  bool leader = false;
  return flights.Do(
      key,
      [&]() -> Result<std::string> {
        // Another flight may have stored it between our miss and our turn to lead.
        if (auto again = cache.Get(key); again && again->has_value()) return std::move(**again);
        ++loads;
        auto loaded = loader();
        if (loaded) (void)cache.Set(key, *loaded, ttl);
        return loaded;
      },
      leader);
}

}  // namespace sg
