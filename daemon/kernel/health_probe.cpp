// Health probing: every running plugin asked in parallel, each bounded by the health timeout,
// with at most one check per plugin in flight.
#include <thread>

#include "daemon/kernel/slot.h"

namespace sg::kernel {
namespace {

// Asks a plugin for its health on a thread of its own, which a check that hangs may keep.
std::shared_future<HealthAnswer> StartProbe(std::shared_ptr<Plugin> plugin) {
  auto promise = std::make_shared<std::promise<HealthAnswer>>();
  std::shared_future<HealthAnswer> answer = promise->get_future().share();
  std::thread([promise, plugin = std::move(plugin)] {
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
        report, std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start)});
  }).detach();
  return answer;
}

}  // namespace

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
        if (!busy) slot->health_probe = StartProbe(slot->plugin);
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

}  // namespace sg::kernel
