// The worker plugin: offers the durable job queue as the "worker" service (a JobQueue), on the
// metadata plugin's database in monolith mode (its SQLite file, or its PostgreSQL database with
// metadata.engine=postgres) and on NATS JetStream in microservice mode, and queues the periodic
// jobs (gc-orphans, expire-uploads) every worker.gc_interval. In microservice mode the other
// processes get a "worker" service on the same queue from the daemon (JobQueueClient).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/plugin.h"
#include "daemon/plugin_api/storage.h"

namespace sg::plugins {

std::unique_ptr<Plugin> MakeWorkerPlugin();

/// The job kinds the worker plugin queues by itself. It handles gc-orphans; expire-uploads is the
/// upload plugin's to handle (uploads never finished), and waits queued until that plugin runs.
inline constexpr const char* kGcOrphansKind = "gc-orphans";
inline constexpr const char* kExpireUploadsKind = "expire-uploads";

/// What one gc-orphans run did.
struct GcOutcome {
  int64_t scanned = 0;  // objects under videos/
  int64_t deleted = 0;  // objects deleted
  int64_t kept = 0;     // objects kept: a live video's, or too new to judge
};

/// Deletes the objects under "videos/ID/..." whose video `catalogue` does not know or has marked
/// deleted, if they were last written before `now - grace` (an upload writes its objects before
/// or while its record is made). Stops at the first catalogue or storage error other than a
/// missing object, so that nothing is deleted on a guess; `cancelled` is polled between objects.
Result<GcOutcome> CollectOrphans(Storage& storage, Catalogue& catalogue,
                                 std::chrono::system_clock::time_point now,
                                 std::chrono::milliseconds grace,
                                 const std::function<bool()>& cancelled);

}  // namespace sg::plugins
