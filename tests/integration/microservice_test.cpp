// Microservice mode on a real nats-server: api-gateway, cache and monitor as three processes.
#include <regex>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "tests/support/daemon_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/nats_server.h"

namespace sg::test {
namespace {

constexpr auto kHeartbeat = std::chrono::milliseconds(300);

// One service process, in the foreground, sharing a runtime directory with the others.
struct Service {
  Service(const std::string& service, const NatsServer& nats, const TempDir& runtime,
          uint16_t http_port = 0)
      : name(service) {
    env.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT"};
    env.env["STREAMGATE_AUTH_REQUIRED"] = "false";
    env.env["XDG_RUNTIME_DIR"] = runtime.path();
    env.env["NOTIFY_SOCKET"] = notify.path();
    env.cwd = dir.path();
    std::vector<std::string> argv = {
        SG_DAEMON_BIN,
        "--mode",
        "microservice",
        "--service",
        service,
        "--set",
        "nats.url=" + nats.Url(),
        "--set",
        "nats.heartbeat_interval=" + std::to_string(kHeartbeat.count()) + "ms",
        "--set",
        "nats.request_timeout=500ms",
        "--set",
        "nats.reconnect_wait=100ms",
        "--set",
        "server.host=127.0.0.1",
        "--set",
        "server.port=" + std::to_string(http_port),
        "--set",
        "monitoring.prometheus_port=0"};
    daemon = std::make_unique<Process>(argv, dir, env);
    REQUIRE(notify.WaitFor("READY=1", 10s));
  }
  ~Service() {
    if (daemon->Running()) {
      daemon->Signal(SIGTERM);
      daemon->Wait(30s);
    }
  }
  /// The port listener `name` bound, from `streamgate --service NAME --json status`; 0 when none.
  uint16_t ListenerPort(const std::string& listener) const {
    return test::ListenerPort(Run({SG_CLI_BIN, "--service", name, "--json", "status"}, env).out,
                              listener);
  }
  std::string name;
  TempDir dir;
  NotifySocket notify{dir.path() + "/notify"};
  SpawnOptions env;
  std::unique_ptr<Process> daemon;
};

nlohmann::json Health(uint16_t port) {
  HttpConnection c(port);
  auto r = c.Request("GET", "/api/v1/health");
  if (!r) return {};
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
}

int AliveServices(const nlohmann::json& health) {
  int alive = 0;
  for (const auto& s : health.value("services", nlohmann::json::array()))
    alive += s.value("alive", false) ? 1 : 0;
  return alive;
}

std::optional<HttpReply> CacheCall(uint16_t port, const std::string& method, const std::string& key,
                                   const std::string& body = "") {
  try {
    HttpConnection c(port);
    c.Send(method + " /api/v1/cache/" + key + " HTTP/1.1\r\nHost: x\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body);
    return c.Read(5s);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

TEST_CASE(
    "three services over NATS: cache calls, aggregated health, a lost service, a NATS restart",
    "[microservice]") {
  NatsServer nats;
  TempDir runtime;
  auto cache = std::make_unique<Service>("cache", nats, runtime);
  Service monitor("monitor", nats, runtime);
  Service gateway("api-gateway", nats, runtime);
  const uint16_t port = gateway.ListenerPort("http");
  REQUIRE(port != 0);

  // Every instance hears the others.
  REQUIRE(WaitFor([&] { return AliveServices(Health(port)) == 3; }, 10s));
  const auto healthy = Health(port);
  CHECK(healthy["status"] == "healthy");
  CHECK(healthy["mode"] == "microservice");
  CHECK(healthy["bus"] == "connected");

  // The monitor process serves its metrics in this mode too, the NATS connection among them.
  {
    HttpConnection c(monitor.ListenerPort("metrics"));
    auto metrics = c.Request("GET", "/metrics");
    REQUIRE(metrics);
    CHECK(Contains(metrics->body, "streamgate_bus_connected{state=\"connected\"} 1"));
    CHECK(Contains(metrics->body, "streamgate_build_info{version="));
    const std::string file = runtime.Write("metrics.txt", metrics->body);
    CHECK(Run({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + file}).exit_code == 0);
  }

  // The gateway's cache calls travel over NATS to the cache process.
  auto put = CacheCall(port, "PUT", "video-42", "metadata");
  REQUIRE(put);
  CHECK(put->status == 204);
  auto got = CacheCall(port, "GET", "video-42");
  REQUIRE(got);
  CHECK(got->status == 200);
  CHECK(got->body == "metadata");

  // The cache process dies: within two heartbeats the deployment is degraded, and cache calls
  // fail with a clear error instead of hanging.
  const auto killed_at = std::chrono::steady_clock::now();
  cache->daemon->Signal(SIGKILL);
  REQUIRE(cache->daemon->Wait(10s));
  REQUIRE(WaitFor([&] { return Health(port)["status"] == "degraded"; }, 5s));
  CHECK(std::chrono::steady_clock::now() - killed_at <
        2 * kHeartbeat + 1500ms);  // + the 1 s status refresh
  auto unavailable = CacheCall(port, "GET", "video-42");
  REQUIRE(unavailable);
  CHECK(unavailable->status == 503);
  CHECK(Contains(unavailable->body, "cache service"));

  // It comes back: healthy again.
  cache = std::make_unique<Service>("cache", nats, runtime);
  REQUIRE(WaitFor([&] { return Health(port)["status"] == "healthy"; }, 10s));

  // NATS restarts: nothing crashes, and a request retried within its deadline succeeds.
  nats.Stop();
  REQUIRE(WaitFor([&] { return Health(port)["bus"] != "connected"; }, 5s));
  nats.Start();
  bool stored = false;
  CHECK(WaitFor(
      [&] {
        auto r = CacheCall(port, "PUT", "after-restart", "yes");
        stored = r && r->status == 204;
        return stored;
      },
      15s));
  auto after = CacheCall(port, "GET", "after-restart");
  REQUIRE(after);
  CHECK(after->body == "yes");
  CHECK(gateway.daemon->Running());
  CHECK(monitor.daemon->Running());
  CHECK(cache->daemon->Running());
  REQUIRE(WaitFor([&] { return Health(port)["status"] == "healthy"; }, 10s));
}

// The gateway's cache API, the same checks in both modes: in process, and over NATS.
void CheckCacheApi(uint16_t port) {
  const std::string binary("\x00\x01\xff bytes", 9);
  auto put = CacheCall(port, "PUT", "k1", binary);
  REQUIRE(put);
  CHECK(put->status == 204);
  auto got = CacheCall(port, "GET", "k1");
  REQUIRE(got);
  CHECK(got->status == 200);
  CHECK(got->body == binary);
  CHECK(got->headers["Content-Type"] == "application/octet-stream");
  auto missing = CacheCall(port, "GET", "nope");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  auto del = CacheCall(port, "DELETE", "k1");
  REQUIRE(del);
  CHECK(del->status == 204);
  auto gone = CacheCall(port, "GET", "k1");
  REQUIRE(gone);
  CHECK(gone->status == 404);
  auto again = CacheCall(port, "DELETE", "k1");
  REQUIRE(again);
  CHECK(again->status == 404);
}

TEST_CASE("the cache API answers the same in monolith and microservice mode", "[microservice]") {
  SECTION("monolith") {
    RunningDaemon d;
    CheckCacheApi(d.port);
  }
  SECTION("microservice") {
    NatsServer nats;
    TempDir runtime;
    Service cache("cache", nats, runtime);
    Service gateway("api-gateway", nats, runtime);
    CheckCacheApi(gateway.ListenerPort("http"));
  }
}

TEST_CASE("the CLI lists the deployment's services and talks to one of them", "[microservice]") {
  NatsServer nats;
  TempDir runtime;
  Service cache("cache", nats, runtime);
  Service gateway("api-gateway", nats, runtime);
  SpawnOptions env;
  env.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT"};
  env.env["STREAMGATE_AUTH_REQUIRED"] = "false";
  env.env["XDG_RUNTIME_DIR"] = runtime.path();

  REQUIRE(WaitFor(
      [&] {
        const RunResult r = Run({SG_CLI_BIN, "--service", "cache", "--json", "services"}, env);
        auto j = nlohmann::json::parse(r.out, nullptr, false);
        return !j.is_discarded() && j["services"].size() == 2;
      },
      10s));
  const RunResult status = Run({SG_CLI_BIN, "--service", "cache", "--json", "status"}, env);
  const auto j = nlohmann::json::parse(status.out);
  CHECK(j["service"] == "streamgate-cache");
  CHECK(j["mode"] == "microservice");
  // The gateway's own registry fills within a heartbeat or two.
  CHECK(WaitFor(
      [&] {
        const RunResult text = Run({SG_CLI_BIN, "--service", "api-gateway", "services"}, env);
        return Contains(text.out, "cache") && Contains(text.out, "api-gateway");
      },
      10s));
}

}  // namespace sg::test
