#include "daemon/kernel/kernel.h"

#include <algorithm>
#include <future>
#include <set>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "common/strings.h"
#include "config/schema.h"
#include "daemon/kernel/call.h"

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

struct Kernel::Slot {
  std::shared_ptr<sg::Plugin> plugin;
  std::string name;
  std::string version;
  std::vector<std::string> dependencies;
  RestartPolicy policy;
  // Set by InitSlot; shared with the calls into the plugin, which may outlive a timeout.
  std::shared_ptr<PluginContext> context;
  std::shared_ptr<ServiceRegistry> services;  // the plugin's view: what it offers is its own
  bool initialized = false;
  bool blocked = false;  // stopped because a dependency is not running; restarted with it
  PluginState state = PluginState::kRegistered;
  std::string reason;
  std::chrono::system_clock::time_point since = std::chrono::system_clock::now();
  int restarts = 0;
  std::optional<std::chrono::system_clock::time_point> next_restart;
  std::unique_ptr<boost::asio::steady_timer> restart_timer;
  std::shared_future<HealthAnswer> health_probe;  // guarded by mu_: the check in flight, if any
};

namespace {

std::string Outcome(const std::string& what, const std::string& error) {
  return fmt::format("{} threw: {}", what, error);
}

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

Result<std::vector<Kernel::Slot*>> Kernel::StartOrder() const {
  for (const auto& slot : slots_) {
    for (const auto& dep : slot->dependencies) {
      if (Find(dep) == nullptr) {
        return Fail(ErrorCode::kConfig,
                    fmt::format("plugin '{}' depends on '{}', which is not registered{}",
                                slot->name, dep, DidYouMean(dep, Names())));
      }
    }
  }
  // Depth-first topological sort in registration order; a grey node seen again is a cycle.
  enum class Mark { kWhite, kGrey, kBlack };
  std::map<const Slot*, Mark> marks;
  std::vector<Slot*> order;
  std::vector<std::string> path;
  std::function<std::optional<Error>(Slot*)> visit = [&](Slot* slot) -> std::optional<Error> {
    Mark& mark = marks[slot];
    if (mark == Mark::kBlack) return std::nullopt;
    if (mark == Mark::kGrey) {
      auto first = std::find(path.begin(), path.end(), slot->name);
      std::vector<std::string> cycle(first, path.end());
      cycle.push_back(slot->name);
      return Fail(ErrorCode::kConfig, "plugin dependency cycle: " + Join(cycle, " -> "));
    }
    mark = Mark::kGrey;
    path.push_back(slot->name);
    for (const auto& dep : slot->dependencies) {
      if (auto error = visit(Find(dep))) return error;
    }
    path.pop_back();
    marks[slot] = Mark::kBlack;
    order.push_back(slot);
    return std::nullopt;
  };
  for (const auto& slot : slots_) {
    if (auto error = visit(slot.get())) return *error;
  }
  return order;
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

bool Kernel::InitSlot(Slot& slot) {
  if (slot.initialized) return true;
  slot.context = std::make_shared<PluginContext>();
  slot.context->config = config_;
  slot.context->logger = logs_.Get(slot.name);
  slot.context->make_logger = [this](const std::string& component, bool async) {
    return async ? logs_.GetAsync(component) : logs_.Get(component);
  };
  slot.context->bus = &bus_;
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
  using Kind = CallOutcome<Result<void>>::Kind;
  if (outcome.kind == Kind::kTimedOut) {
    MarkFailed(slot, fmt::format("init timed out after {}ms", options_.call_timeout.count()));
    return false;
  }
  if (outcome.kind == Kind::kThrew) {
    MarkFailed(slot, Outcome("init", outcome.error));
    return false;
  }
  if (!outcome.value->has_value()) {
    MarkFailed(slot, "init: " + outcome.value->error().message);
    return false;
  }
  slot.initialized = true;
  SetState(slot, PluginState::kInitialized);
  return true;
}

bool Kernel::StartSlot(Slot& slot) {
  SetState(slot, PluginState::kStarting);
  auto outcome = CallWithTimeout<Result<void>>([plugin = slot.plugin] { return plugin->Start(); },
                                               options_.call_timeout);
  using Kind = CallOutcome<Result<void>>::Kind;
  if (outcome.kind == Kind::kTimedOut) {
    MarkFailed(slot, fmt::format("start timed out after {}ms", options_.call_timeout.count()));
    return false;
  }
  if (outcome.kind == Kind::kThrew) {
    MarkFailed(slot, Outcome("start", outcome.error));
    return false;
  }
  if (!outcome.value->has_value()) {
    MarkFailed(slot, "start: " + outcome.value->error().message);
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
  const auto now = Clock::now();
  const auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline > now ? deadline - now : Clock::duration::zero());
  // A little grace past the deadline for the plugin to return after it stopped draining.
  auto outcome = CallWithTimeout<bool>(
      [plugin = slot.plugin, deadline] {
        plugin->Stop(deadline);
        return true;
      },
      budget + std::chrono::milliseconds(250));
  {
    std::lock_guard lock(mu_);
    stopping_.clear();
  }
  using Kind = CallOutcome<bool>::Kind;
  if (outcome.kind == Kind::kTimedOut) {
    SetState(slot, PluginState::kFailed, "stop did not finish before the deadline");
    logger_->error(log::With("Plugin stop timed out", {{"name", slot.name}}));
    return;
  }
  if (outcome.kind == Kind::kThrew) {
    SetState(slot, PluginState::kFailed, Outcome("stop", outcome.error));
    logger_->error(log::With("Plugin stop threw", {{"name", slot.name}, {"error", outcome.error}}));
    return;
  }
  SetState(slot, PluginState::kStopped, reason);
  logger_->info(log::With("Plugin stopped", {{"name", slot.name}, {"reason", reason}}));
}

std::vector<Kernel::Slot*> Kernel::RunningDependents(const Slot& slot) const {
  // Transitive dependents, in start order, that are running or starting.
  std::set<std::string> needed = {slot.name};
  std::vector<Slot*> out;
  for (const auto& name : start_order_) {
    Slot* candidate = Find(name);
    if (candidate == &slot) continue;
    const bool depends = std::any_of(candidate->dependencies.begin(), candidate->dependencies.end(),
                                     [&](const std::string& d) { return needed.contains(d); });
    if (!depends) continue;
    needed.insert(candidate->name);
    if (candidate->state == PluginState::kRunning || candidate->state == PluginState::kStarting) {
      out.push_back(candidate);
    }
  }
  return out;
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
  auto delay = slot.policy.backoff;
  for (int i = 0; i < slot.restarts && delay < slot.policy.max_backoff; ++i) delay *= 2;
  delay = std::min(delay, slot.policy.max_backoff);
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

Result<void> Kernel::StartAll() {
  std::lock_guard op(op_mu_);
  std::vector<Slot*> order;
  {
    std::lock_guard lock(mu_);
    auto sorted = StartOrder();
    if (!sorted) return sorted.error();
    order = *sorted;
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
    if (InitSlot(*slot)) StartSlot(*slot);
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
      return Fail(ErrorCode::kNotFound,
                  fmt::format("no plugin named '{}'{}", name, DidYouMean(name, Names())));
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
      return Fail(ErrorCode::kNotFound,
                  fmt::format("no plugin named '{}'{}", name, DidYouMean(name, Names())));
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
      return Fail(ErrorCode::kNotFound,
                  fmt::format("no plugin named '{}'{}", name, DidYouMean(name, Names())));
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
    return Fail(ErrorCode::kNotFound,
                fmt::format("no plugin named '{}'{}", name, DidYouMean(name, Names())));
  }
  return Snapshot(*slot);
}

std::string Kernel::Stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

HealthSummary Kernel::CheckHealth() const {
  struct Probe {
    std::string name;
    std::string version;
    PluginState state;
    std::string reason;
    std::shared_future<HealthAnswer> answer;  // valid for running plugins
  };
  std::vector<Probe> probes;
  {
    std::lock_guard lock(mu_);
    for (const auto& slot : slots_) {
      Probe probe{slot->name, slot->version, slot->state, slot->reason, {}};
      if (slot->state == PluginState::kRunning) {
        // At most one check per plugin in flight: one that hangs is waited on again rather than
        // joined by another thread each time someone asks.
        const bool busy =
            slot->health_probe.valid() &&
            slot->health_probe.wait_for(std::chrono::seconds(0)) != std::future_status::ready;
        if (!busy) {
          auto promise = std::make_shared<std::promise<HealthAnswer>>();
          slot->health_probe = promise->get_future().share();
          std::thread([promise, plugin = slot->plugin] {
            const auto start = Clock::now();
            HealthReport report;
            try {
              report = plugin->CheckHealth();
            } catch (const std::exception& e) {
              report = {HealthStatus::kUnhealthy, std::string("health check threw: ") + e.what()};
            } catch (...) {
              report = {HealthStatus::kUnhealthy, "health check threw"};
            }
            promise->set_value(HealthAnswer{
                report,
                std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start)});
          }).detach();
        }
        probe.answer = slot->health_probe;
      }
      probes.push_back(std::move(probe));
    }
  }
  using Answer = HealthAnswer;
  std::vector<std::shared_future<Answer>> futures;
  futures.reserve(probes.size());
  for (const auto& p : probes) futures.push_back(p.answer);
  const Deadline deadline = Clock::now() + options_.health_timeout;
  HealthSummary summary;
  for (size_t i = 0; i < probes.size(); ++i) {
    PluginHealth health{probes[i].name, probes[i].version, probes[i].state, {}, {}};
    if (probes[i].state == PluginState::kRunning) {
      if (futures[i].wait_until(deadline) == std::future_status::ready) {
        Answer answer = futures[i].get();
        health.report = answer.report;
        health.latency = answer.latency;
      } else {
        health.report = {HealthStatus::kUnhealthy, "health check timed out"};
        health.latency =
            std::chrono::duration_cast<std::chrono::microseconds>(options_.health_timeout);
      }
    } else if (probes[i].state == PluginState::kFailed) {
      health.report = {HealthStatus::kUnhealthy, "failed: " + probes[i].reason};
    } else {
      std::string message(PluginStateName(probes[i].state));
      if (!probes[i].reason.empty()) message += ": " + probes[i].reason;
      health.report = {HealthStatus::kDegraded, message};
    }
    summary.overall = Worst(summary.overall, health.report.status);
    summary.plugins.push_back(std::move(health));
  }
  return summary;
}

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
    using Kind = CallOutcome<Result<void>>::Kind;
    std::string refusal;
    if (check.kind == Kind::kTimedOut) refusal = "config check timed out";
    if (check.kind == Kind::kThrew) refusal = Outcome("config check", check.error);
    if (check.kind == Kind::kReturned && !check.value->has_value()) {
      refusal = check.value->error().message;
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
    using Kind = CallOutcome<Result<bool>>::Kind;
    if (applied.kind == Kind::kTimedOut) {
      StopSlot(*slot, Clock::now() + options_.call_timeout, "reconfigure timed out");
      MarkFailed(*slot, "reconfigure timed out");
      outcome.plugins[slot->name] = "failed: reconfigure timed out";
    } else if (applied.kind == Kind::kThrew) {
      StopSlot(*slot, Clock::now() + options_.call_timeout, "reconfigure threw");
      MarkFailed(*slot, Outcome("reconfigure", applied.error));
      outcome.plugins[slot->name] = "failed: " + Outcome("reconfigure", applied.error);
    } else if (!applied.value->has_value()) {
      // A plugin that could not take the new settings is stopped and failed, so that its state is
      // the truth (and its restart policy applies), rather than left serving the old ones.
      StopSlot(*slot, Clock::now() + options_.call_timeout, "reconfigure failed");
      MarkFailed(*slot, "reconfigure: " + applied.value->error().message);
      outcome.plugins[slot->name] = "failed: " + applied.value->error().message;
    } else {
      outcome.plugins[slot->name] = applied.value->value() ? "applied" : "restart required";
    }
  }
  return outcome;
}

}  // namespace sg::kernel
