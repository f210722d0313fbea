// A plugin for kernel tests whose every call can be made to fail, throw or hang, and which
// records what the kernel asked of it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "daemon/plugin_api/plugin.h"

namespace sg::test {

/// What happened, in order, across all test plugins that share it. Thread-safe.
class EventLog {
 public:
  void Add(std::string event) {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(event));
  }
  std::vector<std::string> Events() const {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> events_;
};

/// How one call behaves.
enum class Behavior { kOk, kFail, kThrow, kHang };

/// Blocks hanging calls until released, so that abandoned threads end before the test does.
class Gate {
 public:
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return open_; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

class TestPlugin final : public Plugin {
 public:
  TestPlugin(std::string name, std::vector<std::string> deps, EventLog& log,
             std::shared_ptr<Gate> gate = std::make_shared<Gate>())
      : name_(std::move(name)), deps_(std::move(deps)), log_(log), gate_(std::move(gate)) {}

  std::atomic<Behavior> init{Behavior::kOk};
  std::atomic<Behavior> start{Behavior::kOk};
  std::atomic<Behavior> stop{Behavior::kOk};
  std::atomic<Behavior> health_behavior{Behavior::kOk};
  std::atomic<HealthStatus> health{HealthStatus::kHealthy};
  std::atomic<int> start_failures_left{0};  // Start fails this many times, then succeeds

  std::string_view Name() const override { return name_; }
  std::string_view Version() const override { return "1.0.0"; }
  std::vector<std::string> Dependencies() const override { return deps_; }

  Result<void> Init(PluginContext& context) override {
    context_ = &context;
    return Act("init", init);
  }
  Result<void> Start() override {
    if (start_failures_left > 0) {
      --start_failures_left;
      log_.Add(name_ + ".start");
      return Fail(ErrorCode::kUnavailable, "not yet");
    }
    return Act("start", start);
  }
  void Stop(Deadline) override { (void)Act("stop", stop); }
  HealthReport CheckHealth() const override {
    switch (health_behavior.load()) {
      case Behavior::kThrow:
        throw std::runtime_error("health exploded");
      case Behavior::kHang:
        gate_->Wait();
        break;
      default:
        break;
    }
    return {health.load(), health == HealthStatus::kHealthy ? "" : "not great"};
  }

  /// Simulates a failure while running (a listener died).
  void ReportFailure(const std::string& reason) { context_->report_failure(reason); }

 private:
  Result<void> Act(const std::string& what, const std::atomic<Behavior>& behavior) {
    log_.Add(name_ + "." + what);
    switch (behavior.load()) {
      case Behavior::kOk:
        return {};
      case Behavior::kFail:
        return Fail(ErrorCode::kUnavailable, what + " refused");
      case Behavior::kThrow:
        throw std::runtime_error(what + " exploded");
      case Behavior::kHang:
        gate_->Wait();
        return {};
    }
    return {};
  }

  const std::string name_;
  const std::vector<std::string> deps_;
  EventLog& log_;
  std::shared_ptr<Gate> gate_;
  PluginContext* context_ = nullptr;
};

}  // namespace sg::test
