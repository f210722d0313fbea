// The plugins' dependency graph: the order they start in, and who depends on whom. Pure
// functions over names, so that they are tested without plugins.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace sg::kernel {

struct PluginNode {
  std::string name;
  std::vector<std::string> dependencies;
};

/// Indexes into `nodes` such that each plugin comes after its dependencies, otherwise in the
/// order given. kConfig naming the plugins for a dependency that is not there, or for a cycle
/// ("plugin dependency cycle: a -> b -> a").
Result<std::vector<size_t>> StartOrder(const std::vector<PluginNode>& nodes);

/// The plugins in `start_order` that depend on `name`, directly or through others, in that order.
std::vector<std::string> DependentsOf(const std::string& name,
                                      const std::vector<PluginNode>& start_order);

}  // namespace sg::kernel
