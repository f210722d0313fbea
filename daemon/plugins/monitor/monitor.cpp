#include "daemon/plugins/monitor/monitor.h"

#include <atomic>
#include <map>

#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "daemon/plugin_api/daemon_view.h"
#include "daemon/plugin_api/http_listener.h"
#include "daemon/plugin_api/metrics.h"
#include "daemon/plugin_api/periodic_timer.h"
#include "daemon/plugins/monitor/monitor_config.h"

namespace sg::plugins {
namespace {

constexpr auto kWatchInterval = std::chrono::seconds(1);

// `aside`: a process of a microservice deployment other than its monitor service.
ListenerSettings SettingsFrom(const config::Config& config, bool aside) {
  ListenerSettings s;
  s.host = config.String("server.host");
  s.port = ListenerPortFor(config, "monitoring.prometheus_port", aside);
  s.io_threads = 1;  // a scrape every few seconds needs no more
  s.read_timeout = std::chrono::seconds(10);
  s.write_timeout = std::chrono::seconds(10);
  s.idle_timeout = std::chrono::seconds(60);
  s.max_header_bytes = size_t{16} * 1024;
  s.max_body_bytes = 0;
  s.max_connections = 64;
  s.access_log = false;  // scrapes would drown the log
  return s;
}

class Monitor final : public Plugin {
 public:
  std::string_view Name() const override { return "monitor"; }
  std::string_view Version() const override { return "1.0.0"; }
  // What monitor_config.cpp declares: a reload that changes none of it leaves the monitor alone.
  std::vector<std::string> ConfigKeys() const override { return MonitorConfig().Reads(); }

  Result<void> Init(PluginContext& context) override {
    context_ = &context;
    logger_ = context.logger;
    auto metrics = context.services->Find<MetricsRegistry>("metrics");
    if (!metrics) return metrics.error().Wrap("monitor needs the metrics registry");
    metrics_ = *metrics;
    auto view = context.services->Find<DaemonView>("daemon");
    if (!view) return view.error().Wrap("monitor needs the daemon's status");
    view_ = *view;
    aside_ = ListensAside(*context.config, view_->Status(), "monitor");
    auto listeners = context.services->Find<HttpListenerFactory>("http.listeners");
    if (!listeners) return listeners.error().Wrap("monitor needs an HTTP listener");
    listener_ = (*listeners)
                    ->Open({"metrics", "/metrics", "monitoring.prometheus_port", logger_},
                           SettingsFrom(*context.config, aside_));
    auto added = listener_->router().AddRoute(
        "GET", "/metrics", [this](const HttpRequest&, HttpResponse& res) {
          res.content_type = "text/plain; version=0.0.4; charset=utf-8";
          res.body = RenderPrometheus(metrics_->Collect());
        });
    if (!added) return added.error();
    return {};
  }

  Result<void> Start() override {
    if (auto started = listener_->Start(); !started) return started.error();
    logger_->info(log::With("Metrics served", {{"host", listener_->settings().host},
                                               {"port", static_cast<int64_t>(listener_->port())},
                                               {"path", "/metrics"}}));
    timer_ =
        std::make_unique<PeriodicTimer>(context_->executor, kWatchInterval, [this] { Watch(); });
    return {};
  }

  void Stop(Deadline deadline) override {
    timer_.reset();  // waits for a check in progress
    listener_->Stop(deadline);
  }

  HealthReport CheckHealth() const override {
    if (!listener_ || !listener_->running())
      return {HealthStatus::kUnhealthy, "metrics listener is down"};
    return {};
  }

  // A new address must be free before the reload goes ahead: all or nothing.
  Result<void> CheckConfig(const config::Config& config) const override {
    return listener_->Check(SettingsFrom(config, aside_));
  }

  Result<bool> Reconfigure(std::shared_ptr<const config::Config> config) override {
    if (auto updated = listener_->Reconfigure(SettingsFrom(*config, aside_)); !updated) {
      return updated.error();
    }
    return true;
  }

 private:
  // Compares health with what it was a second ago; a change is logged and published.
  void Watch() {
    const DaemonStatus status = view_->Status();
    std::map<std::string, HealthStatus> now;
    for (const auto& p : status.plugins) now[p.name] = p.health;
    if (seen_ && (status.overall != last_overall_ || now != last_plugins_)) {
      nlohmann::ordered_json changed = nlohmann::ordered_json::array();
      for (const auto& [name, health] : now) {
        auto before = last_plugins_.find(name);
        if (before == last_plugins_.end() || before->second != health) {
          changed.push_back(
              {{"plugin", name},
               {"from",
                before == last_plugins_.end() ? "unknown" : HealthStatusName(before->second)},
               {"to", HealthStatusName(health)}});
        }
      }
      const nlohmann::ordered_json event = {{"overall", HealthStatusName(status.overall)},
                                            {"previous", HealthStatusName(last_overall_)},
                                            {"service", status.service},
                                            {"plugins", changed}};
      logger_->info(
          log::With("Health changed", {{"from", std::string(HealthStatusName(last_overall_))},
                                       {"to", std::string(HealthStatusName(status.overall))}}));
      (void)context_->bus->Publish("monitor.health.changed", event.dump());
    }
    seen_ = true;
    last_overall_ = status.overall;
    last_plugins_ = std::move(now);
  }

  PluginContext* context_ = nullptr;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<MetricsRegistry> metrics_;
  std::shared_ptr<DaemonView> view_;
  bool aside_ = false;  // a microservice process other than the monitor service: any free port
  std::shared_ptr<HttpListener> listener_;
  std::unique_ptr<PeriodicTimer> timer_;
  // Touched only by the timer's handler, which never runs twice at once.
  bool seen_ = false;
  HealthStatus last_overall_ = HealthStatus::kHealthy;
  std::map<std::string, HealthStatus> last_plugins_;
};

}  // namespace

std::unique_ptr<Plugin> MakeMonitor() { return std::make_unique<Monitor>(); }

}  // namespace sg::plugins
