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
                        .doc = "memory keeps entries in this process; redis shares them through "
                               "the redis section's "
                               "server",
                        .choices = {"memory", "redis"},
                        .reload = Reload::kRestartPlugin},
                       {.path = "cache.max_bytes",
                        .type = Type::kSize,
                        .default_value = "64MiB",
                        .doc = "Byte budget of the in-process cache (keys, values and 64 bytes an "
                               "entry); LRU "
                               "beyond it",
                        .min = int64_t{64} * 1024,
                        .max = int64_t{64} * 1024 * kMiB,
                        .reload = Reload::kRestartPlugin},
                       {.path = "cache.default_ttl",
                        .type = Type::kDuration,
                        .default_value = "5m",
                        .doc = "How long an entry lives when its setter names no TTL",
                        .min = 1,
                        .max = 365 * kDay,
                        .reload = Reload::kRestartPlugin},
                       {.path = "cache.shards",
                        .type = Type::kInt,
                        .default_value = "16",
                        .doc = "Independently locked parts of the in-process cache",
                        .min = 1,
                        .max = 1024,
                        .reload = Reload::kRestartPlugin},
                       {.path = "cache.local_fallback",
                        .type = Type::kBool,
                        .default_value = "false",
                        .doc = "With the redis backend, answer from an in-process cache while "
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
                        .doc = "Longest a Redis connect, command or wait for a pooled connection "
                               "may take",
                        .min = 1,
                        .max = 60 * kSecond,
                        .reload = Reload::kRestartPlugin},
                   }},
          },
      .also_reads = {"app.mode"},
  };
}

}  // namespace sg::plugins
