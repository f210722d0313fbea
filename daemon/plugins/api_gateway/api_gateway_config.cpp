#include "daemon/plugins/api_gateway/api_gateway_config.h"

namespace sg::plugins {

using config::kDay;
using config::kMiB;
using config::Type;

config::ConfigDeclaration ApiGatewayConfig() {
  return {
      .owner = "api-gateway",
      .sections =
          {
              {.name = "server",
               .title = "the HTTP listener of the api-gateway plugin",
               .keys =
                   {
                       {.path = "server.host",
                        .type = Type::kHost,
                        .default_value = "0.0.0.0",
                        .doc = "Address the HTTP listener binds; 0.0.0.0 for every IPv4 address, "
                               ":: for IPv6 too"},
                       {.path = "server.port",
                        .type = Type::kPort,
                        .default_value = "8080",
                        .doc = "TCP port of the HTTP listener; 0 picks a free port",
                        .min = 0,
                        .max = 65535,
                        .listener = true},
                       {.path = "server.read_timeout",
                        .type = Type::kDuration,
                        .default_value = "30",
                        .doc = "Longest time to read one request, headers and body",
                        .min = 1,
                        .max = kDay},
                       {.path = "server.write_timeout",
                        .type = Type::kDuration,
                        .default_value = "30",
                        .doc = "Longest time to write one response",
                        .min = 1,
                        .max = kDay},
                       {.path = "server.idle_timeout",
                        .type = Type::kDuration,
                        .default_value = "60",
                        .doc = "Longest a keep-alive connection may wait idle for its next request",
                        .min = 1,
                        .max = kDay},
                       {.path = "server.io_threads",
                        .type = Type::kInt,
                        .default_value = "0",
                        .doc = "HTTP I/O threads, each with its own listener; 0 for one per core",
                        .min = 0,
                        .max = 256},
                       {.path = "server.max_header_bytes",
                        .type = Type::kSize,
                        .default_value = "16KiB",
                        .doc = "Largest request line, header section and trailer section together; "
                               "larger "
                               "requests get 431. At most 60KiB, the largest field Beast stores",
                        .min = 1024,
                        .max = 60 * 1024},
                       {.path = "server.max_header_fields",
                        .type = Type::kInt,
                        .default_value = "100",
                        .doc = "Most header and trailer fields in one request; more get 431",
                        .min = 1,
                        .max = 10000},
                       {.path = "server.max_body_bytes",
                        .type = Type::kSize,
                        .default_value = "10MiB",
                        .doc = "Largest request body; larger requests get 413",
                        .min = 0,
                        .max = int64_t{64} * 1024 * kMiB},
                       {.path = "server.max_connections",
                        .type = Type::kInt,
                        .default_value = "10000",
                        .doc = "Most open HTTP connections; past it, new ones are closed at once",
                        .min = 1,
                        .max = 1000000},
                       {.path = "server.access_log",
                        .type = Type::kBool,
                        .default_value = "true",
                        .doc = "Log every request (method, path, status, bytes, duration, request "
                               "id) as component "
                               "access"},
                   }},
          },
  };
}

}  // namespace sg::plugins
