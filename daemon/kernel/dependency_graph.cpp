#include "daemon/kernel/dependency_graph.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "common/strings.h"

namespace sg::kernel {

Result<std::vector<size_t>> StartOrder(const std::vector<PluginNode>& nodes) {
  std::map<std::string, size_t> index;
  std::vector<std::string> names;
  for (size_t i = 0; i < nodes.size(); ++i) {
    index.emplace(nodes[i].name, i);
    names.push_back(nodes[i].name);
  }
  for (const auto& node : nodes) {
    for (const auto& dep : node.dependencies) {
      if (!index.contains(dep)) {
        return Fail(ErrorCode::kConfig,
                    fmt::format("plugin '{}' depends on '{}', which is not registered{}", node.name,
                                dep, DidYouMean(dep, names)));
      }
    }
  }
  // Depth-first topological sort in the order given; a grey node seen again is a cycle.
  enum class Mark { kWhite, kGrey, kBlack };
  std::vector<Mark> marks(nodes.size(), Mark::kWhite);
  std::vector<size_t> order;
  std::vector<std::string> path;
  std::function<std::optional<Error>(size_t)> visit = [&](size_t i) -> std::optional<Error> {
    if (marks[i] == Mark::kBlack) return std::nullopt;
    if (marks[i] == Mark::kGrey) {
      auto first = std::find(path.begin(), path.end(), nodes[i].name);
      std::vector<std::string> cycle(first, path.end());
      cycle.push_back(nodes[i].name);
      return Fail(ErrorCode::kConfig, "plugin dependency cycle: " + Join(cycle, " -> "));
    }
    marks[i] = Mark::kGrey;
    path.push_back(nodes[i].name);
    for (const auto& dep : nodes[i].dependencies) {
      if (auto error = visit(index.at(dep))) return error;
    }
    path.pop_back();
    marks[i] = Mark::kBlack;
    order.push_back(i);
    return std::nullopt;
  };
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (auto error = visit(i)) return *error;
  }
  return order;
}

std::vector<std::string> DependentsOf(const std::string& name,
                                      const std::vector<PluginNode>& start_order) {
  std::set<std::string> needed = {name};
  std::vector<std::string> out;
  for (const auto& node : start_order) {
    if (node.name == name) continue;
    const bool depends = std::any_of(node.dependencies.begin(), node.dependencies.end(),
                                     [&](const std::string& d) { return needed.contains(d); });
    if (!depends) continue;
    needed.insert(node.name);
    out.push_back(node.name);
  }
  return out;
}

}  // namespace sg::kernel
