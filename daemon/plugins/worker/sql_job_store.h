// The job queue in a SQL database (SQLite in monolith mode, PostgreSQL works too): table `jobs`,
// leased with one atomic UPDATE so that two processes on one database never run a job twice.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "daemon/plugin_api/sql.h"
#include "daemon/plugins/worker/job_store.h"

namespace sg::plugins {

/// The schema of component "jobs": run `db->Migrate("jobs", JobMigrations())` before
/// MakeSqlJobStore.
const std::vector<SqlMigration>& JobMigrations();

/// A JobStore over `db`, whose "jobs" schema is migrated. Thread-safe; every call is one
/// transaction. Job ids are ULIDs (26 characters of Crockford base32, sorting by creation time).
std::shared_ptr<JobStore> MakeSqlJobStore(std::shared_ptr<SqlDatabase> db);

/// Checks a job kind: [a-z0-9-]{1,64}. kInvalidArgument naming the kind otherwise.
Result<void> ValidateJobKind(const std::string& kind);

/// Checks a spec as every store does; the error (kInvalidArgument) names the field.
Result<void> ValidateJobSpec(const JobSpec& spec);

/// A new ULID for time `now_ms`: later times sort later, and ids made in one process in the same
/// millisecond still sort in the order they were made. Thread-safe.
std::string NewJobId(int64_t now_ms);

}  // namespace sg::plugins
