#include "daemon/plugins/upload/upload_config.h"

namespace sg::plugins {

using config::kSecond;
using config::Reload;
using config::Type;

config::ConfigDeclaration UploadConfig() {
  constexpr int64_t kMiB = int64_t{1} << 20;
  return {
      .owner = "upload",
      .sections =
          {
              {.name = "upload",
               .title = "the upload plugin: resumable uploads (tus 1.0) at /api/v1/uploads",
               .keys =
                   {
                       {.path = "upload.max_size",
                        .type = Type::kSize,
                        .default_value = "16GiB",
                        .doc = "Largest upload accepted: a larger Upload-Length is answered 413 at "
                               "once, and clients learn it from Tus-Max-Size",
                        .min = 1,
                        .max = int64_t{1} << 42,
                        .reload = Reload::kRestartPlugin},
                       {.path = "upload.expiry",
                        .type = Type::kDuration,
                        .default_value = "24h",
                        .doc = "How long an unfinished upload is kept after its last byte "
                               "arrived (Upload-Expires); after it the upload answers 410 and "
                               "the worker's expire-uploads job removes its bytes",
                        .min = kSecond,
                        .max = int64_t{366} * 24 * 3600 * kSecond,
                        .reload = Reload::kRestartPlugin},
                       {.path = "upload.max_concurrent_per_client",
                        .type = Type::kInt,
                        .default_value = "8",
                        .doc = "Uploads one client address may send at once (POST with a body "
                               "and PATCH); more are answered 429 with Retry-After",
                        .min = 1,
                        .max = 100000,
                        .reload = Reload::kRestartPlugin},
                       {.path = "upload.sync_every",
                        .type = Type::kSize,
                        .default_value = "64MiB",
                        .doc = "Bytes of a PATCH between two fsyncs that make them count: what a "
                               "crash may make a client send again. A PATCH with Upload-Checksum "
                               "counts only once its checksum matched, at its end",
                        .min = kMiB,
                        .max = int64_t{1} << 40,
                        .reload = Reload::kRestartPlugin},
                       {.path = "upload.lock_wait",
                        .type = Type::kDuration,
                        .default_value = "5s",
                        .doc = "How long a PATCH, DELETE or HEAD waits for another request that "
                               "holds the upload (a PATCH still writing, or one whose client "
                               "just left and whose bytes are being kept) before a PATCH or "
                               "DELETE is answered 423 and a HEAD with the offset synced so far; "
                               "0 answers at once. In microservice mode PATCH and DELETE also "
                               "wait, within the same time, for another instance that holds "
                               "it. At most three quarters of server.write_timeout is used",
                        .min = 0,
                        .max = 300 * kSecond,
                        .reload = Reload::kRestartPlugin},
                       {.path = "upload.cors_origins",
                        .type = Type::kStringList,
                        .default_value = "[\"*\"]",
                        .doc = "Origins whose pages may upload from a browser (exact origins such "
                               "as https://example.com, or * for any): the tus headers are "
                               "allowed in and exposed",
                        .reload = Reload::kRestartPlugin},
                   }},
          },
      .also_reads = {"app.mode", "server.write_timeout"},
  };
}

}  // namespace sg::plugins
