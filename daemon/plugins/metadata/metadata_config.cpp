#include "daemon/plugins/metadata/metadata_config.h"

namespace sg::plugins {

using config::kSecond;
using config::Reload;
using config::Type;

config::ConfigDeclaration MetadataConfig() {
  return {
      .owner = "metadata",
      .sections =
          {
              {.name = "metadata",
               .title = "the metadata plugin: the video catalogue",
               .keys =
                   {
                       {.path = "metadata.engine",
                        .type = Type::kEnum,
                        .default_value = "sqlite",
                        .doc = "sqlite keeps the catalogue in one file on this machine "
                               "(metadata.sqlite_path), with nothing to install: right for one "
                               "machine. postgres keeps it on the PostgreSQL server that the "
                               "database section names, which every process of a microservice "
                               "deployment can share; while that server is down the plugin "
                               "reports itself degraded, answers 503, and recovers by itself",
                        .choices = {"sqlite", "postgres"},
                        .reload = Reload::kRestartPlugin},
                       {.path = "metadata.sqlite_path",
                        .type = Type::kString,
                        .default_value = "",
                        .doc = "The SQLite database file when metadata.engine is sqlite (the "
                               "worker keeps its jobs there too); it and its folder are made "
                               "when missing. Empty: streamgate.db in the state folder, which is "
                               "$STATE_DIRECTORY under systemd (/var/lib/streamgate), "
                               "/var/lib/streamgate for root, else "
                               "$XDG_STATE_HOME/streamgate or ~/.local/state/streamgate. Keep it "
                               "on a local disk (WAL mode needs one), and back it up with "
                               "'sqlite3 FILE .backup'",
                        .reload = Reload::kRestartPlugin},
                       {.path = "metadata.retry_interval",
                        .type = Type::kDuration,
                        .default_value = "2s",
                        .doc = "While PostgreSQL cannot be reached at start, how often the plugin "
                               "tries again to bring the schema up to date",
                        .min = 100,
                        .max = 300 * kSecond,
                        .reload = Reload::kRestartPlugin},
                       {.path = "metadata.max_body_size",
                        .type = Type::kSize,
                        .default_value = "64KiB",
                        .doc = "Largest body a PATCH of a video may have; larger is answered 413",
                        .min = 1024,
                        .max = int64_t{16} * 1024 * 1024,
                        .reload = Reload::kRestartPlugin},
                   }},
          },
      .also_reads = {"app.mode", "database.host", "database.port", "database.user",
                     "database.password", "database.database", "database.sslmode",
                     "database.maxconns"},
  };
}

}  // namespace sg::plugins
