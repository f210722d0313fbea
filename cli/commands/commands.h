// The command groups of streamgate, one file each; BuildApp calls every Add* below.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/app.h"

namespace sg::cli {

/// `streamgate version`: version, commit, build type and library versions.
void AddVersionCommand(CLI::App& app, Context& context);

/// `streamgate config validate|show`: offline checks of a configuration file.
void AddConfigCommands(CLI::App& app, Context& context);

}  // namespace sg::cli
