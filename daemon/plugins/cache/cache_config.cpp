#include "daemon/plugins/cache/cache_config.h"

namespace sg::plugins {

using config::kDay;
using config::kMiB;
using config::kSecond;
using config::Reload;
using config::Type;

config::ConfigDeclaration CacheConfig() {
  return {
      .owner = "cache",
      .sections =
          {
              {.name = "cache",
               .title = "the cache plugin",
               .keys =
                   {
                       {.path = "cache.backend",
                        .type = Type::kEnum,
                        .default_value = "memory",
                        .doc =
                            "memory keeps entries in this process: a least-recently-used cache "
                            "within cache.max_bytes, sharded so that threads rarely wait for each "
                            "other. redis shares entries through the server that redis.host and "
                            "redis.port name; with Redis down, the cache plugin reports itself "
                            "degraded and callers get a clear error (or the local tier, see "
                            "cache.local_fallback)",
                        .choices = {"memory", "redis"},
                        .reload = Reload::kRestartPlugin},
                       {.path = "cache.max_bytes",
                        .type = Type::kSize,
                        .default_value = "64MiB",
                        .doc = "Byte budget of the in-process cache, counting keys, values and 64 "
                               "bytes for each entry; past it the least recently used entries go",
                        .min = int64_t{64} * 1024,
                        .max = int64_t{64} * 1024 * kMiB,
                        .reload = Reload::kRestartPlugin},
                       {.path = "cache.default_ttl",
                        .type = Type::kDuration,
                        .default_value = "5m",
                        .doc = "How long an entry lives when whoever stores it names no TTL",
                        .min = 1,
                        .max = 365 * kDay,
                        .reload = Reload::kRestartPlugin},
                       {.path = "cache.shards",
                        .type = Type::kInt,
                        .default_value = "16",
                        .doc =
                            "Independently locked parts of the in-process cache; the byte budget "
                            "is split evenly between them",
                        .min = 1,
                        .max = 1024,
                        .reload = Reload::kRestartPlugin},
                       {.path = "cache.local_fallback",
                        .type = Type::kBool,
                        .default_value = "false",
                        .doc = "When cache.backend is redis, answer from an in-process cache while "
                               "Redis is unreachable",
                        .reload = Reload::kRestartPlugin},
                   }},

              {.name = "redis",
               .title = "the shared backend of the cache plugin",
               .keys =
                   {
                       {.path = "redis.host",
                        .type = Type::kHost,
                        .default_value = "localhost",
                        .doc = "Redis host",
                        .reload = Reload::kRestartPlugin},
                       {.path = "redis.port",
                        .type = Type::kPort,
                        .default_value = "6379",
                        .doc = "Redis port",
                        .min = 1,
                        .max = 65535,
                        .reload = Reload::kRestartPlugin},
                       {.path = "redis.password",
                        .type = Type::kString,
                        .default_value = "",
                        .doc = "Redis password (AUTH); empty for none",
                        .secret = true,
                        .reload = Reload::kRestartPlugin},
                       {.path = "redis.db",
                        .type = Type::kInt,
                        .default_value = "0",
                        .doc = "Redis database number",
                        .min = 0,
                        .max = 15,
                        .reload = Reload::kRestartPlugin},
                       {.path = "redis.poolsize",
                        .type = Type::kInt,
                        .default_value = "16",
                        .doc = "Most connections in the Redis pool",
                        .min = 1,
                        .max = 10000,
                        .reload = Reload::kRestartPlugin},
                       {.path = "redis.timeout",
                        .type = Type::kDuration,
                        .default_value = "1s",
                        .doc =
                            "Longest a connect, a command, or a wait for a free pooled connection "
                            "may take. While Redis is unreachable, callers get an error at once "
                            "for half a second after each failed connect rather than each waiting "
                            "this long",
                        .min = 1,
                        .max = 60 * kSecond,
                        .reload = Reload::kRestartPlugin},
                   }},
          },
      .also_reads = {"app.mode"},
  };
}

}  // namespace sg::plugins
