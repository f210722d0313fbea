#include "daemon/plugins/auth/auth_config.h"

namespace sg::plugins {

using config::kSecond;
using config::Reload;
using config::Type;

config::ConfigDeclaration AuthConfig() {
  constexpr int64_t kHour = int64_t{3600} * kSecond;
  return {
      .owner = "auth",
      .sections =
          {
              {.name = "auth",
               .title = "the auth plugin: API keys, tokens, playback capabilities and Sign-In with "
                        "Ethereum",
               .keys =
                   {
                       {.path = "auth.required",
                        .type = Type::kBool,
                        .default_value = "true",
                        .doc = "Writes (uploads, PATCH and DELETE of videos) need a token "
                               "(Authorization: Bearer, from POST /api/v1/auth/token or "
                               "'streamgate auth token'). false opens them to anyone who can "
                               "reach the port: only for a machine nobody else can reach",
                        .reload = Reload::kRestartDaemon},
                       {.path = "auth.keys_file",
                        .type = Type::kString,
                        .default_value = "",
                        .doc = "The file of signing keys for tokens and playback capabilities "
                               "(HMAC-SHA256; made, mode 0600, at first start). Every process of "
                               "a deployment must read the same keys: share this file. Empty: "
                               "auth-keys.json in the state folder",
                        .reload = Reload::kRestartDaemon},
                       {.path = "auth.token_ttl",
                        .type = Type::kDuration,
                        .default_value = "15m",
                        .doc = "How long a token from POST /api/v1/auth/token or 'streamgate "
                               "auth token' is good for",
                        .min = 60 * kSecond,
                        .max = 24 * kHour,
                        .reload = Reload::kRestartPlugin},
                       {.path = "auth.capability_ttl",
                        .type = Type::kDuration,
                        .default_value = "6h",
                        .doc = "How long a playback URL (/p/CAPABILITY/videos/ID/...) of a "
                               "private or gated video is good for: long enough for a film, "
                               "short enough that a shared link dies",
                        .min = 60 * kSecond,
                        .max = 7 * 24 * kHour,
                        .reload = Reload::kRestartPlugin},
                       {.path = "auth.key_overlap",
                        .type = Type::kDuration,
                        .default_value = "24h",
                        .doc = "After 'streamgate auth rotate', how long the previous signing "
                               "key still verifies: tokens and playback URLs made before the "
                               "rotation keep working until then",
                        .min = 0,
                        .max = 30 * 24 * kHour,
                        .reload = Reload::kRestartPlugin},
                       {.path = "auth.siwe_domain",
                        .type = Type::kString,
                        .default_value = "",
                        .doc = "The domain (host[:port]) a Sign-In with Ethereum message must be "
                               "for, as the site's visitors reach it: 'video.example.com'. Empty: "
                               "the request's Host header, which is right only when no proxy "
                               "rewrites it",
                        .reload = Reload::kRestartPlugin},
                       {.path = "auth.siwe_uris",
                        .type = Type::kStringList,
                        .default_value = "[]",
                        .doc = "The URIs a Sign-In with Ethereum message may name, as prefixes "
                               "matched at a boundary: '[https://video.example.com]' takes "
                               "'https://video.example.com/login'. Empty: any URI",
                        .reload = Reload::kRestartPlugin},
                       {.path = "auth.nonce_ttl",
                        .type = Type::kDuration,
                        .default_value = "5m",
                        .doc = "How long a nonce from GET /api/v1/auth/siwe/nonce may be signed "
                               "and sent back; each is good once. Nonces live in the cache "
                               "service: with several processes, use cache.type redis",
                        .min = 10 * kSecond,
                        .max = kHour,
                        .reload = Reload::kRestartPlugin},
                       {.path = "auth.siwe_max_age",
                        .type = Type::kDuration,
                        .default_value = "10m",
                        .doc = "The oldest Issued At a Sign-In with Ethereum message may carry",
                        .min = 10 * kSecond,
                        .max = 24 * kHour,
                        .reload = Reload::kRestartPlugin},
                   }},
          },
      .also_reads = {"app.mode", "metadata.engine", "metadata.sqlite_path", "database.host",
                     "database.port", "database.user", "database.password", "database.database",
                     "database.sslmode", "database.maxconns", "web3.ethereum_rpc",
                     "web3.rpc_fallbacks", "web3.rpc_timeout", "web3.chain_id",
                     "web3.gate_contract", "web3.gate_standard", "web3.gate_token_id",
                     "web3.ownership_ttl"},
  };
}

}  // namespace sg::plugins
