#include "daemon/plugins/cache/cache_plugin.h"

#include "common/logging.h"
#include "common/paths.h"
#include "daemon/plugin_api/cache.h"
#include "daemon/plugin_api/cache_rpc.h"
#include "daemon/plugin_api/metrics.h"
#include "daemon/plugin_api/registration.h"
#include "daemon/plugins/cache/cache_config.h"
#include "daemon/plugins/cache/memory_cache.h"
#include "daemon/plugins/cache/redis_cache.h"

namespace sg::plugins {
namespace {

class CachePlugin final : public Plugin {
 public:
  std::string_view Name() const override { return "cache"; }
  std::string_view Version() const override { return "1.0.0"; }
  // Everything Init reads, as cache_config.cpp declares it; a change takes a restart of the plugin.
  std::vector<std::string> ConfigKeys() const override { return CacheConfig().Reads(); }

  Result<void> Init(PluginContext& context) override {
    const config::Config& config = *context.config;
    logger_ = context.logger;
    bus_ = context.bus;
    executor_ = context.executor;
    serve_ = config.String("app.mode") == "microservice";
    backend_ = config.String("cache.backend");
    MemoryCacheOptions memory;
    memory.max_bytes = static_cast<size_t>(config.Int("cache.max_bytes"));
    memory.shards = static_cast<size_t>(config.Int("cache.shards"));
    memory.default_ttl = config.Duration("cache.default_ttl");
    // Large values in unnamed files of the state folder's cache/, sent by sendfile; where that
    // folder cannot be ours, in memfds (plugin_api/shared_bytes.h).
    const std::string file_dir = StateDir() + "/cache";
    if (auto made = EnsurePrivateDir(file_dir); made) {
      memory.file_dir = file_dir;
    } else {
      logger_->info(log::With("Cache values of 32 KiB and more go to memfds rather than files",
                              {{"error", made.error().message}}));
    }
    if (backend_ == "redis") {
      RedisCacheOptions redis;
      redis.host = config.String("redis.host");
      redis.port = static_cast<int>(config.Int("redis.port"));
      redis.password = config.String("redis.password");
      redis.db = static_cast<int>(config.Int("redis.db"));
      redis.pool_size = static_cast<size_t>(config.Int("redis.poolsize"));
      redis.timeout = config.Duration("redis.timeout");
      redis.default_ttl = memory.default_ttl;
      if (config.Bool("cache.local_fallback"))
        redis.fallback = std::make_shared<MemoryCache>(memory);
      redis_ = std::make_shared<RedisCache>(redis);
      cache_ = redis_;
    } else {
      cache_ = std::make_shared<MemoryCache>(memory);
    }
    context.services->Provide<Cache>("cache", cache_);
    if (context.metrics != nullptr) {
      collector_ = AddCollector(
          *context.metrics, [cache = cache_, backend = backend_](std::vector<MetricFamily>& out) {
            const CacheStats s = cache->Stats();
            const Labels labels = {{"backend", backend}};
            auto counter = [&](const char* name, const char* help, uint64_t v) {
              out.push_back({name, help, "counter", {{"", labels, static_cast<double>(v)}}});
            };
            counter("streamgate_cache_hits_total", "Cache lookups that found a value", s.hits);
            counter("streamgate_cache_misses_total", "Cache lookups that found nothing", s.misses);
            counter("streamgate_cache_evictions_total",
                    "Entries dropped to stay within cache.max_bytes", s.evictions);
            counter("streamgate_cache_expirations_total", "Entries found past their TTL",
                    s.expirations);
            counter("streamgate_cache_errors_total", "Cache operations that failed", s.errors);
            counter("streamgate_cache_loads_total",
                    "Loader calls made on misses (once per key at a time)", s.loads);
            out.push_back({"streamgate_cache_entries",
                           "Entries held in process",
                           "gauge",
                           {{"", labels, static_cast<double>(s.entries)}}});
            out.push_back({"streamgate_cache_bytes",
                           "Bytes held in process, keys and values with overhead",
                           "gauge",
                           {{"", labels, static_cast<double>(s.bytes)}}});
            out.push_back({"streamgate_cache_files",
                           "Values of 32 KiB and more held in files of their own (unnamed files "
                           "or memfds), sent by sendfile",
                           "gauge",
                           {{"", labels, static_cast<double>(SharedBytes::LiveFiles())}}});
          });
    }
    logger_->info(log::With("Cache ready", {{"backend", backend_}}));
    return {};
  }

  Result<void> Start() override {
    if (serve_) {
      // Microservice mode: the other processes reach this cache over the bus.
      auto sub = ServeCache(*bus_, cache_, executor_);
      if (!sub) return sub.error().Wrap("serve the cache over the bus");
      subscription_ = *sub;
      logger_->info(log::With("Cache served over the bus", {{"subject", kCacheRpcSubject}}));
    }
    if (redis_) {
      // Redis may come later: the cache still starts, degraded, and reconnects by itself.
      if (auto ping = redis_->Ping(); !ping) {
        logger_->warn(log::With("Redis is not reachable yet", {{"error", ping.error().message}}));
      }
    }
    return {};
  }

  void Stop(Deadline) override {
    if (subscription_ != 0) bus_->Unsubscribe(subscription_);
    subscription_ = 0;
  }

  HealthReport CheckHealth() const override {
    if (!redis_) return {};
    if (auto ping = redis_->Ping(); !ping) return {HealthStatus::kDegraded, ping.error().message};
    return {};
  }

 private:
  std::shared_ptr<spdlog::logger> logger_;
  std::string backend_;
  std::shared_ptr<Cache> cache_;
  std::shared_ptr<RedisCache> redis_;
  Bus* bus_ = nullptr;
  boost::asio::any_io_executor executor_;
  bool serve_ = false;
  Bus::SubscriptionId subscription_ = 0;
  Registration collector_;
};

}  // namespace

std::unique_ptr<Plugin> MakeCache() { return std::make_unique<CachePlugin>(); }

}  // namespace sg::plugins
