#include "daemon/plugins/worker/worker_plugin.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "common/logging.h"
#include "common/paths.h"
#include "daemon/plugin_api/jobs.h"
#include "daemon/plugin_api/metrics.h"
#include "daemon/plugin_api/periodic_timer.h"
#include "daemon/plugin_api/registration.h"
#include "daemon/plugin_api/sql.h"
#include "daemon/plugins/worker/jetstream_job_store.h"
#include "daemon/plugins/worker/job_queue_client.h"
#include "daemon/plugins/worker/queue_proxy.h"
#include "daemon/plugins/worker/sql_job_store.h"
#include "daemon/plugins/worker/worker.h"
#include "daemon/plugins/worker/worker_config.h"

namespace sg::plugins {
namespace {

// The metadata plugin's engine: the queue lives in the catalogue's database (its SQLite file or
// its PostgreSQL database), so that one database holds the whole state (one backup, one place).
constexpr const char* kEngineKey = "metadata.engine";
// How often the counts behind /metrics and health are read from the store: a scrape must not
// wait on the database.
constexpr std::chrono::milliseconds kRefreshInterval{5000};
// Objects this recent are never collected: an upload writes its object before, or while, its
// video record is made.
constexpr std::chrono::hours kGcGrace{1};
// /metrics shows at most this many kinds by name; the rest are summed under kind="other", so
// that producers cannot grow the series without bound.
constexpr size_t kMaxKindLabels = 32;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What the timers, the collector and the blocking tasks share; they may outlive a Stop, so they
// hold it by shared_ptr and find the worker gone.
struct Shared {
  std::shared_ptr<spdlog::logger> logger;
  std::shared_ptr<SqlDatabase> database;
  // PostgreSQL down at start: the job tables are made once it answers (Refresh tries).
  std::atomic<bool> migrated{true};
  std::atomic<bool> refreshing{false};
  std::atomic<bool> enqueueing{false};

  mutable std::mutex mu;
  std::shared_ptr<Worker> worker;  // guarded by mu; null while stopped
  WorkerStats stats;               // guarded by mu: the last worker's, once it stopped
  std::vector<JobCounts> counts;   // guarded by mu: as last read
  bool refreshed = false;          // guarded by mu: counts were read at least once
  std::string store_error;         // guarded by mu: the last refresh's error, "" when it worked
  std::string where;               // set at Init: the store, for health

  std::shared_ptr<Worker> Current() const {
    std::lock_guard lock(mu);
    return worker;
  }

  // Blocking pool: reads the counts and checks that the store answers.
  void Refresh() {
    auto w = Current();
    if (!w) return;
    std::string error;
    if (database && !migrated) {
      if (auto version = database->Migrate("jobs", JobMigrations()); version) {
        migrated = true;
        logger->info(log::With("Job tables ready", {{"schema_version", *version}}));
      } else {
        error = version.error().message;
      }
    }
    if (database && error.empty()) {
      if (auto ping = database->Ping(); !ping) error = ping.error().message;
    }
    auto counts_now = w->Counts();
    if (!counts_now && error.empty()) error = counts_now.error().message;
    std::lock_guard lock(mu);
    if (counts_now) counts = std::move(*counts_now);
    refreshed = true;
    if (error != store_error) {
      if (!error.empty()) {
        logger->warn(log::With("Job store not reachable", {{"error", error}}));
      } else {
        logger->info("Job store reachable again");
      }
    }
    store_error = std::move(error);
  }

  // Blocking pool: queues one job of each periodic kind for this period, unless one is still
  // queued (no handler ran it yet: expire-uploads while the upload plugin is absent, say).
  void EnqueuePeriodic(std::chrono::milliseconds interval) {
    auto w = Current();
    if (!w || interval.count() <= 0) return;
    const int64_t period = NowMs() / interval.count();
    for (const char* kind : {kGcOrphansKind, kExpireUploadsKind}) {
      JobFilter waiting;
      waiting.state = JobState::kQueued;
      waiting.kind = kind;
      waiting.limit = 1;
      auto queued = w->List(waiting);
      if (!queued) {
        logger->warn(log::With("Cannot queue a periodic job",
                               {{"kind", kind}, {"error", queued.error().message}}));
        continue;
      }
      if (!queued->empty()) continue;
      JobSpec spec;
      spec.kind = kind;
      spec.payload = fmt::format(R"({{"period":{}}})", period);
      spec.priority = -10;  // housekeeping waits for real work
      spec.idempotency_key = fmt::format("{}:{}", kind, period);
      spec.max_attempts = 3;
      if (auto job = w->Enqueue(spec); !job) {
        logger->warn(log::With("Cannot queue a periodic job",
                               {{"kind", kind}, {"error", job.error().message}}));
      }
    }
  }
};

void Collect(const Shared& shared, std::vector<MetricFamily>& out) {
  std::vector<JobCounts> counts;
  WorkerStats stats;
  bool up = false;
  {
    std::lock_guard lock(shared.mu);
    counts = shared.counts;
    stats = shared.worker ? shared.worker->Stats() : shared.stats;
    up = shared.refreshed && shared.store_error.empty();
  }
  // Kinds by total count, the biggest named and the rest as "other".
  std::map<std::string, int64_t> totals;
  for (const auto& c : counts) totals[c.kind] += c.count;
  std::vector<std::pair<int64_t, std::string>> order;
  order.reserve(totals.size());
  for (const auto& [kind, total] : totals) order.emplace_back(-total, kind);
  std::sort(order.begin(), order.end());
  std::map<std::string, std::string> label;
  for (size_t i = 0; i < order.size(); ++i) {
    label[order[i].second] = i < kMaxKindLabels ? order[i].second : "other";
  }
  std::map<std::pair<std::string, JobState>, int64_t> by;
  // Every state of each kind shown, and the worker's own periodic kinds from the start, at zero
  // until they have jobs: a series that comes and goes with its jobs breaks rate() and alerts.
  for (const char* kind : {kGcOrphansKind, kExpireUploadsKind}) label.try_emplace(kind, kind);
  std::set<std::string> shown;
  for (const auto& [kind, name] : label) shown.insert(name);
  for (const auto& name : shown) {
    for (JobState state : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded,
                           JobState::kDead, JobState::kCancelled}) {
      by[{name, state}] = 0;
    }
  }
  for (const auto& c : counts) by[{label[c.kind], c.state}] += c.count;
  MetricFamily jobs{"streamgate_worker_jobs", "Jobs in the queue, by kind and state", "gauge", {}};
  for (const auto& [key, n] : by) {
    jobs.samples.push_back({"",
                            {{"kind", key.first}, {"state", std::string(JobStateName(key.second))}},
                            static_cast<double>(n)});
  }
  out.push_back(std::move(jobs));
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out.push_back({name, help, "counter", {{"", {}, static_cast<double>(v)}}});
  };
  counter("streamgate_worker_jobs_started_total", "Job runs this process started", stats.started);
  counter("streamgate_worker_jobs_succeeded_total", "Job runs this process completed",
          stats.succeeded);
  counter("streamgate_worker_jobs_failed_total",
          "Job runs this process saw fail (retried later, or dead)", stats.failed);
  counter("streamgate_worker_jobs_dead_total", "Jobs this process ended dead, their attempts spent",
          stats.dead);
  counter("streamgate_worker_jobs_cancelled_total", "Running jobs this process ended cancelled",
          stats.cancelled);
  counter("streamgate_worker_lease_lost_total",
          "Running jobs whose lease this process lost (expired and taken by another run)",
          stats.lease_lost);
  out.push_back({"streamgate_worker_jobs_running",
                 "Jobs running in this process now",
                 "gauge",
                 {{"", {}, static_cast<double>(stats.running)}}});
  out.push_back({"streamgate_worker_store_up",
                 "1 when the job store answered at the last check, else 0",
                 "gauge",
                 {{"", {}, up ? 1.0 : 0.0}}});
}

class WorkerPlugin final : public Plugin {
 public:
  std::string_view Name() const override { return "worker"; }
  std::string_view Version() const override { return "1.0.0"; }
  // worker.*, and the keys of its store (metadata.*, database.*, nats.*), as worker_config.cpp
  // declares them.
  std::vector<std::string> ConfigKeys() const override { return WorkerConfig().Reads(); }

  Result<void> Init(PluginContext& context) override {
    const config::Config& config = *context.config;
    shared_ = std::make_shared<Shared>();
    shared_->logger = context.logger;
    services_ = context.services;
    executor_ = context.executor;
    blocking_ = context.blocking;
    storage_ = context.storage;
    options_ = WorkerOptionsFrom(config);
    gc_interval_ = config.Duration("worker.gc_interval");

    if (config.String("app.mode") == "microservice") {
      // Every process of the deployment reaches the same queue on NATS JetStream: the other
      // processes' "worker" service (JobQueueClient) is built from the same options.
      const JetStreamJobStoreOptions js = JetStreamJobStoreOptionsFrom(config);
      where_ =
          fmt::format("NATS JetStream at {} (stream {})", NatsServers(js.connection), js.prefix);
      auto store = MakeJetStreamJobStore(js);
      if (!store) {
        return store.error().Wrap(
            "worker: the job queue on " + where_ +
            " (nats.url; the server must run with JetStream: start nats-server -js)");
      }
      store_ = *store;
    } else if (config.String(kEngineKey) == "postgres") {
      // The catalogue's PostgreSQL database holds the queue too, as the SQLite file does: one
      // database for the whole state. Several streamgated on it share the queue safely (leases
      // are taken with FOR UPDATE SKIP LOCKED).
      auto opened = OpenStateDatabase(config);
      if (!opened) return opened.error().Wrap("worker: open the job database");
      where_ = opened->where;
      const std::shared_ptr<SqlDatabase> database = opened->db;
      auto version = database->Migrate("jobs", JobMigrations());
      if (!version) {
        if (version.error().code != ErrorCode::kUnavailable &&
            version.error().code != ErrorCode::kTimeout) {
          return version.error().Wrap("worker: bring the job tables up to date on " + where_);
        }
        // Down at start, as the catalogue may find it too: start, degraded, and make the tables
        // once it answers.
        shared_->migrated = false;
        context.logger->warn(
            log::With("The job database is not reachable; starting degraded and trying again",
                      {{"store", where_}, {"error", version.error().message}}));
      }
      shared_->database = database;
      store_ = MakeSqlJobStore(database);
    } else {
      auto opened = OpenStateDatabase(config);
      if (!opened) return opened.error().Wrap("worker: open the job database");
      auto version = opened->db->Migrate("jobs", JobMigrations());
      if (!version) return version.error().Wrap("worker: bring the job tables up to date");
      shared_->database = opened->db;
      store_ = MakeSqlJobStore(opened->db);
      where_ = opened->where;
    }
    shared_->where = where_;
    queue_ = std::make_shared<QueueProxy>();
    // gc-orphans: one at a time is plenty, and keeps two runs from racing over one object.
    auto gc = queue_->Handle(
        kGcOrphansKind,
        [storage = storage_, services = services_, logger = shared_->logger](JobContext& job) {
          return RunGc(storage, services, logger, job);
        },
        1);
    if (!gc) return gc.error().Wrap("worker: handle " + std::string(kGcOrphansKind));
    gc_ = std::move(*gc);
    if (context.metrics != nullptr) {
      collector_ = AddCollector(
          *context.metrics,
          [shared = shared_](std::vector<MetricFamily>& out) { Collect(*shared, out); });
    }
    context.logger->info(log::With("Job queue ready", {{"store", where_}}));
    return {};
  }

  Result<void> Start() override {
    auto worker = MakeWorker(store_, options_);
    if (auto attached = queue_->Attach(worker); !attached) {
      worker->Shutdown(Clock::now());
      queue_->Detach();
      return attached.error().Wrap("worker");
    }
    {
      std::lock_guard lock(shared_->mu);
      shared_->worker = worker;
    }
    services_->Provide<JobQueue>("worker", std::static_pointer_cast<JobQueue>(queue_));
    refresh_timer_ =
        std::make_unique<PeriodicTimer>(executor_, kRefreshInterval, [this] { SubmitRefresh(); });
    SubmitRefresh();
    if (gc_interval_.count() > 0) {
      gc_timer_ =
          std::make_unique<PeriodicTimer>(executor_, gc_interval_, [this] { SubmitPeriodic(); });
      SubmitPeriodic();
    }
    return {};
  }

  void Stop(Deadline deadline) override {
    gc_timer_.reset();
    refresh_timer_.reset();
    std::shared_ptr<Worker> worker;
    {
      std::lock_guard lock(shared_->mu);
      worker = std::move(shared_->worker);
      shared_->worker.reset();
    }
    if (!worker) return;
    // Running handlers get until the deadline; those still running are told to cancel and their
    // jobs run again once their leases expire. The registrations stay with the queue for the
    // next start.
    worker->Shutdown(deadline);
    queue_->Detach();
    std::lock_guard lock(shared_->mu);
    shared_->stats = worker->Stats();
  }

  HealthReport CheckHealth() const override {
    if (!shared_) return {};  // not initialized
    std::lock_guard lock(shared_->mu);
    if (!shared_->store_error.empty()) {
      return {HealthStatus::kDegraded,
              "job store " + shared_->where + " not reachable: " + shared_->store_error};
    }
    int64_t dead = 0;
    for (const auto& c : shared_->counts) {
      if (c.state == JobState::kDead) dead += c.count;
    }
    if (dead > 0) {
      // Dead jobs need a person, not a restart: say so without calling the worker unhealthy.
      return {HealthStatus::kHealthy,
              fmt::format("job store {}; {} dead job{}; see 'streamgate jobs list --state dead'",
                          shared_->where, dead, dead == 1 ? "" : "s")};
    }
    return {HealthStatus::kHealthy, "job store " + shared_->where};
  }

 private:
  static Result<void> RunGc(Storage* storage, ServiceRegistry* services,
                            const std::shared_ptr<spdlog::logger>& logger, JobContext& job) {
    if (storage == nullptr) {
      return Fail(ErrorCode::kFailedPrecondition, "gc-orphans: this daemon has no storage");
    }
    auto catalogue = services->Find<Catalogue>("metadata");
    if (!catalogue) {
      // Without the catalogue nothing can be told an orphan: delete nothing, try again later.
      return catalogue.error().Wrap("gc-orphans needs the catalogue to tell orphans");
    }
    auto outcome = CollectOrphans(*storage, **catalogue, std::chrono::system_clock::now(), kGcGrace,
                                  [&job] { return job.Cancelled(); });
    if (!outcome) return outcome.error().Wrap("gc-orphans");
    logger->info(log::With(
        "Orphaned objects collected",
        {{"scanned", outcome->scanned}, {"deleted", outcome->deleted}, {"kept", outcome->kept}}));
    return {};
  }

  void SubmitRefresh() {
    if (shared_->refreshing.exchange(true)) return;  // the last one still runs
    const bool queued = blocking_->Submit([shared = shared_] {
      shared->Refresh();
      shared->refreshing = false;
    });
    if (!queued) shared_->refreshing = false;
  }

  void SubmitPeriodic() {
    if (shared_->enqueueing.exchange(true)) return;
    const bool queued = blocking_->Submit([shared = shared_, interval = gc_interval_] {
      shared->EnqueuePeriodic(interval);
      shared->enqueueing = false;
    });
    if (!queued) shared_->enqueueing = false;
  }

  std::shared_ptr<Shared> shared_;
  ServiceRegistry* services_ = nullptr;
  boost::asio::any_io_executor executor_;
  BlockingPool* blocking_ = nullptr;
  Storage* storage_ = nullptr;
  WorkerOptions options_;
  std::chrono::milliseconds gc_interval_{0};
  std::shared_ptr<JobStore> store_;
  std::string where_;  // the store, for the log and health: "PostgreSQL at host:port/db"
  std::shared_ptr<QueueProxy> queue_;
  std::unique_ptr<JobQueue::Registration> gc_;  // on queue_, for the plugin's life
  std::unique_ptr<PeriodicTimer> refresh_timer_;
  std::unique_ptr<PeriodicTimer> gc_timer_;
  Registration collector_;
};

}  // namespace

std::unique_ptr<Plugin> MakeWorkerPlugin() { return std::make_unique<WorkerPlugin>(); }

Result<GcOutcome> CollectOrphans(Storage& storage, Catalogue& catalogue,
                                 std::chrono::system_clock::time_point now,
                                 std::chrono::milliseconds grace,
                                 const std::function<bool()>& cancelled) {
  constexpr std::string_view kPrefix = "videos/";
  auto objects = storage.List(kPrefix);
  if (!objects) return objects.error().Wrap("list the objects under videos/");
  GcOutcome outcome;
  std::map<std::string, bool> orphan;  // by video id, as the catalogue answered
  for (const auto& object : *objects) {
    if (cancelled && cancelled()) break;
    ++outcome.scanned;
    if (!object.key.starts_with(kPrefix)) continue;
    if (object.modified > now - grace) {
      ++outcome.kept;
      continue;
    }
    const std::string rest = object.key.substr(kPrefix.size());
    const std::string id = rest.substr(0, rest.find('/'));
    auto known = orphan.find(id);
    if (known == orphan.end()) {
      auto video = catalogue.Get(id);
      bool gone = false;
      if (video) {
        gone = video->state == VideoState::kDeleted;
      } else if (video.error().code == ErrorCode::kNotFound ||
                 video.error().code == ErrorCode::kInvalidArgument) {
        gone = true;  // no video has (or could have) that id
      } else {
        return video.error().Wrap("ask the catalogue about video " + id);
      }
      known = orphan.emplace(id, gone).first;
    }
    if (!known->second) {
      ++outcome.kept;
      continue;
    }
    if (auto deleted = storage.Delete(object.key);
        !deleted && deleted.error().code != ErrorCode::kNotFound) {
      return deleted.error().Wrap("delete " + object.key);
    }
    ++outcome.deleted;
  }
  return outcome;
}

}  // namespace sg::plugins
