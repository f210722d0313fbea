// Turns a control request frame into a reply frame: decodes it, runs the handler the command
// table binds to its command (daemon/control/handlers.h), encodes the outcome. Never throws,
// whatever the frame holds.
#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/control_protocol.h"
#include "daemon/control/control_target.h"
#include "daemon/control/handlers.h"

namespace sg::control {

/// Thread-safe if the target is: requests may be handled concurrently.
class Dispatcher {
 public:
  explicit Dispatcher(ControlTarget& target);

  /// The reply to one request frame.
  std::string Handle(std::string_view frame);

  /// Requests handled, per command ("invalid" for those that named none), for metrics.
  std::vector<std::pair<std::string, uint64_t>> Counts() const;

 private:
  ControlTarget& target_;
  std::vector<std::atomic<uint64_t>> counts_;  // per Commands() entry, then invalid
};

}  // namespace sg::control
