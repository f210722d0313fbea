// The services of a StreamGate deployment, which are also the plugin names: the one list the
// schema (plugins.enabled, --service), the CLI and the completion scripts follow
// (tests/unit/common/services_test.cpp checks the scripts' copies). Which of them are built into
// streamgated is daemon/plugins/builtin.cpp's list, whose names
// tests/unit/daemon/builtin_plugins_test.cpp checks against this one.
#pragma once

#include <array>
#include <string_view>

namespace sg {

/// Every service, in the order the man pages and completions list them.
inline constexpr std::array<std::string_view, 9> kServiceNames = {
    "api-gateway", "upload", "transcoder", "streaming", "metadata",
    "cache",       "auth",   "worker",     "monitor"};

}  // namespace sg
