#include "daemon/plugins/cache/memory_cache.h"

#include <atomic>
#include <filesystem>
#include <latch>
#include <thread>

#include <catch2/catch.hpp>
#include <unistd.h>

namespace sg::plugins {
namespace {

using namespace std::chrono_literals;

// A clock the test moves by hand.
struct FakeClock {
  std::atomic<int64_t> ms{0};
  std::function<std::chrono::steady_clock::time_point()> Fn() {
    return [this] {
      return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms.load()));
    };
  }
};

MemoryCacheOptions Options(size_t max_bytes, size_t shards, FakeClock* clock = nullptr) {
  MemoryCacheOptions o;
  o.max_bytes = max_bytes;
  o.shards = shards;
  o.default_ttl = 10s;
  if (clock != nullptr) o.now = clock->Fn();
  return o;
}

}  // namespace

TEST_CASE("the cache returns what was set, and misses what was not", "[cache]") {
  MemoryCache cache(Options(1 << 20, 4));

  REQUIRE(cache.Set("a", "1"));

  CHECK(cache.Get("a").value() == std::optional<std::string>("1"));
  CHECK_FALSE(cache.Get("b").value().has_value());
  CHECK(cache.Delete("a").value());
  CHECK_FALSE(cache.Delete("a").value());
  CHECK_FALSE(cache.Get("a").value().has_value());
  const CacheStats s = cache.Stats();
  CHECK(s.hits == 1);
  CHECK(s.misses == 2);
  CHECK(s.entries == 0);
}

TEST_CASE("entries expire after their TTL", "[cache]") {
  FakeClock clock;
  MemoryCache cache(Options(1 << 20, 1, &clock));
  REQUIRE(cache.Set("short", "x", 100ms));
  REQUIRE(cache.Set("default", "y"));

  clock.ms = 99;
  CHECK(cache.Get("short").value().has_value());
  clock.ms = 100;
  CHECK_FALSE(cache.Get("short").value().has_value());
  CHECK(cache.Get("default").value().has_value());
  clock.ms = 10000;
  CHECK_FALSE(cache.Get("default").value().has_value());
  CHECK(cache.Stats().expirations == 2);
}

TEST_CASE("Peek shares the stored value without a copy, outlives its eviction, and expires",
          "[cache]") {
  FakeClock clock;
  MemoryCache cache(Options(1 << 20, 1, &clock));
  REQUIRE(cache.Set("k", std::string(1000, 'v'), 100ms));
  auto first = cache.Peek("k");
  REQUIRE(first != nullptr);
  CHECK(first->view() == std::string(1000, 'v'));
  CHECK(first->fd() == -1);                     // small: in memory
  CHECK(cache.Peek("k").get() == first.get());  // the same bytes, not a copy
  REQUIRE(cache.Delete("k").value());
  CHECK(first->view() == std::string(1000, 'v'));  // a reader keeps what it was given
  CHECK(cache.Peek("k") == nullptr);
  REQUIRE(cache.Set("k", "again", 100ms));
  clock.ms = 100;
  CHECK(cache.Peek("k") == nullptr);
  const CacheStats s = cache.Stats();
  CHECK(s.hits == 2);
  CHECK(s.misses == 2);
  CHECK(s.expirations == 1);
}

TEST_CASE("the least recently used entry goes first when the budget is full", "[cache]") {
  // One shard of room for three entries of 1 + 35 + 64 = 100 bytes.
  MemoryCache cache(Options(300, 1));
  const std::string value(35, 'v');
  REQUIRE(cache.Set("a", value));
  REQUIRE(cache.Set("b", value));
  REQUIRE(cache.Set("c", value));
  REQUIRE(cache.Get("a").value().has_value());  // a is now the most recent

  REQUIRE(cache.Set("d", value));

  CHECK(cache.Get("a").value().has_value());
  CHECK_FALSE(cache.Get("b").value().has_value());
  CHECK(cache.Get("c").value().has_value());
  CHECK(cache.Get("d").value().has_value());
  CHECK(cache.Stats().evictions == 1);
  CHECK(cache.Stats().bytes <= 300);
}

TEST_CASE("replacing a value keeps the byte count right; a too large entry is refused", "[cache]") {
  MemoryCache cache(Options(1000, 1));
  REQUIRE(cache.Set("k", std::string(100, 'a')));
  REQUIRE(cache.Set("k", std::string(10, 'b')));

  CHECK(cache.Stats().bytes == 1 + 10 + MemoryCache::kEntryOverhead);
  CHECK(cache.Stats().entries == 1);
  auto big = cache.Set("huge", std::string(5000, 'c'));
  REQUIRE_FALSE(big.has_value());
  CHECK(big.error().code == ErrorCode::kInvalidArgument);
}

TEST_CASE("concurrent misses on one key load it once", "[cache]") {
  MemoryCache cache(Options(1 << 20, 8));
  std::atomic<int> loads{0};
  std::vector<std::thread> threads;
  std::vector<std::string> results(16);
  // The load ends only once every thread is about to ask: each one asks while it runs (and
  // waits for it) or after it (and finds the value), so exactly one load, with no sleep.
  std::latch arrived(static_cast<std::ptrdiff_t>(results.size()));

  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      arrived.count_down();
      auto v = cache.GetOrLoad("video:42", [&]() -> Result<std::string> {
        ++loads;
        arrived.wait();
        return std::string("metadata");
      });
      results[i] = v ? *v : "error";
    });
  }
  for (auto& t : threads) t.join();

  CHECK(loads == 1);
  for (const auto& r : results) CHECK(r == "metadata");
  CHECK(cache.Get("video:42").value() == std::optional<std::string>("metadata"));
}

TEST_CASE("a failed load is shared by its waiters and not cached", "[cache]") {
  MemoryCache cache(Options(1 << 20, 1));
  int calls = 0;

  auto first = cache.GetOrLoad("k", [&]() -> Result<std::string> {
    ++calls;
    return Fail(ErrorCode::kUnavailable, "origin down");
  });
  auto second = cache.GetOrLoad("k", [&]() -> Result<std::string> {
    ++calls;
    return std::string("back");
  });

  REQUIRE_FALSE(first.has_value());
  CHECK(first.error().message == "origin down");
  CHECK(second.value() == "back");
  CHECK(calls == 2);
}

TEST_CASE("many threads setting and getting stay within budget and consistent", "[cache]") {
  MemoryCache cache(Options(size_t{64} * 1024, 8));
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        const std::string key = "k" + std::to_string((i * 7 + t) % 500);
        if (i % 3 == 0) {
          (void)cache.Set(key, std::string(static_cast<size_t>(i % 200), 'x'));
        } else if (i % 3 == 1) {
          (void)cache.Get(key);
        } else {
          (void)cache.Delete(key);
        }
      }
    });
  }
  for (auto& t : threads) t.join();

  const CacheStats s = cache.Stats();
  CHECK(s.bytes <= uint64_t{64} * 1024);
  CHECK(s.hits + s.misses > 0);
}

TEST_CASE("a large value is kept in a file of its own that Get and Peek read alike", "[cache]") {
  char dir_template[] = "/tmp/sg-cache-test.XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template;
  const bool unnamed = GENERATE(true, false);  // an unnamed file in a folder, or a memfd
  MemoryCacheOptions options = Options(8 << 20, 1);
  if (unnamed) options.file_dir = dir;
  MemoryCache cache(options);
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 % 251);
  REQUIRE(cache.Set("big", big, 1h));
  auto held = cache.Peek("big");
  REQUIRE(held != nullptr);
  CHECK(held->view() == big);
  CHECK(cache.Get("big").value().value() == big);
  if (sg::SharedBytes::LiveFiles() > 0) {  // none under a descriptor limit below 4096
    REQUIRE(held->fd() >= 0);
    // What sendfile would send from the descriptor is what a reader sees, and nobody can
    // change it: the memfd is sealed.
    std::string back(big.size(), '\0');
    CHECK(::pread(held->fd(), back.data(), back.size(), 0) == static_cast<ssize_t>(back.size()));
    CHECK(back == big);
    if (!unnamed) {  // sealed
      CHECK(::pwrite(held->fd(), "x", 1, 0) == -1);
      CHECK(::ftruncate(held->fd(), 1) == -1);
    }
    const std::string target =
        std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(held->fd())).string();
    CHECK(target.find(unnamed ? dir : "memfd:streamgate-cache") != std::string::npos);
    CHECK(held->OffsetOf(held->view().substr(4096, 10)) == 4096);
  }
  const uint64_t live = sg::SharedBytes::LiveFiles();
  REQUIRE(cache.Delete("big").value());
  CHECK(sg::SharedBytes::LiveFiles() == live);  // the reader still holds it
  held.reset();
  CHECK(sg::SharedBytes::LiveFiles() == (live > 0 ? live - 1 : 0));
  CHECK(std::filesystem::is_empty(dir));  // unnamed: nothing to clean up
  std::filesystem::remove(dir);
}

}  // namespace sg::plugins
