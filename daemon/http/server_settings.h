// What the HTTP server is configured with: the plugin API's listener settings (the server.*
// keys, for the api-gateway), under the server's own name.
#pragma once

#include "daemon/plugin_api/http_listener.h"

namespace sg::http {

using ServerSettings = ListenerSettings;

}  // namespace sg::http
