#include "daemon/plugins/builtin.h"

#include "daemon/plugins/api_gateway/api_gateway.h"

namespace sg::plugins {

std::vector<std::unique_ptr<Plugin>> BuiltinPlugins() {
  // Each service plugin adds itself here once it is built; the rest of the nine are to come.
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(MakeApiGateway());
  return plugins;
}

}  // namespace sg::plugins
