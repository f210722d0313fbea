// The worker plugin's configuration: the worker section (the job queue's limits and timings).
#pragma once

#include "config/schema.h"

namespace sg::plugins {

/// The worker plugin's section; it takes a change when it restarts. It also reads app.mode (which
/// store: SQLite in monolith mode, JetStream in microservice mode), the metadata plugin's
/// database file, which the queue shares in monolith mode, and the nats.* keys of JetStream.
config::ConfigDeclaration WorkerConfig();

}  // namespace sg::plugins
