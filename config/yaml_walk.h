// The walk over a configuration file's YAML: sections, keys and values checked against the
// schema, each problem reported at its line and column. Internal to config/.
#pragma once

#include <string>
#include <string_view>

#include "config/load_state.h"

namespace sg::config {

/// Parses YAML text read from `name` and applies every key it sets; reports each problem. The
/// text has passed CheckText.
void WalkYaml(std::string_view text, const std::string& name, LoadState& state);

}  // namespace sg::config
