#include "daemon/plugins/cache/cache_plugin.h"

#include <catch2/catch.hpp>

#include "daemon/plugin_api/cache.h"
#include "daemon/plugin_api/cache_rpc.h"
#include "tests/support/fake_plugin_context.h"

namespace sg::plugins {

TEST_CASE("the cache plugin offers the cache service and its metrics", "[plugins][cache]") {
  test::FakePluginContext f({"cache.backend=memory"});
  auto plugin = MakeCache();

  REQUIRE(plugin->Init(f.context).has_value());
  REQUIRE(plugin->Start().has_value());
  auto cache = f.services.Find<Cache>("cache");
  REQUIRE(cache.has_value());
  REQUIRE((*cache)->Set("k", "v").has_value());
  auto got = (*cache)->Get("k");

  REQUIRE(got.has_value());
  CHECK(got->value_or("") == "v");
  const auto families = f.Families();
  CHECK(std::find(families.begin(), families.end(), "streamgate_cache_hits_total") !=
        families.end());
  CHECK(plugin->CheckHealth().status == HealthStatus::kHealthy);
}

TEST_CASE(
    "the cache plugin serves over the bus in microservice mode, and stops serving when "
    "stopped",
    "[plugins][cache]") {
  test::FakePluginContext f({"app.mode=microservice", "cache.backend=memory"});
  auto plugin = MakeCache();
  REQUIRE(plugin->Init(f.context).has_value());

  REQUIRE(plugin->Start().has_value());
  CHECK(f.bus.Subscriptions() == 1);
  plugin->Stop(Clock::now());

  CHECK(f.bus.Subscriptions() == 0);
}

}  // namespace sg::plugins
