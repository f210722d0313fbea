// A plugin context without a daemon, where a new plugin's unit tests start: the real schema's
// defaults (with overrides), a bus that records and delivers at once, a service registry with a
// fake daemon view and a metrics registry, HTTP listeners whose routes are captured and called
// directly (nothing binds), and a small blocking pool.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "config/loader.h"
#include "daemon/plugin_api/daemon_view.h"
#include "daemon/plugin_api/http_listener.h"
#include "daemon/plugin_api/plugin.h"
#include "daemon/plugins/builtin_config.h"

namespace sg::test {

/// Delivers each message at once, on the publishing thread, to subscriptions of the exact
/// subject or a pattern ending in ">"; records what was published. Thread-safe.
class FakeBus final : public Bus {
 public:
  Result<void> Publish(const std::string& subject, std::string data, std::string reply) override {
    std::vector<Handler> handlers;
    {
      std::lock_guard lock(mu_);
      published_.push_back({subject, data, reply});
      for (const auto& [id, sub] : subs_) {
        const std::string& p = sub.first;
        if (p == subject || (p.ends_with(">") && subject.starts_with(p.substr(0, p.size() - 1)))) {
          handlers.push_back(sub.second);
        }
      }
    }
    for (auto& h : handlers) h(Message{subject, data, reply});
    return {};
  }
  Result<SubscriptionId> Subscribe(const std::string& pattern, Handler handler,
                                   size_t /*queue_limit*/) override {
    std::lock_guard lock(mu_);
    subs_.emplace_back(++next_, std::make_pair(pattern, std::move(handler)));
    return next_;
  }
  void Unsubscribe(SubscriptionId id) override {
    std::lock_guard lock(mu_);
    std::erase_if(subs_, [id](const auto& s) { return s.first == id; });
  }
  Result<Message> Request(const std::string& subject, std::string data,
                          std::chrono::milliseconds /*timeout*/) override {
    return Fail(ErrorCode::kUnavailable, "fake bus: no reply to '" + subject + "' (" + data + ")");
  }
  BusStats Stats() const override { return {}; }
  std::vector<SubjectStats> StatsByPrefix() const override { return {}; }
  uint64_t Dropped(SubscriptionId) const override { return 0; }

  std::vector<Message> Published() const {
    std::lock_guard lock(mu_);
    return published_;
  }
  size_t Subscriptions() const {
    std::lock_guard lock(mu_);
    return subs_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<SubscriptionId, std::pair<std::string, Handler>>> subs_;
  std::vector<Message> published_;
  SubscriptionId next_ = 0;
};

/// A response stream that keeps what was written, for routes that answer with StartStream.
/// Thread-safe.
class RecordingStream final : public HttpStream {
 public:
  bool Write(std::string data) override {
    std::lock_guard lock(mu_);
    if (ended_ || gone_) return false;
    text_ += data;
    cv_.notify_all();
    return true;
  }
  void End() override {
    std::lock_guard lock(mu_);
    ended_ = true;
    cv_.notify_all();
  }
  bool ClientGone() const override {
    std::lock_guard lock(mu_);
    return gone_;
  }
  /// The client leaves.
  void Leave() {
    std::lock_guard lock(mu_);
    gone_ = true;
  }
  std::string Text() const {
    std::lock_guard lock(mu_);
    return text_;
  }
  bool Ended() const {
    std::lock_guard lock(mu_);
    return ended_;
  }
  /// Waits until what was written holds `needle` `count` times; false after `timeout`.
  bool WaitFor(const std::string& needle, size_t count = 1,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      size_t n = 0;
      for (size_t at = text_.find(needle); at != std::string::npos;
           at = text_.find(needle, at + 1)) {
        ++n;
      }
      return n >= count;
    });
  }
  bool WaitEnded(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ended_; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string text_;
  bool ended_ = false;
  bool gone_ = false;
};

/// Routes kept as given and called directly: Call("GET", "/api/v1/cache/k") runs the handler of
/// the first route whose pattern matches, or answers 404. Thread-safe to add; call from the test.
class CapturingRouter final : public Router {
 public:
  Result<RouteId> AddRoute(std::string method, std::string pattern, HttpHandler handler) override {
    routes_.push_back({++next_, std::move(method), std::move(pattern), std::move(handler), {}});
    return next_;
  }
  Result<RouteId> AddAsyncRoute(std::string method, std::string pattern,
                                AsyncHttpHandler handler) override {
    routes_.push_back({++next_, std::move(method), std::move(pattern), {}, std::move(handler)});
    return next_;
  }
  Result<RouteId> AddStreamingRoute(std::string, std::string pattern, uint64_t,
                                    StreamingHttpHandler) override {
    return Fail(ErrorCode::kInvalidArgument, "capturing router: no streaming route " + pattern);
  }
  void RemoveRoute(RouteId id) override {
    std::erase_if(routes_, [id](const Route& r) { return r.id == id; });
  }
  void SetCors(const std::string&, CorsPolicy) override {}

  size_t size() const { return routes_.size(); }

  /// `path` may carry a query ("/api/v1/videos?limit=5"). An asynchronous route's answer is
  /// waited for (up to 10 s; then 504).
  HttpResponse Call(const std::string& method, const std::string& target, std::string body = {}) {
    HttpResponse res;
    const size_t q = target.find('?');
    const std::string path = target.substr(0, q);
    const std::string query = q == std::string::npos ? "" : target.substr(q + 1);
    for (const auto& r : routes_) {
      std::vector<std::pair<std::string_view, std::string_view>> params;
      if (r.method != method || !Matches(r.pattern, path, params)) continue;
      HttpRequest req;
      req.method = method;
      req.path = path;
      req.query = query;
      req.body = body;
      req.params = params;
      req.request_id = "test-request";
      if (r.handler) {
        r.handler(req, res);
        return res;
      }
      auto responder = std::make_shared<WaitingResponder>();
      r.async(req, responder);
      return responder->Wait();
    }
    res.status = 404;
    return res;
  }

  /// What an asynchronous route that may stream answered: a stream, or else a response.
  struct Opened {
    HttpResponse head;  // the stream's head, or the answer
    std::shared_ptr<RecordingStream> stream;
  };
  /// Calls an asynchronous GET route and waits (up to 10 s) for its answer or its stream.
  Opened Open(const std::string& path) {
    for (const auto& r : routes_) {
      std::vector<std::pair<std::string_view, std::string_view>> params;
      if (r.method != "GET" || !r.async || !Matches(r.pattern, path, params)) continue;
      HttpRequest req;
      req.method = "GET";
      req.path = path;
      req.params = params;
      req.request_id = "test-request";
      auto responder = std::make_shared<WaitingResponder>();
      r.async(req, responder);
      Opened opened;
      opened.head = responder->Wait();
      opened.stream = responder->Stream();
      return opened;
    }
    Opened none;
    none.head.status = 404;
    return none;
  }

 private:
  struct Route {
    RouteId id;
    std::string method;
    std::string pattern;
    HttpHandler handler;
    AsyncHttpHandler async;
  };
  // Keeps the first answer and wakes the test waiting for it.
  class WaitingResponder final : public HttpResponder {
   public:
    void Send(HttpResponse response) override {
      std::lock_guard lock(mu_);
      if (answer_) return;
      answer_ = std::move(response);
      cv_.notify_all();
    }
    std::shared_ptr<HttpStream> StartStream(HttpResponse head, std::chrono::milliseconds) override {
      std::lock_guard lock(mu_);
      if (answer_) return nullptr;
      answer_ = std::move(head);
      stream_ = std::make_shared<RecordingStream>();
      cv_.notify_all();
      return stream_;
    }
    std::shared_ptr<RecordingStream> Stream() {
      std::lock_guard lock(mu_);
      return stream_;
    }
    bool ClientGone() const override { return false; }
    void OnClientGone(std::function<void()>) override {}
    HttpResponse Wait() {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, std::chrono::seconds(10), [this] { return answer_.has_value(); })) {
        HttpResponse late;
        late.status = 504;
        return late;
      }
      return *answer_;
    }

   private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::optional<HttpResponse> answer_;
    std::shared_ptr<RecordingStream> stream_;
  };
  static std::vector<std::string_view> Split(std::string_view s) {
    std::vector<std::string_view> out;
    while (!s.empty()) {
      s.remove_prefix(1);
      const size_t slash = s.find('/');
      out.push_back(s.substr(0, slash));
      s = slash == std::string_view::npos ? std::string_view() : s.substr(slash);
    }
    return out;
  }
  static bool Matches(std::string_view pattern, std::string_view path,
                      std::vector<std::pair<std::string_view, std::string_view>>& params) {
    const auto want = Split(pattern);
    const auto got = Split(path);
    if (want.size() != got.size()) return false;
    for (size_t i = 0; i < want.size(); ++i) {
      if (want[i].starts_with('{')) {
        params.emplace_back(want[i].substr(1, want[i].size() - 2), got[i]);
      } else if (want[i] != got[i]) {
        return false;
      }
    }
    return true;
  }
  std::vector<Route> routes_;
  RouteId next_ = 0;
};

/// A listener that never binds: Start and Stop flip `running`, its routes are captured.
class FakeListener final : public HttpListener {
 public:
  FakeListener(ListenerSpec what, ListenerSettings settings)
      : spec(std::move(what)), current(std::move(settings)) {}
  Router& router() override { return routes; }
  Result<void> Start() override {
    ++starts;
    is_running = true;
    return {};
  }
  void BeginDrain() override { draining = true; }
  void Stop(std::chrono::steady_clock::time_point) override { is_running = false; }
  Result<void> Check(const ListenerSettings& next) const override {
    if (next.port == taken_port) {
      return Fail(ErrorCode::kIo,
                  spec.config_key + ": port " + std::to_string(next.port) + " is taken");
    }
    return {};
  }
  Result<void> Reconfigure(const ListenerSettings& next) override {
    current = next;
    return {};
  }
  const ListenerSettings& settings() const override { return current; }
  uint16_t port() const override { return is_running ? current.port : 0; }
  bool running() const override { return is_running; }
  uint64_t ConnectionLimit() const override { return current.max_connections; }
  std::vector<std::pair<std::string_view, uint64_t>> Rejections() const override { return {}; }
  const std::vector<double>& LatencyBounds() const override { return bounds; }
  std::vector<HttpRouteStats> Snapshot() const override { return {}; }
  uint64_t OpenConnections() const override { return 0; }

  ListenerSpec spec;
  ListenerSettings current;
  CapturingRouter routes;
  std::vector<double> bounds = {0.1, 1};
  uint16_t taken_port = 1;  // Check refuses this port, as if another process held it
  int starts = 0;
  bool is_running = false;
  bool draining = false;
};

class FakeListenerFactory final : public HttpListenerFactory {
 public:
  std::shared_ptr<HttpListener> Open(ListenerSpec spec, ListenerSettings settings) override {
    auto listener = std::make_shared<FakeListener>(std::move(spec), std::move(settings));
    opened.push_back(listener);
    return listener;
  }
  /// The listener opened under `name` ("http", "metrics"), or null.
  FakeListener* Get(const std::string& name) const {
    for (const auto& l : opened) {
      if (l->spec.name == name) return l.get();
    }
    return nullptr;
  }
  std::vector<std::shared_ptr<FakeListener>> opened;
};

/// What the daemon would say about itself; set `status` as the test needs.
class FakeDaemonView final : public DaemonView {
 public:
  DaemonStatus Status() const override {
    std::lock_guard lock(mu);
    ++reads;
    return status;
  }
  HealthStatus Overall() const override {
    std::lock_guard lock(mu);
    return status.overall;
  }
  mutable std::mutex mu;
  DaemonStatus status;    // guarded by mu
  mutable int reads = 0;  // guarded by mu: Status() calls so far
  int Reads() const {
    std::lock_guard lock(mu);
    return reads;
  }
};

/// Everything a plugin's Init takes, with no daemon behind it. One executor thread.
class FakePluginContext {
 public:
  /// The configuration: every key's default, then `overrides` ("cache.backend=memory").
  explicit FakePluginContext(const std::vector<std::string>& overrides = {}) {
    std::vector<config::Override> sets;
    for (const auto& o : overrides) {
      const size_t eq = o.find('=');
      sets.push_back({o.substr(0, eq), o.substr(eq + 1), "--set " + o});
    }
    auto loaded = config::LoadText(plugins::BuiltinSchema(), "", "test", {}, sets);
    config = std::make_shared<config::Config>(std::move(loaded.config));
    logger =
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
    thread = std::thread([this] { io.run(); });
    blocking = std::make_unique<BlockingPool>(2, 16, logger);
    view->status.version = "test";
    view->status.mode = "monolith";
    services.Provide<DaemonView>("daemon", view);
    services.Provide<MetricsRegistry>("metrics", metrics);
    services.Provide<HttpListenerFactory>("http.listeners", listeners);
    context.config = config;
    context.logger = logger;
    context.make_logger = [this](const std::string&, bool) { return logger; };
    context.bus = &bus;
    context.services = &services;
    context.metrics = metrics.get();
    context.router = &router;
    context.executor = io.get_executor();
    context.blocking = blocking.get();
    context.report_failure = [this](const std::string& reason) {
      std::lock_guard lock(mu);
      failures.push_back(reason);
    };
  }
  ~FakePluginContext() {
    work.reset();
    io.stop();
    thread.join();
  }
  FakePluginContext(const FakePluginContext&) = delete;
  FakePluginContext& operator=(const FakePluginContext&) = delete;

  /// The names of the metric families the registry renders now.
  std::vector<std::string> Families() const {
    std::vector<std::string> names;
    for (const auto& f : metrics->Collect()) names.push_back(f.name);
    return names;
  }

  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(io);
  std::thread thread;
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<spdlog::logger> logger;
  FakeBus bus;
  ServiceRegistry services;
  std::shared_ptr<MetricsRegistry> metrics = std::make_shared<MetricsRegistry>();
  std::shared_ptr<FakeListenerFactory> listeners = std::make_shared<FakeListenerFactory>();
  std::shared_ptr<FakeDaemonView> view = std::make_shared<FakeDaemonView>();
  CapturingRouter router;  // "http.router" as another plugin sees it
  std::unique_ptr<BlockingPool> blocking;
  PluginContext context;
  std::mutex mu;
  std::vector<std::string> failures;  // guarded by mu: what report_failure was told
};

}  // namespace sg::test
