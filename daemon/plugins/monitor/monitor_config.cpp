#include "daemon/plugins/monitor/monitor_config.h"

namespace sg::plugins {

using config::Type;

config::ConfigDeclaration MonitorConfig() {
  return {
      .owner = "monitor",
      .sections =
          {
              {.name = "monitoring",
               .title = "the monitor plugin",
               .keys =
                   {
                       {.path = "monitoring.prometheus_port",
                        .type = Type::kPort,
                        .default_value = "9100",
                        .doc = "TCP port of the monitor plugin's /metrics listener; 0 picks a free "
                               "port",
                        .min = 0,
                        .max = 65535,
                        .listener = true},
                       {.path = "monitoring.jaeger_endpoint",
                        .type = Type::kUrl,
                        .default_value = "",
                        .doc = "Jaeger collector URL for traces; empty disables tracing (not yet "
                               "implemented)",
                        .choices = {"http", "https"}},
                       {.path = "monitoring.log_level",
                        .type = Type::kEnum,
                        .default_value = "info",
                        .doc = "Old name for logging.level, kept for the seed's files",
                        .choices = config::kLogLevels,
                        .alias_of = "logging.level"},
                   }},
          },
      .also_reads = {"server.host"},
  };
}

}  // namespace sg::plugins
