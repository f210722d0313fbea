#include "daemon/kernel/plugin_scope.h"

#include <vector>

#include <nlohmann/json.hpp>

namespace sg::kernel {

struct PluginScope::Shared {
  explicit Shared(std::string o) : owner(std::move(o)) {}

  // Keeps `undo` until the plugin undoes it itself (Drop) or the kernel does (EndRun, EndAll).
  void Track(const std::string& key, Registration undo) {
    std::lock_guard lock(mu);
    (in_run ? run : init).insert_or_assign(key, std::move(undo));
  }
  void Drop(const std::string& key) {
    std::lock_guard lock(mu);
    for (auto* list : {&run, &init}) {
      if (auto it = list->find(key); it != list->end()) {
        it->second.Release();
        list->erase(it);
      }
    }
  }
  size_t Count(std::string_view kind) const {
    std::lock_guard lock(mu);
    size_t n = 0;
    for (const auto* list : {&run, &init}) {
      for (const auto& [key, r] : *list) n += key.starts_with(kind) ? 1 : 0;
    }
    return n;
  }

  const std::string owner;
  std::atomic<bool> running{false};
  mutable std::mutex mu;
  bool in_run = false;                       // guarded by mu
  std::map<std::string, Registration> init;  // guarded by mu: kept across restarts
  std::map<std::string, Registration> run;   // guarded by mu: undone at Stop
};

namespace {

// Moves a list out under its lock and undoes it outside, since an undo may call back (Drop).
void UndoAll(std::mutex& mu, std::map<std::string, Registration>& list) {
  std::map<std::string, Registration> taken;
  {
    std::lock_guard lock(mu);
    taken.swap(list);
  }
  for (auto it = taken.rbegin(); it != taken.rend(); ++it) it->second.Reset();
}

HttpResponse NotRunning(const std::string& owner) {
  HttpResponse res;
  res.status = 503;
  res.body = nlohmann::json{{"error", NotRunningMessage(owner)}}.dump();
  return res;
}

}  // namespace

class PluginScope::ScopedBus final : public Bus {
 public:
  ScopedBus(std::shared_ptr<Shared> shared, Bus& bus) : shared_(std::move(shared)), bus_(bus) {}

  Result<void> Publish(const std::string& subject, std::string data, std::string reply) override {
    return bus_.Publish(subject, std::move(data), std::move(reply));
  }
  Result<SubscriptionId> Subscribe(const std::string& pattern, Handler handler,
                                   size_t queue_limit) override {
    auto id = bus_.Subscribe(
        pattern,
        [shared = shared_, handler = std::move(handler)](const Message& m) {
          if (shared->running) handler(m);
        },
        queue_limit);
    if (id)
      shared_->Track(Key(*id), Registration([&bus = bus_, id = *id] { bus.Unsubscribe(id); }));
    return id;
  }
  void Unsubscribe(SubscriptionId id) override {
    shared_->Drop(Key(id));
    bus_.Unsubscribe(id);
  }
  Result<Message> Request(const std::string& subject, std::string data,
                          std::chrono::milliseconds timeout) override {
    return bus_.Request(subject, std::move(data), timeout);
  }
  BusStats Stats() const override { return bus_.Stats(); }
  std::vector<SubjectStats> StatsByPrefix() const override { return bus_.StatsByPrefix(); }
  uint64_t Dropped(SubscriptionId id) const override { return bus_.Dropped(id); }

 private:
  static std::string Key(SubscriptionId id) { return "bus:" + std::to_string(id); }
  std::shared_ptr<Shared> shared_;
  Bus& bus_;
};

class PluginScope::ScopedRouter final : public Router {
 public:
  ScopedRouter(std::shared_ptr<Shared> shared, std::shared_ptr<Router> router)
      : shared_(std::move(shared)), router_(std::move(router)) {}

  Result<RouteId> AddRoute(std::string method, std::string pattern, HttpHandler handler) override {
    return Tracked(router_->AddRoute(std::move(method), std::move(pattern),
                                     [shared = shared_, handler = std::move(handler)](
                                         const HttpRequest& req, HttpResponse& res) {
                                       if (!shared->running) {
                                         res = NotRunning(shared->owner);
                                         return;
                                       }
                                       handler(req, res);
                                     }));
  }
  Result<RouteId> AddAsyncRoute(std::string method, std::string pattern,
                                AsyncHttpHandler handler) override {
    return Tracked(router_->AddAsyncRoute(
        std::move(method), std::move(pattern),
        [shared = shared_, handler = std::move(handler)](const HttpRequest& req,
                                                         std::shared_ptr<HttpResponder> responder) {
          if (!shared->running) return responder->Send(NotRunning(shared->owner));
          handler(req, std::move(responder));
        }));
  }
  Result<RouteId> AddStreamingRoute(std::string method, std::string pattern,
                                    uint64_t max_body_bytes,
                                    StreamingHttpHandler handler) override {
    return Tracked(router_->AddStreamingRoute(
        std::move(method), std::move(pattern), max_body_bytes,
        [shared = shared_, handler = std::move(handler)](const HttpRequest& req,
                                                         std::shared_ptr<HttpBodyReader> body,
                                                         std::shared_ptr<HttpResponder> responder) {
          if (!shared->running) return responder->Send(NotRunning(shared->owner));
          handler(req, std::move(body), std::move(responder));
        }));
  }
  void RemoveRoute(RouteId id) override {
    shared_->Drop(Key(id));
    router_->RemoveRoute(id);
  }
  void SetCors(const std::string& pattern, CorsPolicy policy) override {
    router_->SetCors(pattern, std::move(policy));
  }

 private:
  static std::string Key(RouteId id) { return "route:" + std::to_string(id); }
  Result<RouteId> Tracked(Result<RouteId> id) {
    if (id) {
      shared_->Track(Key(*id),
                     Registration([router = router_, id = *id] { router->RemoveRoute(id); }));
    }
    return id;
  }
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<Router> router_;
};

PluginScope::PluginScope(std::string owner, Bus& bus, MetricsRegistry* metrics,
                         std::shared_ptr<Router> router)
    : shared_(std::make_shared<Shared>(std::move(owner))),
      bus_(std::make_unique<ScopedBus>(shared_, bus)) {
  if (metrics != nullptr) {
    // The registry's state outlives the daemon's handle on it: the undo holds a view of it.
    std::shared_ptr<MetricsRegistry> all = metrics->ForOwner("");
    metrics_ = metrics->ForOwner(
        shared_->owner, [shared = std::weak_ptr<Shared>(shared_), all](int id, bool added) {
          auto s = shared.lock();
          if (s == nullptr) return;
          const std::string key = "metrics:" + std::to_string(id);
          if (added) {
            s->Track(key, Registration([all, id] { all->Remove(id); }));
          } else {
            s->Drop(key);
          }
        });
    metrics_->Suspend(shared_->owner);
  }
  if (router != nullptr) router_ = std::make_unique<ScopedRouter>(shared_, std::move(router));
}

PluginScope::~PluginScope() { EndAll(); }

Bus& PluginScope::bus() { return *bus_; }
MetricsRegistry* PluginScope::metrics() { return metrics_.get(); }
Router* PluginScope::router() { return router_.get(); }

void PluginScope::SetRunning(bool running) {
  shared_->running = running;
  if (!metrics_) return;
  if (running) {
    metrics_->Resume(shared_->owner);
  } else {
    metrics_->Suspend(shared_->owner);
  }
}

void PluginScope::BeginRun() {
  std::lock_guard lock(shared_->mu);
  shared_->in_run = true;
}

void PluginScope::EndRun() {
  {
    std::lock_guard lock(shared_->mu);
    shared_->in_run = false;
  }
  UndoAll(shared_->mu, shared_->run);
}

void PluginScope::EndAll() {
  EndRun();
  UndoAll(shared_->mu, shared_->init);
}

PluginScope::Counts PluginScope::counts() const {
  return Counts{shared_->Count("bus:"), shared_->Count("metrics:"), shared_->Count("route:")};
}

}  // namespace sg::kernel
