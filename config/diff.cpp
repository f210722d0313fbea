#include "config/diff.h"

namespace sg::config {

std::vector<KeyChange> Diff(const Config& before, const Config& after) {
  std::vector<KeyChange> changes;
  for (const auto& spec : after.schema().keys()) {
    if (before.Get(spec.path).value == after.Get(spec.path).value) continue;
    changes.push_back({std::string(spec.path), before.Show(spec.path), after.Show(spec.path),
                       spec.reload == Reload::kRestartDaemon});
  }
  return changes;
}

}  // namespace sg::config
