#include "daemon/plugins/streaming/streaming_config.h"

namespace sg::plugins {

using config::kSecond;
using config::Reload;
using config::Type;

config::ConfigDeclaration StreamingConfig() {
  constexpr int64_t kMiB = int64_t{1} << 20;
  return {
      .owner = "streaming",
      .sections =
          {
              {.name = "streaming",
               .title = "the streaming plugin: HLS and DASH delivery at /videos/ID/",
               .keys =
                   {
                       {.path = "streaming.playlist_max_age",
                        .type = Type::kDuration,
                        .default_value = "10s",
                        .doc = "How long players and shared caches may keep a playlist or "
                               "manifest (Cache-Control max-age); segments, init segments and "
                               "posters never change and are kept a year (immutable)",
                        .min = 0,
                        .max = int64_t{24} * 3600 * kSecond,
                        .reload = Reload::kRestartPlugin},
                       {.path = "streaming.state_ttl",
                        .type = Type::kDuration,
                        .default_value = "5s",
                        .doc = "How long a video's state, read from the catalogue, is trusted "
                               "without asking again; a video.state event ends it at once",
                        .min = 0,
                        .max = int64_t{3600} * kSecond,
                        .reload = Reload::kRestartPlugin},
                       {.path = "streaming.cache_max_object",
                        .type = Type::kSize,
                        .default_value = "8MiB",
                        .doc = "From a remote store (S3): objects up to this size are held in the "
                               "cache plugin, one fetch for many viewers; larger ones are "
                               "streamed through by range",
                        .min = 0,
                        .max = 256 * kMiB,
                        .reload = Reload::kRestartPlugin},
                       {.path = "streaming.cache_ttl",
                        .type = Type::kDuration,
                        .default_value = "1h",
                        .doc = "How long an object from a remote store stays in the cache",
                        .min = kSecond,
                        .max = int64_t{7} * 24 * 3600 * kSecond,
                        .reload = Reload::kRestartPlugin},
                       {.path = "streaming.cors_origins",
                        .type = Type::kStringList,
                        .default_value = "[\"*\"]",
                        .doc = "Origins whose pages may play the streams in a browser player "
                               "(hls.js, dash.js): exact origins, or * for any",
                        .reload = Reload::kRestartPlugin},
                   }},
          },
      .also_reads = {"app.mode"},
  };
}

}  // namespace sg::plugins
