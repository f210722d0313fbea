#include "config/diff.h"

namespace sg::config {

bool NeedsDaemonRestart(std::string_view key) {
  return key == "app.mode" || key == "app.name" || key == "control.endpoint" ||
         key.starts_with("daemon.blocking_") || key.starts_with("nats.") ||
         (key.starts_with("logging.") && key != "logging.level");
}

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
