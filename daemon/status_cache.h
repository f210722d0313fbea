// The daemon's status as plugins see it (the "daemon" service): identity, readiness, and health
// from a cache that a timer refreshes, so that /health costs an atomic load.
#pragma once

#include <atomic>
#include <mutex>
#include <string>

#include "daemon/bus/nats_bus.h"
#include "daemon/discovery.h"
#include "daemon/kernel/kernel.h"
#include "daemon/plugin_api/daemon_view.h"

namespace sg::daemon {

/// Thread-safe. Borrows the kernel, and the NATS bus and discovery once attached; all of them
/// outlive it.
class StatusCache final : public DaemonView {
 public:
  StatusCache(kernel::Kernel& kernel, std::string mode, std::string service)
      : kernel_(kernel), mode_(std::move(mode)), service_(std::move(service)) {}

  /// Microservice mode: the NATS connection and the rest of the deployment count too.
  void Attach(const bus::NatsBus* nats, const Discovery* discovery);

  /// Asks the kernel for every plugin's health and stores the result. Blocks for up to the health
  /// timeout; may throw what the kernel throws (out of threads, say), keeping the last status.
  void Refresh();

  HealthStatus Overall() const override { return overall_.load(); }
  /// This process's own plugins only, for its heartbeat.
  HealthStatus Local() const { return local_.load(); }

  DaemonStatus Status() const override;

 private:
  kernel::Kernel& kernel_;
  const std::string mode_;
  const std::string service_;
  const Clock::time_point started_ = Clock::now();
  std::atomic<HealthStatus> overall_{HealthStatus::kHealthy};
  std::atomic<HealthStatus> local_{HealthStatus::kHealthy};
  mutable std::mutex mu_;
  kernel::HealthSummary health_;          // guarded by mu_
  const bus::NatsBus* nats_ = nullptr;    // guarded by mu_
  const Discovery* discovery_ = nullptr;  // guarded by mu_
};

}  // namespace sg::daemon
