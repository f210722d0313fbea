// The daemon's half of the control command table: a handler for each command of
// common/control_protocol.h, bound by its Command id, and the argument error they throw.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/control_protocol.h"
#include "daemon/control/control_target.h"

namespace sg::control {

/// A command's work: reads its arguments from the request, acts on the target, returns the
/// result. Throws ArgError for a bad argument and Error for a refusal; the dispatcher turns both
/// into error replies.
using Handler = nlohmann::ordered_json (*)(ControlTarget& target, const Request& request);

/// A bad argument; its message names the argument ("\"names\" must be ...").
struct ArgError {
  std::string message;
};

/// The handler bound to a command; every command has one (checked at compile time).
Handler HandlerFor(Command command);

/// A plugin snapshot as the wire shows it.
nlohmann::ordered_json PluginJson(const kernel::PluginInfo& info);

}  // namespace sg::control
