// Turns a control request frame into a reply frame: decoding, argument checks, and the call on
// the target. Never throws, whatever the frame holds.
#pragma once

#include <string>
#include <string_view>

#include "common/control_protocol.h"
#include "daemon/control/control_target.h"

namespace sg::control {

/// Thread-safe if the target is: requests may be handled concurrently.
class Dispatcher {
 public:
  explicit Dispatcher(ControlTarget& target) : target_(target) {}

  /// The reply to one request frame.
  std::string Handle(std::string_view frame);

 private:
  nlohmann::ordered_json Run(const Request& request);

  ControlTarget& target_;
};

/// A plugin snapshot as the wire shows it.
nlohmann::ordered_json PluginJson(const kernel::PluginInfo& info);

}  // namespace sg::control
