// Handles that undo a registration (a route, a metrics collector, a bus subscription) when they
// go, so that a plugin stopped and started again never registers twice and leaves nothing behind.
// The kernel also undoes, at Stop, whatever a plugin registered through its context while it ran.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"
#include "daemon/plugin_api/bus.h"
#include "daemon/plugin_api/http.h"
#include "daemon/plugin_api/metrics.h"
#include "daemon/plugin_api/services.h"

namespace sg {

/// Undoes one registration when destroyed or Reset, once. Move-only; not thread-safe itself.
class Registration {
 public:
  Registration() = default;
  explicit Registration(std::function<void()> undo) : undo_(std::move(undo)) {}
  ~Registration() { Reset(); }
  Registration(Registration&& other) noexcept : undo_(std::exchange(other.undo_, nullptr)) {}
  Registration& operator=(Registration&& other) noexcept {
    if (this != &other) {
      Reset();
      undo_ = std::exchange(other.undo_, nullptr);
    }
    return *this;
  }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

  /// Undoes the registration now; later calls do nothing.
  void Reset() {
    if (auto undo = std::exchange(undo_, nullptr)) undo();
  }
  /// Forgets the registration without undoing it (someone else undid it already).
  void Release() { undo_ = nullptr; }
  bool active() const { return undo_ != nullptr; }

 private:
  std::function<void()> undo_;
};

/// Subscribes `handler` to `pattern`; the handle unsubscribes. `bus` must outlive the handle.
inline Result<Registration> Subscribe(Bus& bus, const std::string& pattern, Bus::Handler handler,
                                      size_t queue_limit = 1024) {
  auto id = bus.Subscribe(pattern, std::move(handler), queue_limit);
  if (!id) return id.error();
  return Registration([&bus, id = *id] { bus.Unsubscribe(id); });
}

/// Adds a route; the handle removes it. `router` must outlive the handle.
inline Result<Registration> AddRoute(Router& router, std::string method, std::string pattern,
                                     HttpHandler handler) {
  auto id = router.AddRoute(std::move(method), std::move(pattern), std::move(handler));
  if (!id) return id.error();
  return Registration([&router, id = *id] { router.RemoveRoute(id); });
}

/// Adds a metrics collector; the handle removes it. `metrics` must outlive the handle.
inline Registration AddCollector(MetricsRegistry& metrics, MetricsRegistry::Collector collector) {
  return Registration([&metrics, id = metrics.Add(std::move(collector))] { metrics.Remove(id); });
}

}  // namespace sg
