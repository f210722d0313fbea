#include "daemon/plugins/builtin.h"

#include "daemon/plugins/api_gateway/api_gateway.h"
#include "daemon/plugins/auth/auth_plugin.h"
#include "daemon/plugins/cache/cache_plugin.h"
#include "daemon/plugins/metadata/metadata_plugin.h"
#include "daemon/plugins/monitor/monitor.h"
#include "daemon/plugins/streaming/streaming_plugin.h"
#include "daemon/plugins/transcoder/transcoder_plugin.h"
#include "daemon/plugins/upload/upload_plugin.h"
#include "daemon/plugins/worker/worker_plugin.h"

namespace sg::plugins {

std::vector<std::unique_ptr<Plugin>> BuiltinPlugins() {
  // One line per plugin.
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(MakeApiGateway());
  plugins.push_back(MakeCache());
  plugins.push_back(MakeMonitor());
  plugins.push_back(MakeMetadata());
  plugins.push_back(MakeWorkerPlugin());
  plugins.push_back(MakeUpload());
  plugins.push_back(MakeTranscoder());
  plugins.push_back(MakeStreaming());
  plugins.push_back(MakeAuth());
  return plugins;
}

}  // namespace sg::plugins
