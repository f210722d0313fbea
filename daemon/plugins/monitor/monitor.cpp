#include "daemon/plugins/monitor/monitor.h"

#include <atomic>
#include <map>

#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "daemon/http/router.h"
#include "daemon/http/server.h"
#include "daemon/plugin_api/daemon_view.h"
#include "daemon/plugin_api/listeners.h"
#include "daemon/plugin_api/metrics.h"
#include "daemon/plugins/monitor/monitor_config.h"

namespace sg::plugins {
namespace {

constexpr auto kWatchInterval = std::chrono::seconds(1);

std::shared_ptr<const http::ServerSettings> SettingsFrom(const config::Config& config) {
  auto s = std::make_shared<http::ServerSettings>();
  s->host = config.String("server.host");
  s->port = static_cast<uint16_t>(config.Int("monitoring.prometheus_port"));
  s->io_threads = 1;  // a scrape every few seconds needs no more
  s->read_timeout = std::chrono::seconds(10);
  s->write_timeout = std::chrono::seconds(10);
  s->idle_timeout = std::chrono::seconds(60);
  s->max_header_bytes = size_t{16} * 1024;
  s->max_body_bytes = 0;
  s->max_connections = 64;
  s->access_log = false;  // scrapes would drown the log
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
    settings_ = SettingsFrom(*context.config);
    auto metrics = context.services->Find<MetricsRegistry>("metrics");
    if (!metrics) return metrics.error().Wrap("monitor needs the metrics registry");
    metrics_ = *metrics;
    auto view = context.services->Find<DaemonView>("daemon");
    if (!view) return view.error().Wrap("monitor needs the daemon's status");
    view_ = *view;
    // Optional: where the daemon learns the bound port, for its status.
    if (auto listeners = context.services->Find<Listeners>("listeners")) listeners_ = *listeners;
    server_ = std::make_shared<http::HttpServer>(routes_, logger_, logger_);
    auto added = routes_.AddRoute("GET", "/metrics", [this](const HttpRequest&, HttpResponse& res) {
      res.content_type = "text/plain; version=0.0.4; charset=utf-8";
      res.body = RenderPrometheus(metrics_->Collect());
    });
    if (!added) return added.error();
    return {};
  }

  Result<void> Start() override {
    if (auto started = server_->Start(settings_); !started) return started.error();
    logger_->info(log::With("Metrics served", {{"host", settings_->host},
                                               {"port", static_cast<int64_t>(server_->port())},
                                               {"path", "/metrics"}}));
    if (listeners_) listeners_->Set("metrics", settings_->host, server_->port(), "/metrics");
    watching_ = true;
    timer_ = std::make_unique<boost::asio::steady_timer>(context_->executor);
    Watch();
    return {};
  }

  void Stop(Deadline deadline) override {
    watching_ = false;
    if (timer_) timer_->cancel();
    if (listeners_) listeners_->Remove("metrics");
    server_->Stop(deadline);
  }

  HealthReport CheckHealth() const override {
    if (!server_ || !server_->running())
      return {HealthStatus::kUnhealthy, "metrics listener is down"};
    return {};
  }

  // A new address must be free before the reload goes ahead: all or nothing.
  Result<void> CheckConfig(const config::Config& config) const override {
    if (auto free = http::CheckAddressChange(*settings_, *SettingsFrom(config)); !free) {
      return free.error().Wrap("monitoring.prometheus_port");
    }
    return {};
  }

  Result<bool> Reconfigure(std::shared_ptr<const config::Config> config) override {
    auto next = SettingsFrom(*config);
    if (auto updated = server_->Update(next); !updated) return updated.error();
    settings_ = next;
    if (listeners_) listeners_->Set("metrics", settings_->host, server_->port(), "/metrics");
    return true;
  }

 private:
  // Compares health with what it was a second ago; a change is logged and published.
  void Watch() {
    timer_->expires_after(kWatchInterval);
    timer_->async_wait([this](const boost::system::error_code& ec) {
      if (ec || !watching_) return;
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
      Watch();
    });
  }

  PluginContext* context_ = nullptr;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<const http::ServerSettings> settings_;
  std::shared_ptr<MetricsRegistry> metrics_;
  std::shared_ptr<DaemonView> view_;
  std::shared_ptr<Listeners> listeners_;  // null when the daemon offers none
  http::RouteTable routes_;
  std::shared_ptr<http::HttpServer> server_;
  std::unique_ptr<boost::asio::steady_timer> timer_;
  std::atomic<bool> watching_{false};
  // Touched only by the timer's handler, which never runs twice at once.
  bool seen_ = false;
  HealthStatus last_overall_ = HealthStatus::kHealthy;
  std::map<std::string, HealthStatus> last_plugins_;
};

}  // namespace

std::unique_ptr<Plugin> MakeMonitor() { return std::make_unique<Monitor>(); }

}  // namespace sg::plugins
