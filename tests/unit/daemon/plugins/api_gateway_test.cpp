#include "daemon/plugins/api_gateway/api_gateway.h"

#include <catch2/catch.hpp>

#include "daemon/plugins/cache/cache_plugin.h"
#include "tests/support/fake_plugin_context.h"

namespace sg::plugins {
namespace {

using test::FakePluginContext;

struct Gateway {
  explicit Gateway(std::vector<std::string> overrides = {"server.port=0"}) : f(overrides) {
    REQUIRE(plugin->Init(f.context).has_value());
    listener = f.listeners->Get("http");
    REQUIRE(listener != nullptr);
  }
  FakePluginContext f;
  std::unique_ptr<Plugin> plugin = MakeApiGateway();
  test::FakeListener* listener = nullptr;
};

}  // namespace

TEST_CASE("the gateway opens its listener through the plugin API and serves health",
          "[plugins][gateway]") {
  Gateway g;

  REQUIRE(g.plugin->Start().has_value());
  g.f.view->status.overall = HealthStatus::kDegraded;

  CHECK(g.listener->spec.config_key == "server.port");
  CHECK(g.listener->running());
  const HttpResponse health = g.listener->routes.Call("GET", "/health");
  CHECK(health.status == 503);
  CHECK(health.body == R"({"status":"degraded"})");
  CHECK(g.f.services.Find<Router>("http.router").has_value());
  CHECK(g.f.services.Find<HttpStats>("http.stats").has_value());

  g.plugin->Stop(Clock::now());
  CHECK_FALSE(g.listener->running());
  CHECK(g.plugin->CheckHealth().status == HealthStatus::kUnhealthy);
}

TEST_CASE("the gateway's cache routes answer 503 without a cache and serve with one",
          "[plugins][gateway]") {
  Gateway g;
  REQUIRE(g.plugin->Start().has_value());

  CHECK(g.listener->routes.Call("GET", "/api/v1/cache/k").status == 503);

  auto cache = MakeCache();
  REQUIRE(cache->Init(g.f.context).has_value());
  CHECK(g.listener->routes.Call("PUT", "/api/v1/cache/k", "v").status == 204);
  const HttpResponse got = g.listener->routes.Call("GET", "/api/v1/cache/k");
  CHECK(got.status == 200);
  CHECK(got.body == "v");
  CHECK(g.listener->routes.Call("GET", "/api/v1/cache/missing").status == 404);
}

TEST_CASE("the gateway refuses a reload to a taken address, naming the key", "[plugins][gateway]") {
  Gateway g;
  g.listener->taken_port = 8089;
  FakePluginContext next({"server.port=8089"});

  auto checked = g.plugin->CheckConfig(*next.config);

  REQUIRE_FALSE(checked.has_value());
  CHECK(checked.error().message.find("server.port") != std::string::npos);
  FakePluginContext fine({"server.port=8090"});
  REQUIRE(g.plugin->Reconfigure(fine.config).has_value());
  CHECK(g.listener->settings().port == 8090);
}

TEST_CASE("the gateway's request metrics come from its listener", "[plugins][gateway]") {
  Gateway g;

  const auto families = g.f.Families();

  CHECK(std::find(families.begin(), families.end(), "streamgate_http_open_connections") !=
        families.end());
  CHECK(std::find(families.begin(), families.end(), "streamgate_http_connection_limit") !=
        families.end());
}

}  // namespace sg::plugins
