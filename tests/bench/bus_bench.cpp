// Bus figures side by side: publish-to-deliver latency and throughput for the memory bus, for
// NATS within one process, and for NATS between two processes.
//
//   bench_bus [MESSAGES]          starts its own nats-server on a free loopback port
//   bench_bus --receiver URL N    (internal) the second process
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "common/logging.h"
#include "daemon/bus/memory_bus.h"
#include "daemon/bus/nats_bus.h"
#include "tests/support/bench_stats.h"
#include "tests/support/http_client.h"
#include "tests/support/nats_server.h"
#include "tests/support/process.h"

namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Collects latencies until `expected` messages arrived.
struct Receiver {
  explicit Receiver(size_t count) : expected(count) { latencies.reserve(count); }
  void On(const sg::Message& m) {
    const int64_t sent = std::stoll(m.data.substr(0, m.data.find(' ')));
    std::lock_guard lock(mu);
    latencies.push_back(static_cast<double>(NowNs() - sent) / 1000.0);
    if (latencies.size() >= expected) cv.notify_all();
  }
  bool Wait(std::chrono::seconds timeout) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, [&] { return latencies.size() >= expected; });
  }
  size_t expected;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<double> latencies;  // microseconds
};

struct Figures {
  double p50_us = 0, p99_us = 0, msgs_per_s = 0;
  size_t received = 0;
};

Figures Summarize(std::vector<double> lat, double seconds) {
  Figures f;
  f.received = lat.size();
  if (lat.empty()) return f;
  f.p50_us = sg::test::Percentile(lat, 0.5);
  f.p99_us = sg::test::Percentile(lat, 0.99);
  f.msgs_per_s = static_cast<double>(lat.size()) / seconds;
  return f;
}

// Publishes `n` messages (timestamp plus 100 bytes) and measures how long until all arrived.
Figures Run(sg::Bus& publisher, Receiver& receiver, size_t n) {
  const std::string pad(100, 'x');
  const auto start = Clock::now();
  for (size_t i = 0; i < n; ++i)
    (void)publisher.Publish("bench.msg", std::to_string(NowNs()) + " " + pad, "");
  receiver.Wait(std::chrono::seconds(60));
  std::lock_guard lock(receiver.mu);
  return Summarize(receiver.latencies, std::chrono::duration<double>(Clock::now() - start).count());
}

// One message at a time, each waited for: latency without queueing.
std::pair<double, double> Paced(sg::Bus& publisher, sg::Bus& subscriber, int rounds) {
  std::mutex mu;
  std::condition_variable cv;
  int64_t arrived = 0;
  std::vector<double> lat;
  auto id = subscriber.Subscribe(
      "bench.paced",
      [&](const sg::Message& m) {
        const int64_t sent = std::stoll(m.data);
        std::lock_guard lock(mu);
        lat.push_back(static_cast<double>(NowNs() - sent) / 1000.0);
        ++arrived;
        cv.notify_all();
      },
      16);
  for (int i = 0; i < rounds; ++i) {
    (void)publisher.Publish("bench.paced", std::to_string(NowNs()), "");
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(2), [&] { return arrived > i; });
  }
  if (id) subscriber.Unsubscribe(*id);
  return {sg::test::Percentile(lat, 0.5), sg::test::Percentile(lat, 0.99)};
}

std::unique_ptr<sg::bus::NatsBus> Nats(const std::string& url,
                                       const std::shared_ptr<spdlog::logger>& logger) {
  sg::bus::NatsOptions options;
  options.urls = {url};
  options.name = "bench";
  return std::move(sg::bus::NatsBus::Create(options, logger)).value();
}

void Print(const char* name, const Figures& f, size_t n) {
  std::printf("  %-22s %9.1f us %9.1f us %12.0f msg/s   (%zu of %zu delivered)\n", name, f.p50_us,
              f.p99_us, f.msgs_per_s, f.received, n);
}

}  // namespace

int main(int argc, char** argv) {
  sg::log::Options log_options;
  log_options.console = false;
  auto logs = std::move(sg::log::LogHub::Create(log_options)).value();
  auto logger = logs->Get("bench");

  if (argc == 4 && std::string(argv[1]) == "--receiver") {
    // The second process: receive, then answer the figures on bench.done.
    const size_t n = std::stoul(argv[3]);
    auto bus = Nats(argv[2], logger);
    Receiver receiver(n);
    (void)bus->Subscribe(
        "bench.msg", [&](const sg::Message& m) { receiver.On(m); }, n + 1);
    (void)bus->Subscribe(
        "bench.ready", [&](const sg::Message& m) { (void)bus->Publish(m.reply, "ready", ""); }, 16);
    receiver.Wait(std::chrono::seconds(120));
    std::lock_guard lock(receiver.mu);
    std::printf("%s\n", nlohmann::json(receiver.latencies).dump().c_str());
    return 0;
  }
  const size_t n = argc > 1 ? std::stoul(argv[1]) : 100000;

  // Memory bus.
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&] { io.run(); });
  Figures memory;
  std::pair<double, double> memory_paced, one_paced, two_paced;
  {
    sg::bus::MemoryBus bus(io.get_executor(), logger);
    Receiver receiver(n);
    (void)bus.Subscribe(
        "bench.msg", [&](const sg::Message& m) { receiver.On(m); }, n + 1);
    memory = Run(bus, receiver, n);
    memory_paced = Paced(bus, bus, 2000);
  }
  work.reset();
  for (auto& t : threads) t.join();

  std::fprintf(stderr, "memory bus done\n");
  // NATS: a private server.
  sg::test::TempDir dir;
  sg::test::NatsServer server;
  const std::string url = server.Url();

  Figures one;
  {
    auto bus = Nats(url, logger);
    Receiver receiver(n);
    (void)bus->Subscribe(
        "bench.msg", [&](const sg::Message& m) { receiver.On(m); }, n + 1);
    one = Run(*bus, receiver, n);
    one_paced = Paced(*bus, *bus, 2000);
  }

  std::fprintf(stderr, "NATS one process done\n");
  Figures two;
  {
    sg::test::Process receiver_process({argv[0], "--receiver", url, std::to_string(n)}, dir);
    auto bus = Nats(url, logger);
    // The receiver is subscribed once it answers.
    sg::test::WaitFor(
        [&] { return bus->Request("bench.ready", "", std::chrono::milliseconds(200)).has_value(); },
        std::chrono::seconds(10));
    const std::string pad(100, 'x');
    const auto start = Clock::now();
    for (size_t i = 0; i < n; ++i)
      (void)bus->Publish("bench.msg", std::to_string(NowNs()) + " " + pad, "");
    receiver_process.Wait(std::chrono::seconds(120));
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    // Paced latency between two connections (processes' sockets, as two processes would have).
    auto other = Nats(url, logger);
    two_paced = Paced(*bus, *other, 2000);
    auto latencies = nlohmann::json::parse(receiver_process.Stdout(), nullptr, false);
    if (!latencies.is_discarded()) {
      two = Summarize(latencies.get<std::vector<double>>(), seconds);
    } else {
      std::fprintf(stderr, "the receiver said: %s\n", receiver_process.Stderr().c_str());
    }
  }
  server.Stop();

  std::printf("bus publish-to-deliver latency, one message at a time (2000 rounds)\n");
  std::printf("  %-22s %9.1f us p50 %9.1f us p99\n", "memory bus", memory_paced.first,
              memory_paced.second);
  std::printf("  %-22s %9.1f us p50 %9.1f us p99\n", "NATS, one connection", one_paced.first,
              one_paced.second);
  std::printf("  %-22s %9.1f us p50 %9.1f us p99\n", "NATS, two connections", two_paced.first,
              two_paced.second);
  std::printf("bus throughput, %zu messages of ~120 bytes published as fast as possible\n", n);
  std::printf("  %-22s %12s %12s %16s   (latency here is mostly queueing)\n", "", "p50", "p99",
              "throughput");
  Print("memory bus", memory, n);
  Print("NATS, one process", one, n);
  Print("NATS, two processes", two, n);
  if (memory.msgs_per_s > 0) {
    std::printf("  NATS/memory throughput: %.2f (one process), %.2f (two processes)\n",
                one.msgs_per_s / memory.msgs_per_s, two.msgs_per_s / memory.msgs_per_s);
  }
  return 0;
}
