// The real HTTP server on a free loopback port, with a route table a test fills in, and no log
// output: for tests of the server's behaviour with real clients (curl, raw sockets).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <catch2/catch.hpp>
#include <spdlog/sinks/null_sink.h>

#include "daemon/http/server.h"

namespace sg::test {

struct HttpTestServer {
  /// `tune` adjusts the settings (timeouts, threads) before the server starts.
  void Start(const std::function<void(http::ServerSettings&)>& tune = {}) {
    auto quiet =
        std::make_shared<spdlog::logger>("http", std::make_shared<spdlog::sinks::null_sink_mt>());
    server = std::make_unique<http::HttpServer>(routes, quiet, nullptr);
    auto s = std::make_shared<http::ServerSettings>();
    s->host = "127.0.0.1";
    s->port = 0;
    s->io_threads = 1;
    if (tune) tune(*s);
    REQUIRE(server->Start(s));
  }
  ~HttpTestServer() {
    if (server) server->Stop(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  }
  uint16_t port() const { return server->port(); }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port()); }

  http::RouteTable routes;
  std::unique_ptr<http::HttpServer> server;
};

}  // namespace sg::test
