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
                        .doc =
                            "TCP port of the '/metrics' listener of the monitor plugin; 0 picks a "
                            "free port. The default is not 9090, the port of grpc.port and of "
                            "Prometheus itself; an older file that sets 9090 here draws a warning "
                            "about the shared port",
                        .min = 0,
                        .max = 65535,
                        .listener = true},
                       {.path = "monitoring.jaeger_endpoint",
                        .type = Type::kUrl,
                        .default_value = "",
                        .doc =
                            "Jaeger collector URL for traces; empty disables tracing. Tracing is "
                            "not yet implemented",
                        .choices = {"http", "https"}},
                       {.path = "monitoring.log_level",
                        .type = Type::kEnum,
                        .default_value = "info",
                        .doc = "Old name for logging.level, kept so that older files load; set "
                               "logging.level instead",
                        .choices = config::kLogLevels,
                        .alias_of = "logging.level"},
                   }},
          },
      .also_reads = {"server.host"},
  };
}

}  // namespace sg::plugins
