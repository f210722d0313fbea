// The plugin API's HTTP listeners, made by the daemon's HTTP server: what gateway and monitor
// open through "http.listeners", so that the address check and the reconfigure live here once.
#pragma once

#include <memory>

#include "common/access_log.h"
#include "daemon/plugin_api/http_listener.h"
#include "daemon/plugin_api/listeners.h"

namespace sg::http {

/// Opens listeners whose URLs go into `listeners` (the daemon's status) and whose requests go
/// into `access_log` when their settings say so; either may be null.
class ListenerFactory final : public HttpListenerFactory {
 public:
  ListenerFactory(std::shared_ptr<Listeners> listeners, std::shared_ptr<log::AccessLog> access_log)
      : listeners_(std::move(listeners)), access_log_(std::move(access_log)) {}
  std::shared_ptr<HttpListener> Open(ListenerSpec spec, ListenerSettings settings) override;

 private:
  std::shared_ptr<Listeners> listeners_;
  std::shared_ptr<log::AccessLog> access_log_;
};

}  // namespace sg::http
