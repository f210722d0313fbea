// What the HTTP server is configured with: the server.* keys, read by the api-gateway.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace sg::http {

struct ServerSettings {
  std::string host = "0.0.0.0";                    // server.host
  uint16_t port = 8080;                            // server.port; 0 picks a free port
  int io_threads = 0;                              // server.io_threads; 0 for one per core
  std::chrono::milliseconds read_timeout{30000};   // server.read_timeout: one whole request
  std::chrono::milliseconds write_timeout{30000};  // server.write_timeout: one whole response
  std::chrono::milliseconds idle_timeout{60000};   // server.idle_timeout: between requests
  size_t max_header_bytes = 16 * 1024;  // server.max_header_bytes: headers and trailers; 431
  size_t max_header_fields = 100;       // server.max_header_fields: past it, 431
  size_t max_body_bytes = 10 * 1024 * 1024;  // server.max_body_bytes: past it, 413
  size_t max_connections = 10000;            // server.max_connections
  bool access_log = true;                    // server.access_log
};

}  // namespace sg::http
