// The Redis-backed cache: a pool of hiredis connections with connect and command timeouts,
// reconnecting by itself, with an optional local tier to fall back on while Redis is away.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/plugin_api/cache.h"
#include "daemon/plugin_api/single_flight.h"

struct redisContext;

namespace sg::plugins {

struct RedisCacheOptions {
  std::string host = "localhost";  // redis.host
  int port = 6379;                 // redis.port
  std::string password;            // redis.password
  int db = 0;                      // redis.db
  size_t pool_size = 16;           // redis.poolsize
  std::chrono::milliseconds timeout{
      1000};  // redis.timeout: connect, command, and waiting for a connection
  Cache::Duration default_ttl = std::chrono::minutes(5);
  std::string key_prefix = "streamgate:";
  /// Answers from here while Redis is unreachable (cache.local_fallback); may be null.
  std::shared_ptr<Cache> fallback;
};

class RedisCache final : public Cache {
 public:
  explicit RedisCache(RedisCacheOptions options);
  ~RedisCache() override;
  RedisCache(const RedisCache&) = delete;
  RedisCache& operator=(const RedisCache&) = delete;

  using Cache::GetOrLoad;
  using Cache::Set;
  Result<std::optional<std::string>> Get(const std::string& key) override;
  Result<void> Set(const std::string& key, std::string value, Duration ttl) override;
  Result<bool> Delete(const std::string& key) override;
  Result<std::string> GetOrLoad(const std::string& key, Loader loader, Duration ttl) override;
  CacheStats Stats() const override;

  /// PINGs Redis: ok, or why not.
  Result<void> Ping();
  std::string Address() const;

 private:
  struct Reply;
  /// Runs one command on a pooled connection; reconnects a broken one on the next use.
  Result<Reply> Command(const std::vector<std::string>& args);
  Result<redisContext*> Acquire();
  void Release(redisContext* c, bool broken);
  Result<redisContext*> Connect();

  const RedisCacheOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<redisContext*> idle_;  // guarded by mu_
  size_t open_ = 0;                  // guarded by mu_: connections made and not freed
  // After a failed connect, fail fast for a moment instead of every caller waiting a timeout.
  std::chrono::steady_clock::time_point retry_after_;  // guarded by mu_
  std::string last_error_;                             // guarded by mu_
  SingleFlight flights_;
  CacheCounters counters_;
};

}  // namespace sg::plugins
