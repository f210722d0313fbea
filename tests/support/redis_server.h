// A private redis-server for tests: loopback only, no persistence, its own port; stopped (SIGKILL)
// and started again on the same port when a test needs Redis to go away and come back.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <signal.h>

#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace sg::test {

struct RedisServer {
  RedisServer() : port(FreePort()) { Start(); }
  void Start() {
    server = std::make_unique<Process>(
        std::vector<std::string>{"/usr/bin/redis-server", "--port", std::to_string(port), "--bind",
                                 "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
                                 dir.path()},
        dir);
    REQUIRE(WaitForPort(port, std::chrono::seconds(10)));
  }
  void Stop() {
    server->Signal(SIGKILL);
    server->Wait(std::chrono::seconds(10));
  }
  TempDir dir;
  uint16_t port;
  std::unique_ptr<Process> server;
};

}  // namespace sg::test
