#include "daemon/kernel/kernel.h"

#include <algorithm>
#include <future>
#include <set>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "common/strings.h"
#include "config/schema.h"
#include "daemon/kernel/call.h"
#include "daemon/kernel/slot.h"

namespace sg::kernel {

std::string_view PluginStateName(PluginState state) {
  switch (state) {
    case PluginState::kRegistered:
      return "registered";
    case PluginState::kInitialized:
      return "initialized";
    case PluginState::kStarting:
      return "starting";
    case PluginState::kRunning:
      return "running";
    case PluginState::kStopping:
      return "stopping";
    case PluginState::kStopped:
      return "stopped";
    case PluginState::kFailed:
      return "failed";
  }
  return "failed";
}

Kernel::Kernel(KernelOptions options, std::shared_ptr<const config::Config> config,
               log::LogHub& logs, Bus& bus, ServiceRegistry& services,
               boost::asio::any_io_executor executor)
    : options_(std::move(options)),
      config_(std::move(config)),
      logs_(logs),
      logger_(logs.Get("kernel")),
      bus_(bus),
      services_(services),
      executor_(std::move(executor)) {}

Kernel::~Kernel() {
  std::lock_guard lock(mu_);
  for (auto& slot : slots_) {
    if (slot->restart_timer) slot->restart_timer->cancel();
  }
  // Init's registrations go too, in reverse start order, while every plugin (the one that
  // offers the router, say) is still there.
  for (auto it = start_order_.rbegin(); it != start_order_.rend(); ++it) {
    if (Slot* slot = Find(*it); slot->scope) slot->scope->EndAll();
  }
  for (auto& slot : slots_) {
    if (slot->scope) slot->scope->EndAll();
  }
}

Result<PluginScope::Counts> Kernel::Registrations(const std::string& name) const {
  std::lock_guard lock(mu_);
  const Slot* slot = Find(name);
  if (slot == nullptr) {
    return NoSuchPlugin(name);
  }
  return slot->scope ? slot->scope->counts() : PluginScope::Counts{};
}

Result<void> Kernel::Register(std::unique_ptr<sg::Plugin> plugin, RestartPolicy policy) {
  SG_CHECK(plugin != nullptr);
  auto slot = std::make_unique<Slot>();
  try {
    slot->name = std::string(plugin->Name());
    slot->version = std::string(plugin->Version());
    slot->dependencies = plugin->Dependencies();
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, std::string("plugin description threw: ") + e.what());
  }
  slot->plugin = std::move(plugin);
  slot->policy = policy;
  std::lock_guard lock(mu_);
  if (Find(slot->name) != nullptr) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("plugin '{}' is registered twice", slot->name));
  }
  logger_->info(log::With("Plugin registered", {{"name", slot->name}, {"version", slot->version}}));
  slots_.push_back(std::move(slot));
  return {};
}

Kernel::Slot* Kernel::Find(const std::string& name) const {
  for (const auto& slot : slots_) {
    if (slot->name == name) return slot.get();
  }
  return nullptr;
}

std::vector<PluginNode> Kernel::Nodes(bool in_start_order) const {
  std::vector<PluginNode> nodes;
  if (in_start_order) {
    for (const auto& name : start_order_) nodes.push_back({name, Find(name)->dependencies});
  } else {
    for (const auto& slot : slots_) nodes.push_back({slot->name, slot->dependencies});
  }
  return nodes;
}

Error Kernel::NoSuchPlugin(const std::string& name) const {
  return Fail(ErrorCode::kNotFound,
              fmt::format("no plugin named '{}'{}", name, DidYouMean(name, Names())));
}

std::vector<std::string> Kernel::Names() const {
  std::vector<std::string> names;
  for (const auto& slot : slots_) names.push_back(slot->name);
  return names;
}

void Kernel::SetState(Slot& slot, PluginState state, std::string reason) {
  // A plugin's services serve while it runs, and answer "not running" otherwise.
  if (state == PluginState::kRunning) {
    services_.Resume(slot.name);
  } else if (state == PluginState::kStopped || state == PluginState::kFailed) {
    services_.Suspend(slot.name);
  }
  std::lock_guard lock(mu_);
  slot.state = state;
  slot.reason = std::move(reason);
  slot.since = std::chrono::system_clock::now();
}

PluginInfo Kernel::Snapshot(const Slot& slot) const {
  return PluginInfo{slot.name,  slot.version,  slot.dependencies, slot.state, slot.reason,
                    slot.since, slot.restarts, slot.next_restart, slot.policy};
}

bool Kernel::InitSlot(Slot& slot, std::optional<Error>* config_error) {
  if (slot.initialized) return true;
  slot.context = std::make_shared<PluginContext>();
  slot.context->config = config_;
  slot.context->logger = logs_.Get(slot.name);
  slot.context->make_logger = [this](const std::string& component, bool async) {
    return async ? logs_.GetAsync(component) : logs_.Get(component);
  };
  // What the plugin registers goes through views that the kernel owns for it: a failed Init's
  // registrations are undone before the next try, and a stopped plugin serves nothing.
  slot.scope.reset();
  std::shared_ptr<Router> router;
  if (auto found = services_.Find<Router>("http.router")) router = *found;
  std::shared_ptr<MetricsRegistry> metrics;
  if (auto found = services_.Find<MetricsRegistry>("metrics")) metrics = *found;
  slot.scope = std::make_unique<PluginScope>(slot.name, bus_, metrics.get(), std::move(router));
  slot.context->bus = &slot.scope->bus();
  slot.context->metrics = slot.scope->metrics();
  slot.context->router = slot.scope->router();
  // The plugin's own view of the registry: what it offers is withdrawn while it is not running.
  slot.services = services_.ForOwner(slot.name);
  slot.context->services = slot.services.get();
  slot.context->executor = executor_;
  slot.context->blocking = options_.blocking;
  slot.context->storage = options_.storage;
  slot.context->report_failure = [this, name = slot.name](const std::string& reason) {
    boost::asio::post(executor_, [this, name, reason] { OnFailure(name, reason); });
  };
  auto outcome = CallWithTimeout<Result<void>>(
      [plugin = slot.plugin, context = slot.context] { return plugin->Init(*context); },
      options_.call_timeout);
  if (auto failure = FailureOf(outcome, "init", options_.call_timeout)) {
    using Kind = CallOutcome<Result<void>>::Kind;
    if (config_error != nullptr && outcome.kind == Kind::kReturned &&
        outcome.value->error().code == ErrorCode::kConfig) {
      *config_error = outcome.value->error();
    }
    MarkFailed(slot, failure->reason);
    return false;
  }
  slot.initialized = true;
  SetState(slot, PluginState::kInitialized);
  return true;
}

bool Kernel::StartSlot(Slot& slot) {
  SetState(slot, PluginState::kStarting);
  // What Start registers belongs to this run; it serves from the moment it is registered.
  slot.scope->BeginRun();
  slot.scope->SetRunning(true);
  auto outcome = CallWithTimeout<Result<void>>([plugin = slot.plugin] { return plugin->Start(); },
                                               options_.call_timeout);
  if (auto failure = FailureOf(outcome, "start", options_.call_timeout)) {
    slot.scope->SetRunning(false);
    slot.scope->EndRun();
    MarkFailed(slot, failure->reason);
    return false;
  }
  {
    std::lock_guard lock(mu_);
    slot.blocked = false;
  }
  SetState(slot, PluginState::kRunning);
  logger_->info(log::With("Plugin started", {{"name", slot.name}}));
  return true;
}

void Kernel::StopSlot(Slot& slot, Deadline deadline, const std::string& reason) {
  {
    std::lock_guard lock(mu_);
    if (slot.state != PluginState::kRunning && slot.state != PluginState::kStarting) return;
    slot.state = PluginState::kStopping;
    slot.since = std::chrono::system_clock::now();
    stopping_ = slot.name;
  }
  services_.Suspend(slot.name);
  slot.scope->SetRunning(false);
  const auto now = Clock::now();
  const auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline > now ? deadline - now : Clock::duration::zero());
  // A little grace past the deadline for the plugin to return after it stopped draining.
  const auto grace = budget + std::chrono::milliseconds(250);
  auto outcome = CallWithTimeout<Result<void>>(
      [plugin = slot.plugin, deadline]() -> Result<void> {
        plugin->Stop(deadline);
        return {};
      },
      grace);
  {
    std::lock_guard lock(mu_);
    stopping_.clear();
  }
  // Whatever the plugin registered while it ran and left behind goes now, however Stop ended.
  slot.scope->EndRun();
  if (auto failure = FailureOf(outcome, "stop", grace)) {
    using Kind = CallOutcome<Result<void>>::Kind;
    const bool late = outcome.kind == Kind::kTimedOut;
    SetState(slot, PluginState::kFailed,
             late ? "stop did not finish before the deadline" : failure->reason);
    logger_->error(
        log::With("Plugin stop failed", {{"name", slot.name}, {"error", failure->reason}}));
    return;
  }
  SetState(slot, PluginState::kStopped, reason);
  logger_->info(log::With("Plugin stopped", {{"name", slot.name}, {"reason", reason}}));
}

std::vector<Kernel::Slot*> Kernel::RunningDependents(const Slot& slot) const {
  std::vector<Slot*> out;
  for (const auto& name : DependentsOf(slot.name, Nodes(true))) {
    Slot* dependent = Find(name);
    if (dependent->state == PluginState::kRunning || dependent->state == PluginState::kStarting) {
      out.push_back(dependent);
    }
  }
  return out;
}

Result<void> Kernel::StartAll() {
  std::lock_guard op(op_mu_);
  std::vector<Slot*> order;
  {
    std::lock_guard lock(mu_);
    auto sorted = StartOrder(Nodes(false));
    if (!sorted) return sorted.error();
    for (size_t i : *sorted) order.push_back(slots_[i].get());
    start_order_.clear();
    for (Slot* slot : order) start_order_.push_back(slot->name);
  }
  logger_->info(
      log::With("Starting microkernel",
                {{"mode", options_.mode}, {"plugins", static_cast<int64_t>(order.size())}}));
  for (Slot* slot : order) {
    std::string missing;
    {
      std::lock_guard lock(mu_);
      for (const auto& dep : slot->dependencies) {
        if (Find(dep)->state != PluginState::kRunning) missing = dep;
      }
    }
    if (!missing.empty()) {
      SetState(*slot, PluginState::kStopped,
               fmt::format("dependency '{}' is not running", missing));
      std::lock_guard lock(mu_);
      slot->blocked = true;
      continue;
    }
    std::optional<Error> config_error;
    if (InitSlot(*slot, &config_error)) {
      StartSlot(*slot);
    } else if (config_error) {
      // Restarting cannot help: the daemon does not start, and says why.
      return Error{ErrorCode::kConfig,
                   fmt::format("plugin '{}': {}", slot->name, config_error->message)};
    }
  }
  return {};
}

void Kernel::StopAll(Deadline deadline) {
  std::lock_guard op(op_mu_);
  std::vector<Slot*> order;
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    for (auto& slot : slots_) {
      if (slot->restart_timer) slot->restart_timer->cancel();
      slot->next_restart.reset();
    }
    for (const auto& name : start_order_) order.push_back(Find(name));
  }
  // Every plugin hears that the daemon is stopping before the first one stops, so that the
  // front door can tell clients to go away while the plugins behind it wind down.
  for (Slot* slot : order) {
    if (slot->state != PluginState::kRunning) continue;
    try {
      slot->plugin->PrepareStop();
    } catch (const std::exception& e) {
      logger_->warn(log::With("PrepareStop threw", {{"plugin", slot->name}, {"error", e.what()}}));
    }
  }
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    StopSlot(**it, deadline, "daemon shutting down");
  }
}

Result<PluginInfo> Kernel::StartPlugin(const std::string& name) {
  std::lock_guard op(op_mu_);
  Slot* slot = nullptr;
  {
    std::lock_guard lock(mu_);
    slot = Find(name);
    if (slot == nullptr) {
      return NoSuchPlugin(name);
    }
    if (shutting_down_) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "the daemon is shutting down: no plugin starts now");
    }
    if (slot->state == PluginState::kRunning || slot->state == PluginState::kStarting) {
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("plugin '{}' is already running", name));
    }
    for (const auto& dep : slot->dependencies) {
      if (Find(dep)->state != PluginState::kRunning) {
        return Fail(ErrorCode::kFailedPrecondition,
                    fmt::format("plugin '{}' needs '{}', which is {}; start it first", name, dep,
                                PluginStateName(Find(dep)->state)));
      }
    }
    if (slot->restart_timer) slot->restart_timer->cancel();
    slot->next_restart.reset();
    slot->restarts = 0;  // an operator's start is a fresh start
  }
  if (!InitSlot(*slot) || !StartSlot(*slot)) {
    std::lock_guard lock(mu_);
    return Fail(ErrorCode::kInternal,
                fmt::format("plugin '{}' failed to start: {}", name, slot->reason));
  }
  StartBlockedDependents();
  std::lock_guard lock(mu_);
  return Snapshot(*slot);
}

Result<std::vector<PluginInfo>> Kernel::StopPlugin(const std::string& name, bool cascade) {
  std::lock_guard op(op_mu_);
  Slot* slot = nullptr;
  std::vector<Slot*> dependents;
  {
    std::lock_guard lock(mu_);
    slot = Find(name);
    if (slot == nullptr) {
      return NoSuchPlugin(name);
    }
    if (slot->state == PluginState::kFailed) {
      // Stopping a failed plugin cancels its pending restart.
      if (slot->restart_timer) slot->restart_timer->cancel();
      slot->next_restart.reset();
      slot->state = PluginState::kStopped;
      slot->reason = "stopped by operator after failing: " + slot->reason;
      slot->since = std::chrono::system_clock::now();
      return std::vector<PluginInfo>{Snapshot(*slot)};
    }
    if (slot->state != PluginState::kRunning && slot->state != PluginState::kStarting) {
      return Fail(ErrorCode::kFailedPrecondition, fmt::format("plugin '{}' is not running ({})",
                                                              name, PluginStateName(slot->state)));
    }
    dependents = RunningDependents(*slot);
    if (!dependents.empty() && !cascade) {
      std::vector<std::string> names;
      names.reserve(dependents.size());
      for (Slot* d : dependents) names.push_back(d->name);
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("plugin '{}' is needed by running plugins: {}; stop them first, or "
                              "use --cascade to stop them too",
                              name, Join(names, ", ")));
    }
  }
  const Deadline deadline = Clock::now() + options_.call_timeout;
  std::vector<PluginInfo> stopped;
  for (auto it = dependents.rbegin(); it != dependents.rend(); ++it) {
    StopSlot(**it, deadline, fmt::format("stopped with '{}' by operator", name));
    std::lock_guard lock(mu_);
    stopped.push_back(Snapshot(**it));
  }
  StopSlot(*slot, deadline, "stopped by operator");
  std::lock_guard lock(mu_);
  stopped.push_back(Snapshot(*slot));
  return stopped;
}

Result<std::vector<PluginInfo>> Kernel::RestartPlugin(const std::string& name, bool cascade) {
  std::vector<std::string> to_start;
  {
    std::lock_guard lock(mu_);
    Slot* slot = Find(name);
    if (slot == nullptr) {
      return NoSuchPlugin(name);
    }
  }
  auto plugin = Plugin(name);
  if (plugin->state == PluginState::kRunning) {
    auto stopped = StopPlugin(name, cascade);
    if (!stopped) return stopped.error();
    for (auto it = stopped->rbegin(); it != stopped->rend(); ++it) to_start.push_back(it->name);
  } else {
    to_start.push_back(name);
  }
  std::vector<PluginInfo> out;
  for (const auto& n : to_start) {
    auto started = StartPlugin(n);
    if (!started) return started.error();
    out.push_back(*started);
  }
  return out;
}

std::vector<PluginInfo> Kernel::Plugins() const {
  std::lock_guard lock(mu_);
  std::vector<PluginInfo> out;
  // Start order once known, else registration order.
  if (!start_order_.empty()) {
    for (const auto& name : start_order_) out.push_back(Snapshot(*Find(name)));
  } else {
    for (const auto& slot : slots_) out.push_back(Snapshot(*slot));
  }
  return out;
}

Result<PluginInfo> Kernel::Plugin(const std::string& name) const {
  std::lock_guard lock(mu_);
  const Slot* slot = Find(name);
  if (slot == nullptr) {
    return NoSuchPlugin(name);
  }
  return Snapshot(*slot);
}

std::string Kernel::Stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

}  // namespace sg::kernel
