// The failure path of the kernel: marking a plugin failed, stopping what depends on it, and
// starting it again by its restart policy, after a delay that doubles each time.
#include "daemon/kernel/restart_backoff.h"

#include <algorithm>

#include <fmt/format.h>

#include "daemon/kernel/slot.h"

namespace sg::kernel {

std::chrono::milliseconds RestartDelay(const RestartPolicy& policy, int restarts) {
  auto delay = policy.backoff;
  for (int i = 0; i < restarts && delay < policy.max_backoff; ++i) delay *= 2;
  return std::min(delay, policy.max_backoff);
}

void Kernel::MarkFailed(Slot& slot, const std::string& reason) {
  SetState(slot, PluginState::kFailed, reason);
  logger_->error(log::With("Plugin failed", {{"name", slot.name}, {"reason", reason}}));
  std::vector<Slot*> dependents;
  {
    std::lock_guard lock(mu_);
    dependents = RunningDependents(slot);
  }
  const Deadline deadline = Clock::now() + options_.call_timeout;
  for (auto it = dependents.rbegin(); it != dependents.rend(); ++it) {
    StopSlot(**it, deadline, fmt::format("dependency '{}' failed", slot.name));
    std::lock_guard lock(mu_);
    (*it)->blocked = true;
  }
  ScheduleRestart(slot);
}

void Kernel::ScheduleRestart(Slot& slot) {
  std::lock_guard lock(mu_);
  if (shutting_down_ || slot.policy.mode == RestartPolicy::Mode::kNever) return;
  if (slot.restarts >= slot.policy.limit) {
    slot.reason += fmt::format(" (gave up after {} restarts)", slot.restarts);
    logger_->error(log::With("Plugin restart limit reached",
                             {{"name", slot.name}, {"restarts", slot.restarts}}));
    return;
  }
  const auto delay = RestartDelay(slot.policy, slot.restarts);
  slot.next_restart = std::chrono::system_clock::now() + delay;
  if (!slot.restart_timer)
    slot.restart_timer = std::make_unique<boost::asio::steady_timer>(executor_);
  slot.restart_timer->expires_after(delay);
  logger_->info(
      log::With("Plugin restart scheduled", {{"name", slot.name},
                                             {"in_ms", static_cast<int64_t>(delay.count())},
                                             {"attempt", slot.restarts + 1}}));
  slot.restart_timer->async_wait([this, name = slot.name](const boost::system::error_code& ec) {
    if (ec) return;
    std::lock_guard op(op_mu_);
    Slot* target = nullptr;
    {
      std::lock_guard state_lock(mu_);
      target = Find(name);
      if (shutting_down_ || target == nullptr || target->state != PluginState::kFailed) return;
      ++target->restarts;
      target->next_restart.reset();
    }
    logger_->info(log::With("Restarting plugin", {{"name", name}, {"attempt", target->restarts}}));
    if (InitSlot(*target) && StartSlot(*target)) StartBlockedDependents();
  });
}

void Kernel::StartBlockedDependents() {
  for (bool progress = true; progress;) {
    progress = false;
    Slot* next = nullptr;
    {
      std::lock_guard lock(mu_);
      for (const auto& name : start_order_) {
        Slot* slot = Find(name);
        if (!slot->blocked || slot->state != PluginState::kStopped) continue;
        const bool ready = std::all_of(
            slot->dependencies.begin(), slot->dependencies.end(),
            [&](const std::string& d) { return Find(d)->state == PluginState::kRunning; });
        if (ready) {
          next = slot;
          break;
        }
      }
    }
    if (next != nullptr && InitSlot(*next) && StartSlot(*next)) progress = true;
  }
}

void Kernel::OnFailure(const std::string& name, const std::string& reason) {
  std::lock_guard op(op_mu_);
  Slot* slot = nullptr;
  {
    std::lock_guard lock(mu_);
    slot = Find(name);
    if (slot == nullptr || slot->state != PluginState::kRunning) return;
  }
  // Let the plugin release what it holds before it is marked failed and maybe restarted.
  StopSlot(*slot, Clock::now() + options_.call_timeout, reason);
  MarkFailed(*slot, reason);
}

}  // namespace sg::kernel
