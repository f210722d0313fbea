// A control target with canned answers, for dispatcher and control-server tests and the fuzzer.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include "common/logging.h"
#include "daemon/control/control_target.h"

namespace sg::test {

class FakeControlTarget final : public control::ControlTarget {
 public:
  FakeControlTarget() {
    log::Options options;
    options.console = false;
    logs_ = std::move(log::LogHub::Create(options)).value();
  }

  std::atomic<int> health_delay_ms{0};  // makes `health` slow
  std::atomic<int> shutdowns{0};

  nlohmann::ordered_json Identity() override {
    return {{"pid", 1}, {"version", "0.0.0"}, {"mode", "monolith"}, {"service", "fake"}};
  }
  std::vector<kernel::PluginInfo> Plugins() override {
    kernel::PluginInfo info;
    info.name = "cache";
    info.version = "1.0.0";
    info.state = kernel::PluginState::kRunning;
    return {info};
  }
  kernel::HealthSummary Health() override {
    if (health_delay_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(health_delay_ms.load()));
    kernel::HealthSummary summary;
    summary.plugins.push_back({"cache", "1.0.0", kernel::PluginState::kRunning, {}, {}});
    return summary;
  }
  Result<kernel::PluginInfo> StartPlugin(const std::string& name) override {
    if (name != "cache") return Fail(ErrorCode::kNotFound, "no plugin named '" + name + "'");
    return Plugins()[0];
  }
  Result<std::vector<kernel::PluginInfo>> StopPlugin(const std::string& name, bool) override {
    if (name != "cache") return Fail(ErrorCode::kNotFound, "no plugin named '" + name + "'");
    return Plugins();
  }
  Result<std::vector<kernel::PluginInfo>> RestartPlugin(const std::string& name, bool c) override {
    return StopPlugin(name, c);
  }
  nlohmann::ordered_json ShowConfig() override {
    return {{"file", ""}, {"keys", nlohmann::ordered_json::object()}};
  }
  nlohmann::ordered_json ValidateConfig(const std::optional<std::string>&) override {
    return {{"valid", true}};
  }
  nlohmann::ordered_json Reload() override { return {{"outcome", "unchanged"}}; }
  log::LogHub& Logs() override { return *logs_; }
  std::optional<std::chrono::system_clock::time_point> SetLogLevel(
      spdlog::level::level_enum level, const std::string& component,
      std::optional<std::chrono::seconds>) override {
    if (component.empty()) {
      logs_->SetLevel(level);
    } else {
      logs_->SetComponentLevel(component, level);
    }
    return std::nullopt;
  }
  std::string StreamLogs(spdlog::level::level_enum) override { return "ipc:///nonexistent"; }
  void Shutdown() override { ++shutdowns; }
  nlohmann::ordered_json Services() override { return nlohmann::ordered_json::array(); }

 private:
  std::unique_ptr<log::LogHub> logs_;
};

}  // namespace sg::test
