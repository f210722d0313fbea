#include "daemon/kernel/kernel.h"

#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "daemon/bus/memory_bus.h"
#include "tests/support/process.h"
#include "tests/support/test_plugin.h"

namespace sg::kernel {
namespace {

using namespace std::chrono_literals;
using test::Behavior;
using test::TestPlugin;

// A kernel with real threads, a real bus and quiet logs.
struct Fixture {
  Fixture(std::chrono::milliseconds call_timeout = 2s) {
    log::Options options;
    options.console = false;
    logs = std::move(log::LogHub::Create(options)).value();
    for (int i = 0; i < 2; ++i) threads.emplace_back([this] { io.run(); });
    bus = std::make_unique<bus::MemoryBus>(io.get_executor(), logs->Get("bus"));
    KernelOptions kernel_options;
    kernel_options.call_timeout = call_timeout;
    kernel_options.health_timeout = 200ms;
    kernel =
        std::make_unique<Kernel>(kernel_options, config, *logs, *bus, services, io.get_executor());
  }
  ~Fixture() {
    kernel->StopAll(Clock::now() + 1s);
    gate->Open();  // let abandoned calls finish
    work.reset();
    io.stop();
    for (auto& t : threads) t.join();
  }

  TestPlugin& Add(const std::string& name, std::vector<std::string> deps = {},
                  RestartPolicy policy = {}) {
    auto plugin = std::make_unique<TestPlugin>(name, std::move(deps), events, gate);
    TestPlugin& ref = *plugin;
    REQUIRE(kernel->Register(std::move(plugin), policy).has_value());
    return ref;
  }

  PluginState State(const std::string& name) { return kernel->Plugin(name)->state; }

  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(io);
  std::vector<std::thread> threads;
  std::shared_ptr<const config::Config> config = std::make_shared<config::Config>();
  std::unique_ptr<log::LogHub> logs;
  std::unique_ptr<bus::MemoryBus> bus;
  ServiceRegistry services;
  test::EventLog events;
  std::shared_ptr<test::Gate> gate = std::make_shared<test::Gate>();
  std::unique_ptr<Kernel> kernel;
};

}  // namespace

TEST_CASE("kernel starts plugins in dependency order and stops them in reverse", "[kernel]") {
  Fixture f;
  f.Add("gateway", {"cache", "auth"});
  f.Add("cache");
  f.Add("auth", {"cache"});

  REQUIRE(f.kernel->StartAll().has_value());
  f.kernel->StopAll(Clock::now() + 1s);

  CHECK(f.events.Events() == std::vector<std::string>{"cache.init", "cache.start", "auth.init",
                                                      "auth.start", "gateway.init", "gateway.start",
                                                      "gateway.stop", "auth.stop", "cache.stop"});
  CHECK(f.State("gateway") == PluginState::kStopped);
}

TEST_CASE("a dependency cycle is a startup error naming the plugins", "[kernel]") {
  Fixture f;
  f.Add("a", {"b"});
  f.Add("b", {"c"});
  f.Add("c", {"a"});

  auto started = f.kernel->StartAll();

  REQUIRE_FALSE(started.has_value());
  CHECK(started.error().message == "plugin dependency cycle: a -> b -> c -> a");
  CHECK(f.events.Events().empty());
}

TEST_CASE("a missing dependency is a startup error with a suggestion", "[kernel]") {
  Fixture f;
  f.Add("gateway", {"cahce"});
  f.Add("cache");

  auto started = f.kernel->StartAll();

  REQUIRE_FALSE(started.has_value());
  CHECK(started.error().message ==
        "plugin 'gateway' depends on 'cahce', which is not registered (did you mean 'cache'?)");
}

TEST_CASE("a duplicate plugin name is refused", "[kernel]") {
  Fixture f;
  f.Add("cache");
  auto again = f.kernel->Register(
      std::make_unique<TestPlugin>("cache", std::vector<std::string>{}, f.events));
  CHECK_FALSE(again.has_value());
}

TEST_CASE("a throw in init, start or stop marks only that plugin failed", "[kernel]") {
  for (const char* phase : {"init", "start"}) {
    DYNAMIC_SECTION("throw in " << phase) {
      Fixture f;
      TestPlugin& bad = f.Add("bad");
      f.Add("dependent", {"bad"});
      f.Add("independent");
      (std::string(phase) == "init" ? bad.init : bad.start) = Behavior::kThrow;

      REQUIRE(f.kernel->StartAll().has_value());

      CHECK(f.State("bad") == PluginState::kFailed);
      CHECK(f.kernel->Plugin("bad")->reason ==
            std::string(phase) + " threw: " + phase + " exploded");
      CHECK(f.State("dependent") == PluginState::kStopped);
      CHECK(f.kernel->Plugin("dependent")->reason == "dependency 'bad' is not running");
      CHECK(f.State("independent") == PluginState::kRunning);
    }
  }
  SECTION("throw in stop") {
    Fixture f;
    f.Add("bad").stop = Behavior::kThrow;
    f.Add("good");
    REQUIRE(f.kernel->StartAll().has_value());

    f.kernel->StopAll(Clock::now() + 1s);

    CHECK(f.State("bad") == PluginState::kFailed);
    CHECK(f.State("good") == PluginState::kStopped);
  }
}

TEST_CASE("a plugin that returns an error from start is failed with the message", "[kernel]") {
  Fixture f;
  f.Add("bad").start = Behavior::kFail;

  REQUIRE(f.kernel->StartAll().has_value());

  CHECK(f.kernel->Plugin("bad")->reason == "start: start refused");
}

TEST_CASE("a call that outlives its timeout marks the plugin failed and the kernel goes on",
          "[kernel]") {
  Fixture f(100ms);
  f.Add("slow").start = Behavior::kHang;
  f.Add("fast");

  REQUIRE(f.kernel->StartAll().has_value());

  CHECK(f.State("slow") == PluginState::kFailed);
  CHECK(f.kernel->Plugin("slow")->reason == "start timed out after 100ms");
  CHECK(f.State("fast") == PluginState::kRunning);
}

TEST_CASE("a stop that outlives the deadline marks the plugin failed", "[kernel]") {
  Fixture f;
  f.Add("stuck").stop = Behavior::kHang;
  REQUIRE(f.kernel->StartAll().has_value());

  f.kernel->StopAll(Clock::now() + 50ms);

  CHECK(f.State("stuck") == PluginState::kFailed);
  CHECK(f.kernel->Plugin("stuck")->reason == "stop did not finish before the deadline");
}

TEST_CASE("stopping a plugin others need is refused unless cascaded", "[kernel]") {
  Fixture f;
  f.Add("cache");
  f.Add("auth", {"cache"});
  f.Add("gateway", {"auth"});
  REQUIRE(f.kernel->StartAll().has_value());

  auto refused = f.kernel->StopPlugin("cache", false);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().message ==
        "plugin 'cache' is needed by running plugins: auth, gateway; stop them first, or use "
        "--cascade to stop them too");
  CHECK(f.State("cache") == PluginState::kRunning);

  auto cascaded = f.kernel->StopPlugin("cache", true);
  REQUIRE(cascaded.has_value());
  REQUIRE(cascaded->size() == 3);
  CHECK((*cascaded)[0].name == "gateway");
  CHECK((*cascaded)[2].name == "cache");
  CHECK(f.State("auth") == PluginState::kStopped);
}

TEST_CASE("runtime start, stop and restart of one plugin", "[kernel]") {
  Fixture f;
  f.Add("cache");
  f.Add("gateway", {"cache"});
  REQUIRE(f.kernel->StartAll().has_value());

  CHECK(f.kernel->StopPlugin("gateway", false).has_value());
  CHECK(f.State("gateway") == PluginState::kStopped);
  CHECK(f.kernel->StartPlugin("gateway").has_value());
  CHECK(f.State("gateway") == PluginState::kRunning);
  CHECK_FALSE(f.kernel->StartPlugin("gateway").has_value());  // already running

  auto restarted = f.kernel->RestartPlugin("cache", true);
  REQUIRE(restarted.has_value());
  CHECK(restarted->size() == 2);
  CHECK(f.State("cache") == PluginState::kRunning);
  CHECK(f.State("gateway") == PluginState::kRunning);

  auto unknown = f.kernel->StopPlugin("gatewya", false);
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().code == ErrorCode::kNotFound);
  CHECK(unknown.error().message == "no plugin named 'gatewya' (did you mean 'gateway'?)");
}

TEST_CASE("the restart policy retries with backoff and shows its progress", "[kernel]") {
  Fixture f;
  RestartPolicy policy;
  policy.mode = RestartPolicy::Mode::kOnFailure;
  policy.limit = 5;
  policy.backoff = 20ms;
  policy.max_backoff = 40ms;
  TestPlugin& flaky = f.Add("flaky", {}, policy);
  f.Add("dependent", {"flaky"});
  flaky.start_failures_left = 2;

  REQUIRE(f.kernel->StartAll().has_value());
  CHECK(f.State("flaky") == PluginState::kFailed);
  CHECK(f.kernel->Plugin("flaky")->next_restart.has_value());

  REQUIRE(test::WaitFor([&] { return f.State("flaky") == PluginState::kRunning; }, 5s));
  CHECK(f.kernel->Plugin("flaky")->restarts == 2);
  CHECK_FALSE(f.kernel->Plugin("flaky")->next_restart.has_value());
  // The dependent that could not start earlier starts once its dependency runs.
  REQUIRE(test::WaitFor([&] { return f.State("dependent") == PluginState::kRunning; }, 5s));
}

TEST_CASE("the restart policy gives up at its limit", "[kernel]") {
  Fixture f;
  RestartPolicy policy;
  policy.mode = RestartPolicy::Mode::kOnFailure;
  policy.limit = 2;
  policy.backoff = 5ms;
  TestPlugin& broken = f.Add("broken", {}, policy);
  broken.start = Behavior::kFail;

  REQUIRE(f.kernel->StartAll().has_value());

  REQUIRE(test::WaitFor(
      [&] { return f.kernel->Plugin("broken")->reason.find("gave up") != std::string::npos; }, 5s));
  CHECK(f.kernel->Plugin("broken")->restarts == 2);
  CHECK(f.kernel->Plugin("broken")->reason == "start: start refused (gave up after 2 restarts)");
}

TEST_CASE("a failure reported while running stops dependents and restarts the plugin", "[kernel]") {
  Fixture f;
  RestartPolicy policy;
  policy.mode = RestartPolicy::Mode::kOnFailure;
  policy.backoff = 10ms;
  TestPlugin& server = f.Add("server", {}, policy);
  f.Add("client", {"server"});
  REQUIRE(f.kernel->StartAll().has_value());

  server.ReportFailure("listener died");

  REQUIRE(test::WaitFor([&] { return f.kernel->Plugin("server")->restarts == 1; }, 5s));
  REQUIRE(test::WaitFor(
      [&] {
        return f.State("server") == PluginState::kRunning &&
               f.State("client") == PluginState::kRunning;
      },
      5s));
  const auto events = f.events.Events();
  CHECK(std::count(events.begin(), events.end(), "client.stop") == 1);
  CHECK(std::count(events.begin(), events.end(), "client.start") == 2);
}

TEST_CASE("health aggregates the worst status with each check's latency", "[kernel]") {
  Fixture f;
  f.Add("fine");
  f.Add("meh").health = HealthStatus::kDegraded;
  REQUIRE(f.kernel->StartAll().has_value());

  HealthSummary summary = f.kernel->CheckHealth();

  CHECK(summary.overall == HealthStatus::kDegraded);
  REQUIRE(summary.plugins.size() == 2);
  CHECK(summary.plugins[0].report.status == HealthStatus::kHealthy);
  CHECK(summary.plugins[1].report.message == "not great");
  CHECK(summary.plugins[1].latency.count() >= 0);
}

TEST_CASE("a slow or throwing health check counts as unhealthy without stalling", "[kernel]") {
  Fixture f;
  f.Add("slow").health_behavior = Behavior::kHang;
  f.Add("throws").health_behavior = Behavior::kThrow;
  f.Add("failed").start = Behavior::kFail;
  REQUIRE(f.kernel->StartAll().has_value());

  HealthSummary summary = f.kernel->CheckHealth();

  CHECK(summary.overall == HealthStatus::kUnhealthy);
  CHECK(summary.plugins[0].report.message == "health check timed out");
  CHECK(summary.plugins[1].report.message == "health check threw: health exploded");
  CHECK(summary.plugins[2].report.message == "failed: start: start refused");
}

TEST_CASE("with no plugins the kernel starts, is healthy and stops", "[kernel]") {
  Fixture f;

  REQUIRE(f.kernel->StartAll().has_value());

  CHECK(f.kernel->CheckHealth().overall == HealthStatus::kHealthy);
  CHECK(f.kernel->Plugins().empty());
}

}  // namespace sg::kernel
