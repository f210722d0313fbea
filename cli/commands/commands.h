// The command groups of streamgate, one file each; BuildApp calls every Add* below.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/app.h"

namespace sg::cli {

/// `streamgate version`: version, commit, build type and library versions.
void AddVersionCommand(CLI::App& app, Context& context);

/// `streamgate config validate|show|reload`.
void AddConfigCommands(CLI::App& app, Context& context);

/// `streamgate start|stop|status`: the daemon's lifecycle.
void AddDaemonCommands(CLI::App& app, Context& context);

/// `streamgate plugins list|start|stop|restart`.
void AddPluginCommands(CLI::App& app, Context& context);

/// `streamgate health [--wait]`.
void AddHealthCommand(CLI::App& app, Context& context);

/// `streamgate logs` and `streamgate log-level`.
void AddLogCommands(CLI::App& app, Context& context);

/// `streamgate keys generate`: CURVE keys for a tcp control endpoint.
void AddKeysCommands(CLI::App& app, Context& context);

/// `streamgate services`: the live instances of a microservice deployment.
void AddServicesCommand(CLI::App& app, Context& context);

/// `streamgate videos list|show|delete`: the video catalogue (the metadata plugin).
void AddVideoCommands(CLI::App& app, Context& context);

/// `streamgate jobs list|show|retry|cancel`: the job queue (the worker plugin).
void AddJobCommands(CLI::App& app, Context& context);

/// `streamgate auth keys create|list|revoke`, `auth token`, `auth rotate` (the auth plugin).
void AddAuthCommands(CLI::App& app, Context& context);

/// `streamgate upload FILE`: a resumable tus upload to the daemon's HTTP listener.
void AddUploadCommand(CLI::App& app, Context& context);

}  // namespace sg::cli
