// The job stores a JobStore suite runs on: the SQL store on every SQL backend (sql_backends.h),
// and JetStream where its helper adds it. One suite, every store.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "daemon/plugins/worker/jetstream_job_store.h"
#include "daemon/plugins/worker/job_store.h"
#include "daemon/plugins/worker/sql_job_store.h"
#include "tests/support/nats_server.h"
#include "tests/support/postgres_server.h"
#include "tests/support/sql_backends.h"

namespace sg::test {

struct JobStoreBackend {
  std::string name;  // "sql/sqlite", "sql/postgres", "jetstream"
  /// A new, empty store each call; it and whatever holds it go when the pointer goes. Fails the
  /// running test (and returns nullptr) when the store cannot be opened.
  std::function<std::shared_ptr<plugins::JobStore>()> open_fresh;
};

/// The SQL job store on a fresh database of `sql`, migrated.
inline std::shared_ptr<plugins::JobStore> OpenFreshSqlJobStore(const SqlBackend& sql) {
  auto db = sql.open_fresh();
  if (!db) return nullptr;
  auto migrated = db->Migrate("jobs", plugins::JobMigrations());
  if (!migrated) {
    FAIL("migrate jobs on " << sql.name << ": " << migrated.error().message);
    return nullptr;
  }
  struct Holder {
    std::shared_ptr<SqlDatabase> db;
    std::shared_ptr<plugins::JobStore> store;
  };
  auto holder = std::make_shared<Holder>();
  holder->db = db;
  holder->store = plugins::MakeSqlJobStore(db);
  return std::shared_ptr<plugins::JobStore>(holder, holder->store.get());
}

/// A fresh database on the binary's shared PostgreSQL server (postgres_server.h).
inline std::shared_ptr<SqlDatabase> OpenFreshJobsPostgres() {
  static std::atomic<int> counter{0};
  PostgresServer& server = SharedPostgres();
  const std::string name = "jobs_" + std::to_string(counter++);
  server.CreateDatabase(name);
  auto db = OpenPostgres(server.Options(name));
  if (!db) {
    FAIL("open postgres: " << db.error().message);
    return nullptr;
  }
  return *db;
}

/// The JetStream store on the binary's one `nats-server -js`, under a prefix (stream, bucket,
/// consumers) of its own each call, so every store starts empty.
inline std::shared_ptr<plugins::JobStore> OpenFreshJetStreamJobStore() {
  static NatsServer server(/*jetstream=*/true);
  static std::atomic<int> counter{0};
  plugins::JetStreamJobStoreOptions options;
  options.connection.urls = {server.Url()};
  options.prefix = "SUITE" + std::to_string(counter++);
  options.hint_ack_wait = std::chrono::milliseconds(500);  // hints move between stores sooner
  auto store = plugins::MakeJetStreamJobStore(options);
  if (!store) {
    FAIL("open the JetStream job store: " << store.error().message);
    return nullptr;
  }
  return *store;
}

/// Every store the suites run on.
inline std::vector<JobStoreBackend> JobStoreBackends() {
  std::vector<SqlBackend> sql = SqlBackends();
  // PostgreSQL too, unless sql_backends.h has come to list it.
  bool has_postgres = false;
  for (const auto& backend : sql) has_postgres = has_postgres || backend.name == "postgres";
  if (!has_postgres) sql.push_back({"postgres", OpenFreshJobsPostgres});
  std::vector<JobStoreBackend> backends;
  for (const auto& backend : sql) {
    backends.push_back(
        {"sql/" + backend.name, [backend] { return OpenFreshSqlJobStore(backend); }});
  }
  backends.push_back({"jetstream", OpenFreshJetStreamJobStore});
  return backends;
}

}  // namespace sg::test
