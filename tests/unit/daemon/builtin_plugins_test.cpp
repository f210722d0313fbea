// The plugins built into streamgated are named from the one list of services, common/services.h,
// which the schema, the CLI and the completion scripts follow.
#include <algorithm>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "common/services.h"
#include "daemon/plugins/builtin.h"

namespace sg::plugins {

TEST_CASE("every built-in plugin is named after a service of common/services.h, once",
          "[plugins][services]") {
  const auto plugins = BuiltinPlugins();
  REQUIRE_FALSE(plugins.empty());

  std::set<std::string> seen;
  for (const auto& plugin : plugins) {
    const std::string name(plugin->Name());
    INFO("built-in plugin '" << name << "' (daemon/plugins/builtin.cpp): not one of "
                             << "kServiceNames in common/services.h, or listed twice");
    CHECK(std::ranges::find(kServiceNames, name) != kServiceNames.end());
    CHECK(seen.insert(name).second);
  }
}

}  // namespace sg::plugins
