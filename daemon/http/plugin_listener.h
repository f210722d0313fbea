// The plugin API's HTTP listeners, made by the daemon's HTTP server: what gateway and monitor
// open through "http.listeners", so that the address check and the reconfigure live here once.
#pragma once

#include <memory>

#include "daemon/plugin_api/http_listener.h"
#include "daemon/plugin_api/listeners.h"

namespace sg::http {

/// Opens listeners whose URLs go into `listeners` (the daemon's status); it may be null.
class ListenerFactory final : public HttpListenerFactory {
 public:
  explicit ListenerFactory(std::shared_ptr<Listeners> listeners)
      : listeners_(std::move(listeners)) {}
  std::shared_ptr<HttpListener> Open(ListenerSpec spec, ListenerSettings settings) override;

 private:
  std::shared_ptr<Listeners> listeners_;
};

}  // namespace sg::http
