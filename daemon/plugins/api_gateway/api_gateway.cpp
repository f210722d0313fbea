#include "daemon/plugins/api_gateway/api_gateway.h"

#include <algorithm>
#include <atomic>
#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "daemon/plugin_api/cache.h"
#include "daemon/plugin_api/daemon_view.h"
#include "daemon/plugin_api/http.h"
#include "daemon/plugin_api/http_listener.h"
#include "daemon/plugin_api/metrics.h"
#include "daemon/plugin_api/periodic_timer.h"
#include "daemon/plugin_api/registration.h"
#include "daemon/plugins/api_gateway/api_gateway_config.h"
#include "daemon/plugins/api_gateway/service_proxy.h"
#include "daemon/plugins/api_gateway/web_site.h"

namespace sg::plugins {
namespace {

// `behind_front`: this process is a service of a microservice deployment, not its gateway.
ListenerSettings SettingsFrom(const config::Config& config, bool behind_front) {
  ListenerSettings s;
  s.host = config.String("server.host");
  s.port = ListenerPortFor(config, "server.port", behind_front);
  s.io_threads = static_cast<int>(config.Int("server.io_threads"));
  s.read_timeout = config.Duration("server.read_timeout");
  s.write_timeout = config.Duration("server.write_timeout");
  s.idle_timeout = config.Duration("server.idle_timeout");
  s.max_header_bytes = static_cast<size_t>(config.Int("server.max_header_bytes"));
  s.max_header_fields = static_cast<size_t>(config.Int("server.max_header_fields"));
  s.max_body_bytes = static_cast<size_t>(config.Int("server.max_body_bytes"));
  s.max_connections = static_cast<size_t>(config.Int("server.max_connections"));
  s.access_log = config.Bool("server.access_log");
  return s;
}

std::string Dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

class ApiGateway final : public Plugin {
 public:
  std::string_view Name() const override { return "api-gateway"; }
  std::string_view Version() const override { return "1.0.0"; }
  // What api_gateway_config.cpp declares: a reload that changes none of it leaves the gateway
  // alone.
  std::vector<std::string> ConfigKeys() const override { return ApiGatewayConfig().Reads(); }

  Result<void> Init(PluginContext& context) override {
    services_ = context.services;
    web_root_ = context.config->String("server.web_root");
    logger_ = context.logger;
    logger_->info("Initializing API Gateway plugin");
    auto view = context.services->Find<DaemonView>("daemon");
    if (!view) return view.error().Wrap("api-gateway needs the daemon's status");
    view_ = *view;
    const DaemonStatus status = view_->Status();
    const bool microservice = status.mode == "microservice";
    behind_front_ = ListensAside(*context.config, status, "api-gateway");
    auto listeners = context.services->Find<HttpListenerFactory>("http.listeners");
    if (!listeners) return listeners.error().Wrap("api-gateway needs an HTTP listener");
    listener_ = (*listeners)
                    ->Open({"http", "", "server.port", logger_},
                           SettingsFrom(*context.config, behind_front_));
    for (auto& [method, pattern, handler] : BuiltinRoutes()) {
      if (auto added = listener_->router().AddRoute(method, pattern, std::move(handler)); !added)
        return added.error();
    }
    // Other plugins add their routes here; the kernel gives each a view of it of its own.
    context.services->Provide<Router>("http.router",
                                      std::shared_ptr<Router>(listener_, &listener_->router()));
    context.services->Provide<HttpStats>("http.stats", listener_);
    if (microservice && !behind_front_) {
      // The deployment's front door: the other services' routes are proxied from here.
      const auto beat = context.config->Duration("nats.heartbeat_interval");
      proxy_settings_ = ProxySettingsFrom(*context.config);
      proxy_settings_.eject_for = std::max(proxy_settings_.eject_for, beat);
      proxy_settings_.silent_grace = std::max(proxy_settings_.silent_grace, 4 * beat);
      proxy_refresh_ =
          std::clamp(beat / 2, std::chrono::milliseconds(100), std::chrono::milliseconds(1000));
      executor_ = context.executor;
    }
    if (context.metrics != nullptr) {
      collector_ = AddCollector(*context.metrics, [this](std::vector<MetricFamily>& out) {
        Collect(*listener_, out);
        if (auto proxy = Proxy()) proxy->Collect(out);
      });
    }
    return {};
  }

  Result<void> Start() override {
    logger_->info(log::With("Starting API Gateway",
                            {{"port", static_cast<int64_t>(listener_->settings().port)}}));
    draining_ = false;
    LoadSite(web_root_);
    if (auto started = listener_->Start(); !started) return started.error();
    if (executor_) {
      auto proxy =
          std::make_shared<ServiceProxy>(listener_->router(), executor_, proxy_settings_, logger_);
      {
        std::lock_guard lock(proxy_mu_);
        proxy_ = proxy;
      }
      proxy->Update(view_->Status().services);
      proxy_timer_ = std::make_unique<PeriodicTimer>(
          executor_, proxy_refresh_, [this, proxy] { proxy->Update(view_->Status().services); });
    }
    logger_->info(log::With(
        "API Gateway started successfully",
        {{"host", listener_->settings().host}, {"port", static_cast<int64_t>(listener_->port())}}));
    return {};
  }

  void PrepareStop() override {
    draining_ = true;
    listener_->BeginDrain();
  }

  void Stop(Deadline deadline) override {
    // /ready turns 503 first, so that load balancers step away; then the listener closes and
    // in-flight requests finish until the deadline.
    draining_ = true;
    logger_->info(
        log::With("Draining API Gateway",
                  {{"open_connections", static_cast<int64_t>(listener_->OpenConnections())}}));
    // Parked upstream connections live on the listener's I/O threads: closed while they run.
    proxy_timer_.reset();
    if (auto proxy = Proxy()) proxy->Stop();
    listener_->Stop(deadline);
    {
      std::lock_guard lock(proxy_mu_);
      proxy_.reset();
    }
    logger_->info("API Gateway stopped");
  }

  HealthReport CheckHealth() const override {
    if (!listener_ || !listener_->running()) return {HealthStatus::kUnhealthy, "not listening"};
    return {};
  }

  // A new address must be free before the reload goes ahead: all or nothing.
  Result<void> CheckConfig(const config::Config& config) const override {
    return listener_->Check(SettingsFrom(config, behind_front_));
  }

  Result<bool> Reconfigure(std::shared_ptr<const config::Config> config) override {
    if (auto proxy = Proxy()) proxy->CloseIdle();  // the listener may change its I/O threads
    if (auto updated = listener_->Reconfigure(SettingsFrom(*config, behind_front_)); !updated) {
      return updated.error();
    }
    if (const std::string root = config->String("server.web_root"); root != web_root_) {
      web_root_ = root;
      LoadSite(web_root_);
    }
    logger_->info(
        log::With("API Gateway reconfigured", {{"port", static_cast<int64_t>(listener_->port())}}));
    return true;
  }

 private:
  struct BuiltinRoute {
    std::string method;
    std::string pattern;
    HttpHandler handler;
  };

  std::vector<BuiltinRoute> BuiltinRoutes() {
    auto health = [this](const HttpRequest&, HttpResponse& res) {
      const HealthStatus overall = view_->Overall();
      res.status = overall == HealthStatus::kHealthy ? 200 : 503;
      res.body = fmt::format("{{\"status\":\"{}\"}}", HealthStatusName(overall));
    };
    auto ready = [this](const HttpRequest&, HttpResponse& res) {
      if (draining_) {
        res.status = 503;
        res.body = R"({"status":"draining"})";
        return;
      }
      const DaemonStatus status = view_->Status();
      if (!status.not_running.empty()) {
        res.status = 503;
        res.body = Dump({{"status", "not ready"}, {"waiting_for", status.not_running}});
        return;
      }
      res.body = R"({"status":"ready"})";
    };
    auto details = [this](const HttpRequest&, HttpResponse& res) {
      const DaemonStatus status = view_->Status();
      nlohmann::ordered_json plugins = nlohmann::ordered_json::array();
      for (const auto& p : status.plugins) {
        plugins.push_back({{"name", p.name},
                           {"version", p.version},
                           {"state", p.state},
                           {"health", HealthStatusName(p.health)},
                           {"message", p.message},
                           {"latency_ms", p.latency_ms}});
      }
      nlohmann::ordered_json body = {{"status", HealthStatusName(status.overall)},
                                     {"version", status.version},
                                     {"mode", status.mode},
                                     {"service", status.service},
                                     {"uptime_seconds", status.uptime_seconds},
                                     {"bus", status.bus},
                                     {"plugins", plugins}};
      if (status.mode == "microservice") {
        nlohmann::ordered_json services = nlohmann::ordered_json::array();
        for (const auto& svc : status.services) {
          services.push_back({{"service", svc.service},
                              {"id", svc.id},
                              {"host", svc.host},
                              {"pid", svc.pid},
                              {"health", HealthStatusName(svc.health)},
                              {"alive", svc.alive}});
        }
        body["services"] = services;
      }
      res.status = status.overall == HealthStatus::kHealthy ? 200 : 503;
      res.body = Dump(body);
    };
    // The shared cache over HTTP, for other components and for operators. The "cache" service is
    // in this process in monolith mode and a NATS client in microservice mode: the same code.
    auto cache_call = [this](const HttpRequest& req, HttpResponse& res) {
      auto cache = services_->Find<Cache>("cache");
      if (!cache) {
        res.status = 503;
        res.body = Dump({{"error", cache.error().message}});
        return;
      }
      const std::string key(req.Param("key"));
      auto fail = [&res](const Error& e) {
        res.status = e.code == ErrorCode::kInvalidArgument ? 400
                     : e.code == ErrorCode::kTimeout       ? 504
                                                           : 503;
        res.body = Dump({{"error", e.message}});
      };
      if (req.method == "PUT") {
        if (auto set = (*cache)->Set(key, std::string(req.body)); !set) return fail(set.error());
        res.status = 204;
      } else if (req.method == "DELETE") {
        auto del = (*cache)->Delete(key);
        if (!del) return fail(del.error());
        res.status = *del ? 204 : 404;
      } else {
        auto got = (*cache)->Get(key);
        if (!got) return fail(got.error());
        if (!got->has_value()) {
          res.status = 404;
          res.body = Dump({{"error", "not found"}, {"key", key}});
          return;
        }
        res.content_type = "application/octet-stream";
        res.body = std::move(**got);
      }
    };
    // The web page: index.html revalidated on every load (it names the assets), the assets
    // cached for a year since their names change with their content. Only names the folder held
    // when it was read are answered: no path can reach anything else.
    auto page = [this](const HttpRequest&, HttpResponse& res) {
      const auto site = CurrentSite();
      if (site->root.empty()) {
        res.status = 404;
        res.body = Dump({{"error", "the web page is not installed here"},
                         {"code", "no_web_page"},
                         {"hint",
                          "build the web_assets target (scripts/install-deps.sh, then cmake "
                          "--build) or set server.web_root; the HTTP API is at /api/v1/ (see "
                          "README.md, HTTP)"}});
        return;
      }
      res.file = site->index;
      res.content_type = "text/html; charset=utf-8";
      res.headers.emplace_back("Cache-Control", "no-cache");
      res.headers.emplace_back("X-Content-Type-Options", "nosniff");
      res.headers.emplace_back("Referrer-Policy", "same-origin");
      res.headers.emplace_back(
          "Content-Security-Policy",
          "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
          "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
          "frame-ancestors 'none'");
    };
    auto asset = [this](const HttpRequest& req, HttpResponse& res) {
      const auto site = CurrentSite();
      const std::string_view name = req.Param("file");
      const auto type = web::ContentType(name);
      if (!web::IsAssetName(name) || !type || !site->assets.contains(std::string(name))) {
        res.status = 404;
        res.body = Dump({{"error", "no such asset"},
                         {"code", "not_found"},
                         {"hint", "the page names its assets; load / again for the current ones"}});
        return;
      }
      res.file = site->root + "/assets/" + std::string(name);
      res.content_type = std::string(*type);
      res.headers.emplace_back("Cache-Control", "public, max-age=31536000, immutable");
      res.headers.emplace_back("X-Content-Type-Options", "nosniff");
    };
    return {{"GET", "/", page},
            {"GET", "/assets/{file}", asset},
            {"GET", "/health", health},
            {"GET", "/ready", ready},
            {"GET", "/api/v1/health", details},
            {"GET", "/api/v1/cache/{key}", cache_call},
            {"PUT", "/api/v1/cache/{key}", cache_call},
            {"DELETE", "/api/v1/cache/{key}", cache_call}};
  }

  // Reads the web root's listing; warns once when there is no page to serve.
  void LoadSite(const std::string& configured) {
    auto site = std::make_shared<const web::Site>(web::Find(configured));
    if (site->root.empty()) {
      if (!warned_no_site_) {
        std::string tried;
        for (const auto& t : site->tried) tried += (tried.empty() ? "" : ", ") + t;
        logger_->warn(
            log::With("No web page to serve at /: build the web_assets target or set "
                      "server.web_root",
                      {{"tried", tried}}));
        warned_no_site_ = true;
      }
    } else {
      logger_->info(
          log::With("Serving the web page",
                    {{"root", site->root}, {"assets", static_cast<int64_t>(site->assets.size())}}));
    }
    std::lock_guard lock(site_mu_);
    site_ = std::move(site);
  }

  std::shared_ptr<const web::Site> CurrentSite() const {
    std::lock_guard lock(site_mu_);
    return site_;
  }

  // Requests by route template and status class, never by raw path: bounded cardinality.
  static void Collect(const HttpListener& server, std::vector<MetricFamily>& out) {
    MetricFamily requests{"streamgate_http_requests_total",
                          "HTTP requests answered, by route and status class",
                          "counter",
                          {}};
    MetricFamily latency{"streamgate_http_request_duration_seconds",
                         "Time from the first request byte to the last response byte",
                         "histogram",
                         {}};
    static const char* kClasses[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (const auto& r : server.Snapshot()) {
      for (size_t c = 1; c < 6; ++c) {
        if (r.responses[c] == 0) continue;
        requests.samples.push_back(
            {"",
             {{"method", r.method}, {"route", r.route}, {"code", kClasses[c]}},
             static_cast<double>(r.responses[c])});
      }
      if (r.count > 0) {
        AddHistogram(latency, {{"method", r.method}, {"route", r.route}}, server.LatencyBounds(),
                     r.latency_buckets, r.latency_sum_seconds, r.count);
      }
    }
    MetricFamily open{"streamgate_http_open_connections", "Open HTTP connections", "gauge", {}};
    open.samples.push_back({"", {}, static_cast<double>(server.OpenConnections())});
    MetricFamily limit{"streamgate_http_connection_limit",
                       "Most HTTP connections served at once: server.max_connections, or less "
                       "when the descriptor limit leaves less room",
                       "gauge",
                       {}};
    limit.samples.push_back({"", {}, static_cast<double>(server.ConnectionLimit())});
    MetricFamily rejected{"streamgate_http_rejected_total",
                          "Requests refused and connections dropped by the server, by reason",
                          "counter",
                          {}};
    for (const auto& [reason, count] : server.Rejections()) {
      rejected.samples.push_back(
          {"", {{"reason", std::string(reason)}}, static_cast<double>(count)});
    }
    out.push_back(std::move(limit));
    out.push_back(std::move(rejected));
    out.push_back(std::move(requests));
    out.push_back(std::move(latency));
    out.push_back(std::move(open));
  }

  std::shared_ptr<ServiceProxy> Proxy() const {
    std::lock_guard lock(proxy_mu_);
    return proxy_;
  }

  static ProxySettings ProxySettingsFrom(const config::Config& config) {
    ProxySettings p;
    p.response_timeout = config.Duration("server.write_timeout");
    p.read_timeout = config.Duration("server.read_timeout");
    return p;
  }

  ServiceRegistry* services_ = nullptr;
  bool behind_front_ = false;  // a microservice deployment's service, reached through a gateway
  // The front door of a microservice deployment: the proxy to the other services.
  boost::asio::any_io_executor executor_;  // set in the gateway service only
  ProxySettings proxy_settings_;
  std::chrono::milliseconds proxy_refresh_{1000};
  mutable std::mutex proxy_mu_;
  std::shared_ptr<ServiceProxy> proxy_;  // guarded by proxy_mu_; while started
  std::unique_ptr<PeriodicTimer> proxy_timer_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<DaemonView> view_;
  std::shared_ptr<HttpListener> listener_;
  Registration collector_;
  std::atomic<bool> draining_{false};
  std::string web_root_;  // server.web_root as configured
  bool warned_no_site_ = false;
  mutable std::mutex site_mu_;
  std::shared_ptr<const web::Site> site_ = std::make_shared<const web::Site>();  // guarded
};

}  // namespace

std::unique_ptr<Plugin> MakeApiGateway() { return std::make_unique<ApiGateway>(); }

}  // namespace sg::plugins
