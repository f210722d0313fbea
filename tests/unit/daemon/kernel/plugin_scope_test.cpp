// What a plugin registers through its context is the kernel's to undo: nothing serves while it
// is stopped, and nothing is left behind however often it is stopped and started.
#include "daemon/kernel/plugin_scope.h"

#include <set>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "daemon/bus/memory_bus.h"
#include "daemon/http/router.h"
#include "daemon/kernel/kernel.h"
#include "tests/support/process.h"

namespace sg::kernel {
namespace {

using namespace std::chrono_literals;

// Registers one of each kind in Init (kept across restarts) and in Start (undone at Stop).
class RegisteringPlugin final : public Plugin {
 public:
  std::string_view Name() const override { return "reg"; }
  std::string_view Version() const override { return "1.0.0"; }
  Result<void> Init(PluginContext& context) override {
    context_ = &context;
    return Register("init");
  }
  Result<void> Start() override { return Register("start"); }
  void Stop(Deadline) override {}
  HealthReport CheckHealth() const override { return {}; }

  std::atomic<int> delivered{0};

 private:
  Result<void> Register(const std::string& phase) {
    auto sub = context_->bus->Subscribe("reg." + phase, [this](const Message&) { ++delivered; });
    if (!sub) return sub.error();
    context_->metrics->Add([phase](std::vector<MetricFamily>& out) {
      out.push_back({"reg_" + phase, "a test family", "gauge", {{"", {}, 1}}});
    });
    auto route = context_->router->AddRoute(
        "GET", "/reg/" + phase, [](const HttpRequest&, HttpResponse& res) { res.body = "ok"; });
    if (!route) return route.error();
    return {};
  }
  PluginContext* context_ = nullptr;
};

struct Fixture {
  Fixture() {
    log::Options options;
    options.console = false;
    logs = std::move(log::LogHub::Create(options)).value();
    thread = std::thread([this] { io.run(); });
    bus = std::make_unique<bus::MemoryBus>(io.get_executor(), logs->Get("bus"));
    services.Provide<MetricsRegistry>("metrics", metrics);
    services.Provide<Router>("http.router", routes);
    kernel = std::make_unique<Kernel>(KernelOptions{}, std::make_shared<config::Config>(), *logs,
                                      *bus, services, io.get_executor());
    auto made = std::make_unique<RegisteringPlugin>();
    plugin = made.get();
    REQUIRE(kernel->Register(std::move(made)).has_value());
  }
  ~Fixture() {
    kernel.reset();
    work.reset();
    io.stop();
    thread.join();
  }

  // What a GET of `path` answers, calling the route's handler as the server would.
  HttpResponse Get(const std::string& path) {
    std::shared_ptr<const std::vector<http::RouteTable::Route>> snapshot;
    auto match = routes->Find("GET", path, snapshot);
    HttpResponse res;
    if (match.route == nullptr) {
      res.status = 404;
      return res;
    }
    HttpRequest req;
    req.method = "GET";
    req.path = path;
    match.route->handler(req, res);
    return res;
  }
  std::set<std::string> Families() const {
    std::set<std::string> names;
    for (const auto& f : metrics->Collect()) names.insert(f.name);
    return names;
  }

  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(io);
  std::thread thread;
  std::unique_ptr<log::LogHub> logs;
  std::unique_ptr<bus::MemoryBus> bus;
  std::shared_ptr<MetricsRegistry> metrics = std::make_shared<MetricsRegistry>();
  std::shared_ptr<http::RouteTable> routes = std::make_shared<http::RouteTable>();
  ServiceRegistry services;
  std::unique_ptr<Kernel> kernel;
  RegisteringPlugin* plugin = nullptr;
};

}  // namespace

TEST_CASE("a plugin stopped and started 100 times leaves no registration behind",
          "[kernel][scope]") {
  Fixture f;
  REQUIRE(f.kernel->StartAll().has_value());

  for (int i = 0; i < 100; ++i) {
    REQUIRE(f.kernel->StopPlugin("reg", false).has_value());
    REQUIRE(f.kernel->StartPlugin("reg").has_value());
  }

  auto counts = f.kernel->Registrations("reg");
  REQUIRE(counts.has_value());
  CHECK(counts->subscriptions == 2);
  CHECK(counts->collectors == 2);
  CHECK(counts->routes == 2);
  CHECK(f.metrics->Count("reg") == 2);
  CHECK(f.Families() == std::set<std::string>{"reg_init", "reg_start"});
  CHECK(f.Get("/reg/start").body == "ok");
}

TEST_CASE("a stopped plugin serves nothing: routes 503 naming it, no series, no deliveries",
          "[kernel][scope]") {
  Fixture f;
  REQUIRE(f.kernel->StartAll().has_value());

  REQUIRE(f.kernel->StopPlugin("reg", false).has_value());

  const HttpResponse kept = f.Get("/reg/init");
  CHECK(kept.status == 503);
  CHECK(kept.body.find("plugin 'reg' is not running; start it with 'streamgate plugins start "
                       "reg'") != std::string::npos);
  CHECK(f.Get("/reg/start").status == 404);  // added by Start: removed at Stop
  CHECK(f.Families().empty());
  CHECK(f.kernel->Registrations("reg")->subscriptions == 1);
  REQUIRE(f.bus->Publish("reg.init", "x", "").has_value());
  REQUIRE(f.bus->Publish("reg.start", "x", "").has_value());
  REQUIRE(test::WaitFor([&] { return f.bus->Stats().delivered >= 1; }, 2s));
  CHECK(f.plugin->delivered == 0);

  REQUIRE(f.kernel->StartPlugin("reg").has_value());
  CHECK(f.Get("/reg/init").status == 200);
  REQUIRE(f.bus->Publish("reg.start", "x", "").has_value());
  CHECK(test::WaitFor([&] { return f.plugin->delivered == 1; }, 2s));
}

TEST_CASE("the kernel undoes Init's registrations when it goes", "[kernel][scope]") {
  Fixture f;
  REQUIRE(f.kernel->StartAll().has_value());
  f.kernel->StopAll(Clock::now() + 1s);

  f.kernel.reset();

  CHECK(f.metrics->Count("reg") == 0);
  CHECK(f.Get("/reg/init").status == 404);
}

}  // namespace sg::kernel
