// Reading a configuration file: every check a hostile path or hostile bytes deserve, before the
// YAML parser sees them. Internal to config/; FindConfigFile, in loader.h, is defined here too.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/load_state.h"

namespace sg::config {

/// The file's text, or nullopt after reporting why it cannot be read (missing, not a regular
/// file, over kMaxConfigBytes, unreadable).
std::optional<std::string> ReadConfigFile(const std::string& path, LoadState& state);

/// Whether text is small enough and UTF-8 without NUL; reports the first offending byte with its
/// line and column otherwise.
bool CheckText(std::string_view text, const std::string& name, LoadState& state);

}  // namespace sg::config
