// Cache throughput: the in-process cache, and the Redis-backed cache beside redis-benchmark's
// own figure against the same redis-server, in one run.
//
//   bench_cache [SECONDS_PER_RUN]   (starts its own redis-server on a free loopback port)
#include <atomic>
#include <cstdio>
#include <regex>
#include <thread>
#include <vector>

#include <signal.h>

#include "daemon/plugins/cache/memory_cache.h"
#include "daemon/plugins/cache/redis_cache.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace {

using Clock = std::chrono::steady_clock;

// Runs `op(thread, i)` on `threads` threads for `seconds`; returns operations per second.
template <typename Op>
double Throughput(int threads, double seconds, Op op) {
  std::atomic<uint64_t> total{0};
  std::vector<std::thread> workers;
  const auto start = Clock::now();
  const auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      // Each worker runs until the deadline, checking the clock every 256 operations.
      uint64_t n = 0;
      while ((n & 255) != 0 || Clock::now() < deadline) {
        op(t, n);
        ++n;
      }
      total += n;
    });
  }
  for (auto& w : workers) w.join();
  return static_cast<double>(total) / std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  const std::string value(100, 'v');

  sg::plugins::MemoryCacheOptions memory;
  sg::plugins::MemoryCache local(memory);
  for (int i = 0; i < 10000; ++i) (void)local.Set("k" + std::to_string(i), value);
  const double mem_get = Throughput(
      2, seconds, [&](int, uint64_t n) { (void)local.Get("k" + std::to_string(n % 10000)); });
  const double mem_set = Throughput(2, seconds, [&](int t, uint64_t n) {
    (void)local.Set("k" + std::to_string((n * 2 + static_cast<uint64_t>(t)) % 10000), value);
  });

  sg::test::TempDir dir;
  const uint16_t port = sg::test::FreePort();
  sg::test::Process redis({"/usr/bin/redis-server", "--port", std::to_string(port), "--bind",
                           "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir.path()},
                          dir);
  sg::test::WaitForPort(port, std::chrono::seconds(10));
  sg::plugins::RedisCacheOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  options.pool_size = 16;
  sg::plugins::RedisCache remote(options);
  for (int i = 0; i < 1000; ++i) (void)remote.Set("k" + std::to_string(i), value);
  const double redis_get = Throughput(
      16, seconds, [&](int, uint64_t n) { (void)remote.Get("k" + std::to_string(n % 1000)); });
  const double redis_set = Throughput(16, seconds, [&](int t, uint64_t n) {
    (void)remote.Set("k" + std::to_string((n * 16 + static_cast<uint64_t>(t)) % 1000), value);
  });

  const sg::test::RunResult reference =
      sg::test::Run({"/usr/bin/redis-benchmark", "-h", "127.0.0.1", "-p", std::to_string(port),
                     "-t", "set,get", "-n", "200000", "-c", "16", "-d", "100", "-q"});
  // Its final lines read "SET: 90909.09 requests per second, ...", after progress lines.
  auto figure = [&](const std::string& test) {
    std::smatch m;
    const std::regex line(test + ": ([0-9.]+) requests per second");
    return std::regex_search(reference.out, m, line) ? std::stod(m[1]) : 0.0;
  };
  const double ref_set = figure("SET");
  const double ref_get = figure("GET");
  redis.Signal(SIGTERM);
  redis.Wait(std::chrono::seconds(10));

  std::printf("cache throughput, 100-byte values (2 cores)\n");
  std::printf("  in-process  get  %10.0f ops/s  (2 threads)\n", mem_get);
  std::printf("  in-process  set  %10.0f ops/s  (2 threads)\n", mem_set);
  std::printf(
      "  redis cache get  %10.0f ops/s  (16 threads, pool 16)   redis-benchmark -c16: %10.0f   "
      "ratio %.2f\n",
      redis_get, ref_get, ref_get > 0 ? redis_get / ref_get : 0);
  std::printf(
      "  redis cache set  %10.0f ops/s  (16 threads, pool 16)   redis-benchmark -c16: %10.0f   "
      "ratio %.2f\n",
      redis_set, ref_set, ref_set > 0 ? redis_set / ref_set : 0);
  return 0;
}
