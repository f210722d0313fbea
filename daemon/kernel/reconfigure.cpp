// Reloads: a new configuration offered to the running plugins, all or nothing, and applied only
// to the plugins that read a key that changed.
#include <algorithm>

#include "config/schema.h"
#include "daemon/kernel/call.h"
#include "daemon/kernel/slot.h"

namespace sg::kernel {
namespace {

// Whether a plugin reads any of `keys`, by the keys and sections it declares.
bool ReadsAnyOf(const Plugin& plugin, const std::vector<std::string_view>& keys) {
  const std::vector<std::string> reads = plugin.ConfigKeys();
  if (reads.empty()) return !keys.empty();
  return std::any_of(keys.begin(), keys.end(), [&](std::string_view key) {
    return std::any_of(reads.begin(), reads.end(), [&](const std::string& r) {
      return r.ends_with('.') ? key.starts_with(r) : key == r;
    });
  });
}

}  // namespace

Kernel::ReconfigureOutcome Kernel::Reconfigure(
    const std::shared_ptr<const config::Config>& config) {
  std::lock_guard op(op_mu_);
  std::vector<Slot*> running;
  {
    std::lock_guard lock(mu_);
    for (auto& slot : slots_) {
      if (slot->state == PluginState::kRunning) running.push_back(slot.get());
    }
  }
  ReconfigureOutcome outcome;
  // Phase one: every plugin checks; one refusal rejects the whole reload.
  bool rejected = false;
  for (Slot* slot : running) {
    auto check = CallWithTimeout<Result<void>>(
        [plugin = slot->plugin, config] { return plugin->CheckConfig(*config); },
        options_.call_timeout);
    std::string refusal;
    if (auto failure = FailureOf(check, "config check", options_.call_timeout)) {
      refusal = failure->message;
    }
    if (!refusal.empty()) {
      outcome.plugins[slot->name] = "rejected: " + refusal;
      rejected = true;
    }
  }
  if (rejected) {
    for (Slot* slot : running) outcome.plugins.emplace(slot->name, "not applied");
    return outcome;
  }
  // Phase two: apply, to the plugins whose keys changed.
  std::vector<std::string_view> changed;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, entry] : config->entries()) {
      if (!config_ || config_->Get(key).value != entry.value) changed.push_back(key);
    }
    config_ = config;
    for (auto& slot : slots_) {
      if (slot->context) slot->context->config = config;
    }
  }
  outcome.applied = true;
  for (Slot* slot : running) {
    if (!ReadsAnyOf(*slot->plugin, changed)) {
      outcome.plugins[slot->name] = "unchanged";
      continue;
    }
    auto applied = CallWithTimeout<Result<bool>>(
        [plugin = slot->plugin, config] { return plugin->Reconfigure(config); },
        options_.call_timeout);
    if (auto failure = FailureOf(applied, "reconfigure", options_.call_timeout)) {
      // A plugin that could not take the new settings is stopped and failed, so that its state
      // is the truth (and its restart policy applies), rather than left serving the old ones.
      StopSlot(*slot, Clock::now() + options_.call_timeout, failure->reason);
      MarkFailed(*slot, failure->reason);
      outcome.plugins[slot->name] = "failed: " + failure->message;
    } else {
      outcome.plugins[slot->name] = applied.value->value() ? "applied" : "restart required";
    }
  }
  return outcome;
}

}  // namespace sg::kernel
