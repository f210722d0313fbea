// The daemon's own configuration sections. Each plugin declares its sections in its own folder
// (daemon/plugins/NAME/NAME_config.cpp); the sections of the daemon's own parts (the
// application, plugins, logging, the control socket) are here, and those of the outside services
// it talks to (storage, NATS, the database...) in core_config_peers.cpp.
#include "config/core_config_sections.h"

namespace sg::config {

SectionSpec AppSection() {
  return {.name = "app",
          .title = "the application",
          .keys = {
              {.path = "app.name",
               .type = Type::kString,
               .default_value = "streamgate",
               .doc = "Name of this deployment, shown in logs as the prefix of the service "
                      "name",
               .min = 1,
               .max = 64,
               .reload = Reload::kRestartDaemon},
              {.path = "app.mode",
               .type = Type::kEnum,
               .default_value = "monolith",
               .doc = "monolith runs every plugin in one process; microservice runs one "
                      "service per process, the services talking over NATS (see the nats "
                      "section and MICROSERVICE MODE in streamgated(8))",
               .choices = {"monolith", "microservice"},
               .reload = Reload::kRestartDaemon},
              {.path = "app.port",
               .type = Type::kPort,
               .default_value = "8080",
               .doc = "Old name for server.port, kept so that older files load; set "
                      "server.port instead",
               .min = 0,
               .max = 65535,
               .alias_of = "server.port"},
              {.path = "app.debug",
               .type = Type::kBool,
               .default_value = "false",
               .doc = "When true and logging.level is not set in any source (nor through "
                      "monitoring.log_level), log at debug level; an explicit level always "
                      "wins"},
          }};
}

SectionSpec PluginsSection() {
  return {.name = "plugins",
          .title = "the plugins and the kernel's restart policy",
          .keys = {
              {.path = "plugins.enabled",
               .type = Type::kStringList,
               .default_value = "[]",
               .doc = "Plugins to run in monolith mode. The empty list, the default, runs "
                      "every plugin the build has. A plugin listed twice draws a warning",
               .choices = {ServiceNames().begin(), ServiceNames().end()}},

              {.path = "plugins.restart",
               .type = Type::kEnum,
               .default_value = "on-failure",
               .doc = "What the kernel does when a plugin fails (it throws, times out, or "
                      "reports a failure while running): never leaves it failed; on-failure "
                      "restarts it after plugins.restart_backoff, a delay that doubles with "
                      "each attempt up to plugins.restart_backoff_max. Plugins that depend "
                      "on a failed plugin are stopped with it and started again when it "
                      "runs again",
               .choices = {"never", "on-failure"}},
              {.path = "plugins.restart_limit",
               .type = Type::kInt,
               .default_value = "5",
               .doc = "Restarts of a failed plugin before the kernel gives up; an "
                      "operator's 'streamgate plugins start' resets the count",
               .min = 0,
               .max = 1000},
              {.path = "plugins.restart_backoff",
               .type = Type::kDuration,
               .default_value = "1s",
               .doc = "Delay before the first restart; it doubles with each further restart",
               .min = 1,
               .max = kDay},
              {.path = "plugins.restart_backoff_max",
               .type = Type::kDuration,
               .default_value = "60s",
               .doc = "Longest delay between restarts",
               .min = 1,
               .max = kDay},
          }};
}

SectionSpec LoggingSection() {
  return {.name = "logging",
          .title = "the daemon's own logs",
          .keys = {
              {.path = "logging.level",
               .type = Type::kEnum,
               .default_value = "info",
               .doc = "Lowest level logged. The streamgated(8) option '--log-level' sets it "
                      "too",
               .choices = kLogLevels},
              {.path = "logging.format",
               .type = Type::kEnum,
               .default_value = "prod",
               .doc = "dev for people, coloured on a terminal; prod, tab-separated; json, "
                      "one object a line. See streamgated(8)",
               .choices = {"dev", "prod", "json"},
               .reload = Reload::kRestartDaemon},
              {.path = "logging.file",
               .type = Type::kString,
               .default_value = "",
               .doc = "Also write logs to this file, rotated by size at logging.max_size, "
                      "keeping logging.max_files old files; empty for none",
               .reload = Reload::kRestartDaemon},
              {.path = "logging.max_size",
               .type = Type::kSize,
               .default_value = "10MiB",
               .doc = "Size at which the log file is rotated",
               .min = 4096,
               .max = 1024 * kMiB,
               .reload = Reload::kRestartDaemon},
              {.path = "logging.max_files",
               .type = Type::kInt,
               .default_value = "5",
               .doc = "Rotated log files kept",
               .min = 1,
               .max = 1000,
               .reload = Reload::kRestartDaemon},
              {.path = "logging.ring_size",
               .type = Type::kInt,
               .default_value = "10000",
               .doc = "Recent log records kept in memory, which 'streamgate logs' shows",
               .min = 16,
               .max = 1000000,
               .reload = Reload::kRestartDaemon},
          }};
}

SectionSpec ControlSection() {
  return {.name = "control",
          .title = "the operator's control socket",
          .keys = {
              {.path = "control.endpoint",
               .type = Type::kZmqEndpoint,
               .default_value = "",
               .doc = "The control socket, 'ipc://PATH' or 'tcp://HOST:PORT'; empty for "
                      "'ipc://$XDG_RUNTIME_DIR/streamgate/control.sock', or "
                      "'ipc:///run/streamgate/control.sock' for root. The directory is made "
                      "with mode 0700 and the socket with mode 0600, so that no other user "
                      "can connect. The log stream is served beside it, on 'logs.sock' in "
                      "the same directory (for a 'tcp://' endpoint, on the next port up). A "
                      "'tcp://' endpoint is served only with CURVE encryption and a list of "
                      "allowed client keys: without control.curve_server_key and "
                      "control.curve_authorized_keys the daemon refuses to start",
               .reload = Reload::kRestartDaemon},

              {.path = "control.curve_server_key",
               .type = Type::kString,
               .default_value = "",
               .doc = "A key file written by 'streamgate keys generate', for a 'tcp://' "
                      "control endpoint. The daemon needs the server's whole key pair "
                      "('server.key'); the CLI needs only its public key ('server.pub') and "
                      "reads it on each call",
               .reload = Reload::kRestartDaemon},
              {.path = "control.curve_authorized_keys",
               .type = Type::kString,
               .default_value = "",
               .doc = "A file of client public keys in Z85, one a line ('authorized_keys'); "
                      "only these clients may use a 'tcp://' control endpoint",
               .reload = Reload::kRestartDaemon},
              {.path = "control.curve_client_key",
               .type = Type::kString,
               .default_value = "",
               .doc = "The CLI's own key pair file ('client.key') for a 'tcp://' control "
                      "endpoint, read on each call"},
          }};
}

SectionSpec DaemonSection() {
  return {.name = "daemon",
          .title = "the process itself",
          .keys = {
              {.path = "daemon.shutdown_timeout",
               .type = Type::kDuration,
               .default_value = "30s",
               .doc = "Longest graceful shutdown before the daemon exits anyway",
               .min = 1,
               .max = kDay},
              {.path = "daemon.plugin_timeout",
               .type = Type::kDuration,
               .default_value = "10s",
               .doc = "Longest a plugin's init, start or reconfigure may take before it is "
                      "marked failed",
               .min = 1,
               .max = kDay,
               .reload = Reload::kRestartDaemon},
              {.path = "daemon.blocking_threads",
               .type = Type::kInt,
               .default_value = "8",
               .doc = "Threads for the plugins' blocking work (disk, a database, child "
                      "processes), apart from the HTTP I/O threads, which never block. "
                      "Their use shows in the metrics 'streamgate_blocking_busy_threads' "
                      "and 'streamgate_blocking_queue_depth'",
               .min = 1,
               .max = 256,
               .reload = Reload::kRestartDaemon},
              {.path = "daemon.blocking_queue",
               .type = Type::kInt,
               .default_value = "1024",
               .doc = "Most blocking jobs that may wait for a thread; past it, new work is "
                      "refused (a plugin answers 503) and counted in the metric "
                      "'streamgate_blocking_rejected_total'",
               .min = 1,
               .max = 1000000,
               .reload = Reload::kRestartDaemon},
              {.path = "daemon.health_timeout",
               .type = Type::kDuration,
               .default_value = "2s",
               .doc = "Longest a plugin's health check may take before it counts as "
                      "unhealthy",
               .min = 1,
               .max = 3600 * kSecond,
               .reload = Reload::kRestartDaemon},
          }};
}

ConfigDeclaration CoreConfig() {
  return {.owner = "",
          .sections = {AppSection(), GrpcSection(), ConsulSection(), DatabaseSection(),
                       StorageSection(), NatsSection(), Web3Section(), PluginsSection(),
                       LoggingSection(), ControlSection(), DaemonSection()}};
}

}  // namespace sg::config
