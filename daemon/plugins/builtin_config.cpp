#include "daemon/plugins/builtin_config.h"

#include "daemon/plugins/api_gateway/api_gateway_config.h"
#include "daemon/plugins/auth/auth_config.h"
#include "daemon/plugins/cache/cache_config.h"
#include "daemon/plugins/metadata/metadata_config.h"
#include "daemon/plugins/monitor/monitor_config.h"
#include "daemon/plugins/streaming/streaming_config.h"
#include "daemon/plugins/transcoder/transcoder_config.h"
#include "daemon/plugins/upload/upload_config.h"
#include "daemon/plugins/worker/worker_config.h"

namespace sg::plugins {

std::vector<config::ConfigDeclaration> BuiltinConfigs() {
  return {ApiGatewayConfig(), CacheConfig(),     MonitorConfig(),
          MetadataConfig(),   WorkerConfig(),    UploadConfig(),
          TranscoderConfig(), StreamingConfig(), AuthConfig()};
}

const config::Schema& BuiltinSchema() {
  static const config::Schema schema([] {
    std::vector<config::ConfigDeclaration> all = {config::CoreConfig()};
    for (auto& declaration : BuiltinConfigs()) all.push_back(std::move(declaration));
    return all;
  }());
  return schema;
}

}  // namespace sg::plugins
