#include "daemon/plugins/builtin.h"

namespace sg::plugins {

std::vector<std::unique_ptr<Plugin>> BuiltinPlugins() {
  std::vector<std::unique_ptr<Plugin>> plugins;
  // None of the nine service plugins is built yet; each one adds itself to this list.
  return plugins;
}

}  // namespace sg::plugins
