// The Redis cache against a real redis-server on loopback, stopped and restarted mid-test.
#include <catch2/catch.hpp>
#include <signal.h>

#include "daemon/plugins/cache/memory_cache.h"
#include "daemon/plugins/cache/redis_cache.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"

namespace sg::test {
namespace {

plugins::RedisCacheOptions Options(uint16_t port) {
  plugins::RedisCacheOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.pool_size = 4;
  o.timeout = std::chrono::milliseconds(300);
  o.key_prefix = "sgtest:";
  return o;
}

}  // namespace

TEST_CASE("the redis cache sets, gets, expires and deletes on a real server", "[redis]") {
  RedisServer redis;
  plugins::RedisCache cache(Options(redis.port));

  REQUIRE(cache.Set("a", "1", std::chrono::milliseconds(60000)));
  CHECK(cache.Get("a").value() == std::optional<std::string>("1"));
  CHECK_FALSE(cache.Get("missing").value().has_value());
  REQUIRE(cache.Set("short", "x", std::chrono::milliseconds(50)));
  CHECK(WaitFor([&] { return !cache.Get("short").value().has_value(); }, 5s));
  CHECK(cache.Delete("a").value());
  CHECK_FALSE(cache.Get("a").value().has_value());
  const std::string binary("\0\x01\xff value", 10);
  REQUIRE(cache.Set("bin", binary));
  CHECK(cache.Get("bin").value() == std::optional<std::string>(binary));
}

TEST_CASE("with redis down calls fail clearly and fast, then reconnect when it returns",
          "[redis]") {
  RedisServer redis;
  plugins::RedisCache cache(Options(redis.port));
  REQUIRE(cache.Set("k", "v"));

  redis.Stop();
  const auto start = std::chrono::steady_clock::now();
  auto down = cache.Get("k");
  REQUIRE_FALSE(down.has_value());
  CHECK((down.error().code == ErrorCode::kUnavailable || down.error().code == ErrorCode::kTimeout));
  CHECK_THAT(down.error().message,
             Catch::Contains("redis 127.0.0.1:" + std::to_string(redis.port)));
  for (int i = 0; i < 20; ++i) CHECK_FALSE(cache.Get("k").has_value());
  CHECK(std::chrono::steady_clock::now() - start < 10s);
  CHECK_FALSE(cache.Ping().has_value());

  redis.Start();

  CHECK(WaitFor([&] { return cache.Ping().has_value(); }, 10s));
  REQUIRE(cache.Set("k", "again"));
  CHECK(cache.Get("k").value() == std::optional<std::string>("again"));
  CHECK(cache.Stats().errors > 0);
}

TEST_CASE("with a local fallback the cache answers while redis is away", "[redis]") {
  RedisServer redis;
  auto options = Options(redis.port);
  plugins::MemoryCacheOptions local;
  options.fallback = std::make_shared<plugins::MemoryCache>(local);
  plugins::RedisCache cache(options);

  redis.Stop();
  REQUIRE(cache.Set("k", "local"));

  CHECK(cache.Get("k").value() == std::optional<std::string>("local"));
}

TEST_CASE("concurrent misses load once through redis too", "[redis]") {
  RedisServer redis;
  plugins::RedisCache cache(Options(redis.port));
  std::atomic<int> loads{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto v = cache.GetOrLoad("once", [&]() -> Result<std::string> {
        ++loads;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        return std::string("loaded");
      });
      CHECK(v.value() == "loaded");
    });
  }
  for (auto& t : threads) t.join();
  CHECK(loads == 1);
}

}  // namespace sg::test

#include "tests/support/daemon_fixture.h"

namespace sg::test {

TEST_CASE("the daemon's cache on redis turns degraded while redis is down, then healthy",
          "[redis]") {
  RedisServer redis;
  RunningDaemon d({"cache.backend=redis", "redis.host=127.0.0.1",
                   "redis.port=" + std::to_string(redis.port), "redis.timeout=300ms"});
  REQUIRE(d.Cli({"health"}).exit_code == 0);

  redis.Stop();
  REQUIRE(WaitFor([&] { return d.Cli({"health"}).exit_code == 1; }, 15s));
  const RunResult degraded = d.Cli({"health"});
  CHECK(Contains(degraded.out, "cache"));
  CHECK(Contains(degraded.out, "redis 127.0.0.1:" + std::to_string(redis.port)));

  redis.Start();
  CHECK(WaitFor([&] { return d.Cli({"health"}).exit_code == 0; }, 15s));
  CHECK(d.daemon->Running());
}

}  // namespace sg::test
