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
                        .doc = "Address the HTTP listener binds: '0.0.0.0' for every IPv4 address, "
                               "'::' for IPv6 too"},
                       {.path = "server.port",
                        .type = Type::kPort,
                        .default_value = "8080",
                        .doc = "TCP port of the HTTP listener; 0 picks a free port, which "
                               "'streamgate status' shows. A port that another process already "
                               "listens on is refused: the api-gateway plugin fails to start with "
                               "'Address already in use' instead of sharing the port. In "
                               "microservice mode the services behind the gateway (upload, "
                               "streaming, metadata, auth) listen on a free port unless this key "
                               "is set: they announce their address in their heartbeats and the "
                               "api-gateway service proxies their routes",
                        .min = 0,
                        .max = 65535,
                        .listener = true},
                       {.path = "server.read_timeout",
                        .type = Type::kDuration,
                        .default_value = "30s",
                        .doc = "Longest time to read one request, headers and body",
                        .min = 1,
                        .max = kDay},
                       {.path = "server.write_timeout",
                        .type = Type::kDuration,
                        .default_value = "30s",
                        .doc = "Longest time to write one response",
                        .min = 1,
                        .max = kDay},
                       {.path = "server.idle_timeout",
                        .type = Type::kDuration,
                        .default_value = "60s",
                        .doc =
                            "Longest a keep-alive connection may wait for its next request before "
                            "it is closed",
                        .min = 1,
                        .max = kDay},
                       {.path = "server.io_threads",
                        .type = Type::kInt,
                        .default_value = "0",
                        .doc =
                            "HTTP I/O threads; 0 for one per core. Each has its own listener on "
                            "the same port ('SO_REUSEPORT'), so the kernel spreads connections "
                            "without a shared lock. Before it opens them, the daemon checks with "
                            "a plain bind that no other process holds the port, so that two "
                            "daemons never share it",
                        .min = 0,
                        .max = 256},
                       {.path = "server.max_header_bytes",
                        .type = Type::kSize,
                        .default_value = "16KiB",
                        .doc =
                            "Largest request line, header section and trailer section (the fields "
                            "after a chunked body) together; a larger request gets '431 Request "
                            "Header Fields Too Large' and the connection is closed. Trailer "
                            "fields are counted, then dropped: no handler sees them. At most "
                            "60KiB, since the HTTP library stores no field larger than 64KiB",
                        .min = 1024,
                        .max = 60 * 1024},
                       {.path = "server.max_header_fields",
                        .type = Type::kInt,
                        .default_value = "100",
                        .doc =
                            "Most header and trailer fields in one request; more get '431 Request "
                            "Header Fields Too Large'",
                        .min = 1,
                        .max = 10000},
                       {.path = "server.max_body_bytes",
                        .type = Type::kSize,
                        .default_value = "10MiB",
                        .doc =
                            "Largest request body; a larger request gets '413 Payload Too Large' "
                            "and the connection is closed. A route may set a limit of its own",
                        .min = 0,
                        .max = int64_t{64} * 1024 * kMiB},
                       {.path = "server.max_connections",
                        .type = Type::kInt,
                        .default_value = "10000",
                        .doc =
                            "Most open HTTP connections; past it, new connections are closed at "
                            "once. The daemon raises its open-file limit to the hard limit at "
                            "startup, and keeps 512 descriptors of it back from HTTP for the "
                            "control socket, the log stream, files and connections to other "
                            "servers, and under a limit of 4096 or more an eighth of it (at most "
                            "8192) for the cache's files (cache.max_bytes): HTTP serves at most "
                            "the limit less these (at least a quarter of the limit), whatever "
                            "this key says. When that is less than this "
                            "key, the daemon says so at startup ('server.max_connections is more "
                            "than the descriptor limit leaves room for') with the 'LimitNOFILE=' "
                            "or 'ulimit -n' value that would serve it; the metric "
                            "'streamgate_http_connection_limit' shows the limit in force",
                        .min = 1,
                        .max = 1000000},
                       {.path = "server.access_log",
                        .type = Type::kBool,
                        .default_value = "true",
                        .doc =
                            "Log every request as component access: method, path, status, bytes, "
                            "duration and request id, to logging.file (else stderr) but not to "
                            "the records streamgate logs shows. Each I/O thread buffers its "
                            "lines (64 KiB) and a background thread writes them at least every "
                            "half second. streamgate log-level access warn turns it off while "
                            "running"},
                       {.path = "server.web_root",
                        .type = Type::kString,
                        .default_value = "",
                        .doc =
                            "Folder of the web page served at '/' (index.html, not cached) and "
                            "'/assets/NAME' (content-hashed files, cached for a year): what the "
                            "build lays out in share/streamgate/web. Empty: share/streamgate/web "
                            "beside the folder of the streamgated binary (a build tree or an "
                            "installed prefix), then the one 'cmake --install' wrote. The folder "
                            "is read when the plugin starts or this key changes; only the files "
                            "it held then are served. Without a page, '/' answers 404 saying so "
                            "and the daemon logs one warning"},
                   }},
          },
  };
}

}  // namespace sg::plugins
