// The api-gateway in a real streamgated, driven by real HTTP clients (a Beast client, curl, wrk).
#include <atomic>
#include <regex>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "tests/support/daemon_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/notify_socket.h"
#include "tests/support/process.h"

namespace sg::test {
namespace {

// The gateway in a daemon of its own, on free loopback ports.
struct Gateway : RunningDaemon {
  explicit Gateway(std::vector<std::string> sets = {}, const std::string& config = "")
      : RunningDaemon(std::move(sets), config) {
    REQUIRE(port != 0);
  }
};

std::optional<HttpReply> Get(uint16_t port, const std::string& target,
                             const std::string& method = "GET", const std::string& headers = "") {
  HttpConnection c(port);
  return c.Request(method, target, headers);
}

}  // namespace

TEST_CASE("GET /health answers the seed's body, HEAD the same headers without it", "[gateway]") {
  Gateway g;

  auto health = Get(g.port, "/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(health->body == R"({"status":"healthy"})");
  CHECK(health->headers["Content-Type"] == "application/json");
  CHECK(health->headers["X-Request-ID"].size() == 16);

  HttpConnection c(g.port);
  c.Send("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  auto head = c.Read(5s, true);
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(head->headers["Content-Length"] == "20");
  // Had HEAD sent a body, this next response would be garbage.
  auto after = c.Read();
  REQUIRE(after);
  CHECK(after->body == R"({"status":"healthy"})");
}

TEST_CASE("GET /ready and /api/v1/health tell the truth about the plugins", "[gateway]") {
  Gateway g;

  auto ready = Get(g.port, "/ready");
  REQUIRE(ready);
  CHECK(ready->status == 200);
  CHECK(ready->body == R"({"status":"ready"})");

  auto details = Get(g.port, "/api/v1/health");
  REQUIRE(details);
  CHECK(details->status == 200);
  const auto j = nlohmann::json::parse(details->body);
  CHECK(j["status"] == "healthy");
  CHECK(j["version"].is_string());
  CHECK(j["mode"] == "monolith");
  CHECK(j["service"] == "streamgate-monolith");
  CHECK(j["uptime_seconds"].is_number());
  // api-gateway, cache, monitor, metadata, worker, upload, transcoder, streaming, auth: every
  // plugin of the build
  REQUIRE(j["plugins"].size() == 9);
  nlohmann::json gateway;
  for (const auto& p : j["plugins"]) {
    if (p["name"] == "api-gateway") gateway = p;
  }
  CHECK(gateway["version"] == "1.0.0");
  CHECK(gateway["state"] == "running");
  CHECK(gateway["health"] == "healthy");
  CHECK(gateway.contains("latency_ms"));
  CHECK(gateway.contains("message"));
}

TEST_CASE("curl sees 404 with the path, 405 with Allow, and its request id echoed", "[gateway]") {
  Gateway g;
  const std::string base = "http://127.0.0.1:" + std::to_string(g.port);

  const RunResult missing =
      Run({"/usr/bin/curl", "-s", "-i", "-H", "X-Request-ID: trace-42", base + "/no/such/thing"});
  CHECK(Contains(missing.out, "HTTP/1.1 404 Not Found"));
  CHECK(Contains(missing.out, R"({"error":"not found","path":"/no/such/thing"})"));
  CHECK(Contains(missing.out, "X-Request-ID: trace-42"));

  const RunResult wrong = Run({"/usr/bin/curl", "-s", "-i", "-X", "DELETE", base + "/health"});
  CHECK(Contains(wrong.out, "HTTP/1.1 405 Method Not Allowed"));
  CHECK(Contains(wrong.out, "Allow: GET, HEAD"));
}

TEST_CASE("a malformed request gets 400 and the connection is closed", "[gateway][hostile]") {
  Gateway g;
  HttpConnection c(g.port);

  c.Send("GARBAGE\r\n\r\n");

  auto reply = c.Read();
  REQUIRE(reply);
  CHECK(reply->status == 400);
  CHECK_FALSE(reply->keep_alive);
  CHECK(c.WaitClosed(5s));
}

TEST_CASE("oversized headers get 431 and oversized bodies 413", "[gateway][hostile]") {
  Gateway g({"server.max_header_bytes=2KiB", "server.max_body_bytes=1KiB"});

  auto big_header = Get(g.port, "/health", "GET", "X-Big: " + std::string(4096, 'a') + "\r\n");
  REQUIRE(big_header);
  CHECK(big_header->status == 431);

  HttpConnection c(g.port);
  c.Send("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" +
         std::string(5000, 'b'));
  auto big_body = c.Read();
  REQUIRE(big_body);
  CHECK(big_body->status == 413);
  CHECK(c.WaitClosed(5s));
}

TEST_CASE("keep-alive serves many requests on one connection, pipelined ones in order",
          "[gateway]") {
  Gateway g;
  HttpConnection c(g.port);

  for (int i = 0; i < 3; ++i) {
    auto r = c.Request("GET", "/health");
    REQUIRE(r);
    CHECK(r->keep_alive);
  }
  std::string pipelined;
  for (int i = 0; i < 10; ++i) {
    pipelined += "GET /" + std::string(i % 2 ? "health" : "nope") +
                 " HTTP/1.1\r\nHost: x\r\nX-Request-ID: req-" + std::to_string(i) + "\r\n\r\n";
  }
  c.Send(pipelined);
  for (int i = 0; i < 10; ++i) {
    auto r = c.Read();
    REQUIRE(r);
    CHECK(r->headers["X-Request-ID"] == "req-" + std::to_string(i));
    CHECK(r->status == (i % 2 ? 200u : 404u));
  }
}

TEST_CASE("a client that sends one header byte at a time is cut off at read_timeout",
          "[gateway][hostile]") {
  Gateway g({"server.read_timeout=1s"});
  HttpConnection c(g.port);
  const std::string request =
      "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + std::string(100, 'z');
  const auto start = std::chrono::steady_clock::now();

  bool closed = false;
  for (size_t i = 0; i < request.size() && !closed; ++i) {
    c.Send(request.substr(i, 1));
    closed = c.WaitClosed(200ms);  // the gap between bytes; returns early if the server hangs up
  }

  CHECK(closed);
  CHECK(std::chrono::steady_clock::now() - start < 10s);
}

TEST_CASE("1000 concurrent connections are all served", "[gateway]") {
  Gateway g;
  std::vector<std::unique_ptr<HttpConnection>> connections;
  for (int i = 0; i < 1000; ++i) connections.push_back(std::make_unique<HttpConnection>(g.port));

  for (auto& c : connections) c->Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  int ok = 0;
  for (auto& c : connections) {
    auto r = c->Read(10s);
    if (r && r->status == 200) ++ok;
  }

  CHECK(ok == 1000);
}

TEST_CASE("a graceful stop under load gives every accepted request its full response",
          "[gateway]") {
  Gateway g;
  std::atomic<bool> stop{false};
  std::atomic<int> complete{0};
  std::atomic<int> partial{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&] {
      while (!stop) {
        try {
          HttpConnection c(g.port);
          for (int i = 0; i < 1000 && !stop; ++i) {
            c.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
            auto r = c.Read(5s);
            // No reply at all: the request was never accepted (the connection was idle and closed).
            if (!r) break;
            if (r->body == R"({"status":"healthy"})" || r->status == 503) {
              ++complete;
            } else {
              ++partial;
            }
            if (!r->keep_alive) break;
          }
        } catch (const std::exception&) {
          // Connection refused once the listener is closed.
          if (stop) break;
        }
      }
    });
  }
  REQUIRE(WaitFor([&] { return complete > 2000; }, 20s));

  const RunResult stopped = g.Cli({"plugins", "stop", "api-gateway"});
  stop = true;
  for (auto& t : clients) t.join();

  CHECK(stopped.exit_code == 0);
  CHECK(partial == 0);
  CHECK(complete > 2000);
}

TEST_CASE("a restart rebinds the port at once", "[gateway]") {
  Gateway g;
  const uint16_t port = g.port;
  REQUIRE(Get(port, "/health"));

  const RunResult restarted = g.Cli({"plugins", "restart", "api-gateway"});

  CHECK(restarted.exit_code == 0);
  const uint16_t again = g.ListenerPort("http");
  auto r = Get(again, "/health");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("a reload that changes the port and timeouts applies without dropping a request",
          "[gateway]") {
  TempDir scratch;
  const uint16_t first = FreePort();
  const std::string file = scratch.Write(
      "sg.yaml", "server:\n  host: 127.0.0.1\n  port: " + std::to_string(first) + "\n");
  Gateway g({}, file);
  REQUIRE(g.port == first);
  HttpConnection held(first);  // a keep-alive connection open across the reload
  REQUIRE(held.Request("GET", "/health"));

  const uint16_t second = FreePort();
  scratch.Write("sg.yaml", "server:\n  host: 127.0.0.1\n  port: " + std::to_string(second) +
                               "\n  read_timeout: 5s\n");
  const RunResult reload = g.Cli({"--config", file, "config", "reload"});

  INFO(reload.out << reload.err);
  CHECK(reload.exit_code == 0);
  CHECK(Contains(reload.out, "plugin api-gateway: applied"));
  auto on_new = Get(second, "/health");
  REQUIRE(on_new);
  CHECK(on_new->status == 200);
  // The old connection still gets its answer, with Connection: close as its listener drains.
  auto on_old = held.Request("GET", "/health");
  REQUIRE(on_old);
  CHECK(on_old->status == 200);
  CHECK_FALSE(on_old->keep_alive);
}

}  // namespace sg::test

namespace sg::test {

TEST_CASE("a reload to a port another process holds is rejected, and the gateway keeps serving",
          "[gateway]") {
  TempDir scratch;
  const uint16_t first = FreePort();
  const std::string file = scratch.Write(
      "sg.yaml", "server:\n  host: 127.0.0.1\n  port: " + std::to_string(first) + "\n");
  Gateway g({}, file);
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor squatter(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const uint16_t taken = squatter.local_endpoint().port();

  scratch.Write("sg.yaml", "server:\n  host: 127.0.0.1\n  port: " + std::to_string(taken) + "\n");
  const RunResult reload = g.Cli({"--config", file, "config", "reload"});

  INFO(reload.out << reload.err);
  CHECK(reload.exit_code == 78);
  CHECK(Contains(reload.out, "plugin api-gateway: rejected: server.port: listen 127.0.0.1:" +
                                 std::to_string(taken)));
  auto still = Get(first, "/health");
  REQUIRE(still);
  CHECK(still->status == 200);
}

}  // namespace sg::test

namespace sg::test {

TEST_CASE("a stopped plugin's service answers 503 naming it, and serves again once started",
          "[gateway][lifecycle]") {
  Gateway g;
  HttpConnection c(g.port);
  c.Send("PUT /api/v1/cache/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nv");
  auto put = c.Read();
  REQUIRE(put);
  REQUIRE(put->status == 204);

  REQUIRE(g.Cli({"plugins", "stop", "cache"}).exit_code == 0);
  auto stopped = Get(g.port, "/api/v1/cache/k");
  REQUIRE(stopped);
  CHECK(stopped->status == 503);
  CHECK(Contains(stopped->body, "plugin 'cache' is not running"));
  CHECK(Contains(stopped->body, "streamgate plugins start cache"));

  REQUIRE(g.Cli({"plugins", "start", "cache"}).exit_code == 0);
  auto started = Get(g.port, "/api/v1/cache/k");
  REQUIRE(started);
  CHECK(started->status == 200);
}

}  // namespace sg::test
