#include "daemon/plugins/monitor/monitor.h"

#include <catch2/catch.hpp>

#include "tests/support/fake_plugin_context.h"
#include "tests/support/process.h"

namespace sg::plugins {
namespace {

using namespace std::chrono_literals;

}  // namespace

TEST_CASE("the monitor renders the metrics registry at /metrics on its own listener",
          "[plugins][monitor]") {
  test::FakePluginContext f({"monitoring.prometheus_port=0"});
  f.metrics->Add([](std::vector<MetricFamily>& out) {
    out.push_back({"streamgate_test_things", "Things", "gauge", {{"", {}, 3}}});
  });
  auto monitor = MakeMonitor();

  REQUIRE(monitor->Init(f.context).has_value());
  REQUIRE(monitor->Start().has_value());
  test::FakeListener* listener = f.listeners->Get("metrics");
  REQUIRE(listener != nullptr);
  const HttpResponse res = listener->routes.Call("GET", "/metrics");
  monitor->Stop(Clock::now());

  CHECK(listener->spec.path == "/metrics");
  CHECK(listener->spec.config_key == "monitoring.prometheus_port");
  CHECK(res.status == 200);
  CHECK(res.content_type.starts_with("text/plain; version=0.0.4"));
  CHECK(res.body.find("streamgate_test_things 3\n") != std::string::npos);
  CHECK_FALSE(listener->running());
}

TEST_CASE("the monitor publishes a health change on the bus, and stops watching when stopped",
          "[plugins][monitor]") {
  test::FakePluginContext f({"monitoring.prometheus_port=0"});
  f.view->status.plugins = {{"cache", "1.0.0", "running", HealthStatus::kHealthy, "", 0}};
  auto monitor = MakeMonitor();
  REQUIRE(monitor->Init(f.context).has_value());
  const int read_by_init = f.view->Reads();  // the mode, for the listener's port
  REQUIRE(monitor->Start().has_value());
  // The first check takes the baseline; a change after it is published.
  REQUIRE(test::WaitFor([&] { return f.view->Reads() > read_by_init; }, 5s));
  {
    std::lock_guard lock(f.view->mu);
    f.view->status.overall = HealthStatus::kDegraded;
    f.view->status.plugins[0].health = HealthStatus::kDegraded;
  }

  const bool published = test::WaitFor([&] { return !f.bus.Published().empty(); }, 5s);
  monitor->Stop(Clock::now());

  REQUIRE(published);
  const Message event = f.bus.Published().front();
  CHECK(event.subject == "monitor.health.changed");
  CHECK(event.data.find(R"("overall":"degraded")") != std::string::npos);
}

}  // namespace sg::plugins
