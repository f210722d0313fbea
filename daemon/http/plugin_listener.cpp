#include "daemon/http/plugin_listener.h"

#include "daemon/http/router.h"
#include "daemon/http/server.h"

namespace sg::http {
namespace {

class PluginListener final : public HttpListener {
 public:
  PluginListener(ListenerSpec spec, ListenerSettings settings, std::shared_ptr<Listeners> urls,
                 std::shared_ptr<log::AccessLog> access_log)
      : spec_(std::move(spec)),
        settings_(std::make_shared<const ServerSettings>(std::move(settings))),
        urls_(std::move(urls)),
        server_(routes_, spec_.logger, std::move(access_log)) {}

  Router& router() override { return routes_; }

  Result<void> Start() override {
    if (auto started = server_.Start(settings_); !started) return started.error();
    Publish();
    return {};
  }
  void BeginDrain() override { server_.BeginDrain(); }
  void Stop(std::chrono::steady_clock::time_point deadline) override {
    if (urls_) urls_->Remove(spec_.name);
    server_.Stop(deadline);
  }

  Result<void> Check(const ListenerSettings& next) const override {
    if (auto free = CheckAddressChange(*settings_, next); !free) {
      return free.error().Wrap(spec_.config_key);
    }
    return {};
  }
  Result<void> Reconfigure(const ListenerSettings& next) override {
    auto settings = std::make_shared<const ServerSettings>(next);
    if (auto updated = server_.Update(settings); !updated) return updated.error();
    settings_ = std::move(settings);
    Publish();
    return {};
  }

  const ListenerSettings& settings() const override { return *settings_; }
  uint16_t port() const override { return server_.port(); }
  bool running() const override { return server_.running(); }
  uint64_t ConnectionLimit() const override { return server_.ConnectionLimit(); }
  std::vector<std::pair<std::string_view, uint64_t>> Rejections() const override {
    return server_.Rejections();
  }
  const std::vector<double>& LatencyBounds() const override { return server_.LatencyBounds(); }
  std::vector<HttpRouteStats> Snapshot() const override { return server_.Snapshot(); }
  uint64_t OpenConnections() const override { return server_.OpenConnections(); }

 private:
  // The bound port (port 0 picks one) goes to the daemon's status.
  void Publish() {
    if (urls_) urls_->Set(spec_.name, settings_->host, server_.port(), spec_.path);
  }

  const ListenerSpec spec_;
  std::shared_ptr<const ServerSettings> settings_;
  std::shared_ptr<Listeners> urls_;
  RouteTable routes_;
  HttpServer server_;
};

}  // namespace

std::shared_ptr<HttpListener> ListenerFactory::Open(ListenerSpec spec, ListenerSettings settings) {
  return std::make_shared<PluginListener>(std::move(spec), std::move(settings), listeners_,
                                          access_log_);
}

}  // namespace sg::http
