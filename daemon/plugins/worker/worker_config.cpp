#include "daemon/plugins/worker/worker_config.h"

namespace sg::plugins {

using config::kDay;
using config::kSecond;
using config::Reload;
using config::Type;

config::ConfigDeclaration WorkerConfig() {
  return {
      .owner = "worker",
      .sections =
          {
              {.name = "worker",
               .title = "the worker plugin (the durable job queue)",
               .keys =
                   {
                       {.path = "worker.concurrency",
                        .type = Type::kInt,
                        .default_value = "2",
                        .doc = "Jobs of one kind that this process runs at a time, unless the "
                               "plugin that handles the kind asks for another limit",
                        .min = 1,
                        .max = 256,
                        .reload = Reload::kRestartPlugin},
                       {.path = "worker.max_attempts",
                        .type = Type::kInt,
                        .default_value = "5",
                        .doc = "Runs a job gets before it is kept as dead with its last error, "
                               "unless its producer set its own limit",
                        .min = 1,
                        .max = 100,
                        .reload = Reload::kRestartPlugin},
                       {.path = "worker.lease",
                        .type = Type::kDuration,
                        .default_value = "30s",
                        .doc = "How long a running job stays leased to its process without word "
                               "from it; the worker renews the lease every third of it, and a "
                               "job whose process died runs again once it expires",
                        .min = kSecond,
                        .max = kDay,
                        .reload = Reload::kRestartPlugin},
                       {.path = "worker.poll_interval",
                        .type = Type::kDuration,
                        .default_value = "500ms",
                        .doc = "How often an idle kind asks the store for a runnable job: the "
                               "most a queued job waits to start when nothing else wakes it",
                        .min = 10,
                        .max = 60 * kSecond,
                        .reload = Reload::kRestartPlugin},
                       {.path = "worker.backoff_base",
                        .type = Type::kDuration,
                        .default_value = "1s",
                        .doc = "The wait before a failed job's first retry; it doubles with each "
                               "further failure, with jitter, up to worker.backoff_max",
                        .min = 10,
                        .max = kDay,
                        .reload = Reload::kRestartPlugin},
                       {.path = "worker.backoff_max",
                        .type = Type::kDuration,
                        .default_value = "5m",
                        .doc = "The longest wait between a job's retries",
                        .min = 10,
                        .max = 7 * kDay,
                        .reload = Reload::kRestartPlugin},
                       {.path = "worker.gc_interval",
                        .type = Type::kDuration,
                        .default_value = "1h",
                        .doc = "How often the periodic jobs are queued: gc-orphans, which deletes "
                               "the storage objects under videos/ that no live video owns, and "
                               "expire-uploads, which the upload plugin handles. 0 queues none",
                        .min = 0,
                        .max = 30 * kDay,
                        .reload = Reload::kRestartPlugin},
                   }},
          },
      // The store follows the catalogue's: its SQLite file or PostgreSQL database in monolith
      // mode; NATS JetStream, reached as the bus reaches it, in microservice mode.
      .also_reads = {"app.mode",
                     "metadata.engine",
                     "metadata.sqlite_path",
                     "database.host",
                     "database.port",
                     "database.user",
                     "database.password",
                     "database.database",
                     "database.sslmode",
                     "database.maxconns",
                     "nats.url",
                     "nats.urls",
                     "nats.user",
                     "nats.password",
                     "nats.token",
                     "nats.tls_ca",
                     "nats.tls_cert",
                     "nats.tls_key",
                     "nats.subject_prefix",
                     "nats.request_timeout",
                     "nats.reconnect_wait"},
  };
}

}  // namespace sg::plugins
