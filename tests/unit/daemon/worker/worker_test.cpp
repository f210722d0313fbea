// The worker (worker.h) over the SQLite job store on real files: jobs run to the end, the
// concurrency per kind holds, failures back off and end dead, cancels and progress reach across,
// and a worker process killed mid-job leaves its job to another one, which runs it once more.
#include "daemon/plugins/worker/worker.h"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "daemon/plugin_api/sql.h"
#include "daemon/plugins/worker/sql_job_store.h"
#include "tests/support/process.h"
#include "tests/support/sql_backends.h"

namespace sg {
namespace {

using namespace std::chrono_literals;
using plugins::AttemptFailure;
using plugins::JobStore;
using plugins::MakeWorker;
using plugins::Worker;
using plugins::WorkerOptions;
using std::chrono::milliseconds;
using test::WaitFor;

constexpr auto kWait = 20s;  // the deadline of every wait; none should come near it

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<JobStore> StoreOn(const std::shared_ptr<SqlDatabase>& db) {
  auto migrated = db->Migrate("jobs", plugins::JobMigrations());
  if (!migrated) FAIL("migrate: " << migrated.error().message);
  return plugins::MakeSqlJobStore(db);
}

std::shared_ptr<JobStore> FreshStore() {
  auto db = test::OpenFreshSqlite();
  REQUIRE(db);
  return StoreOn(db);
}

WorkerOptions Fast() {
  WorkerOptions options;
  options.owner = "test:1";
  options.default_concurrency = 2;
  options.max_attempts = 3;
  options.lease = 1500ms;
  options.poll_interval = 20ms;
  options.backoff_base = 20ms;
  options.backoff_max = 80ms;
  return options;
}

JobSpec Spec(const std::string& kind, const std::string& payload = "{}") {
  JobSpec spec;
  spec.kind = kind;
  spec.payload = payload;
  return spec;
}

Job MustEnqueue(JobQueue& queue, const JobSpec& spec) {
  auto job = queue.Enqueue(spec);
  if (!job) FAIL("enqueue: " << job.error().message);
  return *job;
}

std::unique_ptr<JobQueue::Registration> MustHandle(JobQueue& queue, const std::string& kind,
                                                   JobHandler handler, int concurrency = 0) {
  auto registration = queue.Handle(kind, std::move(handler), concurrency);
  if (!registration) FAIL("handle: " << registration.error().message);
  return std::move(*registration);
}

bool StateIs(JobQueue& queue, const std::string& id, JobState state) {
  auto job = queue.Get(id);
  return job && job->state == state;
}

// A store that records each failed attempt's clock and retry time, for the backoff.
class RecordingStore : public JobStore {
 public:
  struct Failure {
    int64_t now;
    AttemptFailure failure;
  };
  explicit RecordingStore(std::shared_ptr<JobStore> inner) : inner_(std::move(inner)) {}
  Result<Job> Enqueue(const JobSpec& spec, int max_attempts, int64_t now) override {
    return inner_->Enqueue(spec, max_attempts, now);
  }
  Result<Job> Get(const std::string& id) override { return inner_->Get(id); }
  Result<std::vector<Job>> List(const JobFilter& filter) override { return inner_->List(filter); }
  Result<Job> Retry(const std::string& id, int64_t now) override { return inner_->Retry(id, now); }
  Result<Job> Cancel(const std::string& id, int64_t now) override {
    return inner_->Cancel(id, now);
  }
  Result<std::vector<JobCounts>> Counts() override { return inner_->Counts(); }
  Result<std::optional<Job>> Lease(const std::string& kind, const std::string& owner,
                                   milliseconds lease, int64_t now) override {
    return inner_->Lease(kind, owner, lease, now);
  }
  Result<void> Renew(const std::string& id, const std::string& owner, milliseconds lease,
                     double progress, int64_t now) override {
    if (renew_unavailable) return sg::Fail(ErrorCode::kUnavailable, "the store is away (test)");
    return inner_->Renew(id, owner, lease, progress, now);
  }
  Result<void> Succeed(const std::string& id, const std::string& owner, int64_t now) override {
    return inner_->Succeed(id, owner, now);
  }
  Result<void> Fail(const std::string& id, const std::string& owner, const AttemptFailure& failure,
                    int64_t now) override {
    {
      std::lock_guard lock(mu_);
      failures_.push_back({now, failure});
    }
    return inner_->Fail(id, owner, failure, now);
  }
  Result<void> AcknowledgeCancel(const std::string& id, const std::string& owner,
                                 int64_t now) override {
    return inner_->AcknowledgeCancel(id, owner, now);
  }
  std::atomic<bool> renew_unavailable{false};  // Renew fails as an unreachable store would

  std::vector<Failure> failures() {
    std::lock_guard lock(mu_);
    return failures_;
  }

 private:
  std::shared_ptr<JobStore> inner_;
  std::mutex mu_;
  std::vector<Failure> failures_;
};

TEST_CASE("a worker runs enqueued jobs to success", "[worker]") {
  auto worker = MakeWorker(FreshStore(), Fast());
  std::mutex mu;
  std::multiset<std::string> seen;
  auto registration = MustHandle(*worker, "transcode", [&](JobContext& context) -> Result<void> {
    std::lock_guard lock(mu);
    seen.insert(context.job().payload);
    return {};
  });

  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i)
    ids.push_back(MustEnqueue(*worker, Spec("transcode", std::to_string(i))).id);

  for (const auto& id : ids) {
    REQUIRE(WaitFor([&] { return StateIs(*worker, id, JobState::kSucceeded); }, kWait));
  }
  // The worker counts a success just after the store records it.
  CHECK(WaitFor([&] { return worker->Stats().succeeded == 10; }, kWait));
  std::lock_guard lock(mu);
  CHECK(seen.size() == 10);
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 10);
  auto done = worker->Get(ids.front());
  REQUIRE(done);
  CHECK(done->attempts == 1);
  CHECK(done->progress == Approx(1));
  CHECK(worker->Stats().succeeded == 10);
  CHECK(worker->Stats().started == 10);
}

TEST_CASE("an enqueue in this process wakes the kind's idle pollers at once", "[worker]") {
  WorkerOptions options = Fast();
  options.poll_interval = std::chrono::hours(1);  // only a wake-up can run the jobs in time
  auto worker = MakeWorker(FreshStore(), options);
  auto registration = MustHandle(
      *worker, "k", [](JobContext&) -> Result<void> { return {}; }, 1);
  // The poller's first look finds nothing; then it sleeps.
  REQUIRE(WaitFor([&] { return worker->Stats().started == 0; }, kWait));

  Job first = MustEnqueue(*worker, Spec("k"));
  REQUIRE(WaitFor([&] { return StateIs(*worker, first.id, JobState::kSucceeded); }, kWait));
  Job second = MustEnqueue(*worker, Spec("k"));
  REQUIRE(WaitFor([&] { return StateIs(*worker, second.id, JobState::kSucceeded); }, kWait));
  REQUIRE(worker->Cancel(MustEnqueue(*worker, Spec("never")).id));
}

TEST_CASE("two workers on one database run each job once", "[worker]") {
  auto store = FreshStore();
  WorkerOptions a_options = Fast();
  a_options.owner = "a";
  WorkerOptions b_options = Fast();
  b_options.owner = "b";
  auto a = MakeWorker(store, a_options);
  auto b = MakeWorker(store, b_options);
  std::mutex mu;
  std::map<std::string, int> runs;
  auto count = [&](JobContext& context) -> Result<void> {
    std::lock_guard lock(mu);
    ++runs[context.job().id];
    return {};
  };
  auto a_registration = MustHandle(*a, "k", count, 3);
  auto b_registration = MustHandle(*b, "k", count, 3);

  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) ids.push_back(MustEnqueue(i % 2 == 0 ? *a : *b, Spec("k")).id);

  for (const auto& id : ids) {
    REQUIRE(WaitFor([&] { return StateIs(*a, id, JobState::kSucceeded); }, kWait));
  }
  // A worker counts a success just after the store records it: wait for the counters too.
  CHECK(WaitFor([&] { return a->Stats().succeeded + b->Stats().succeeded == ids.size(); }, kWait));
  std::lock_guard lock(mu);
  CHECK(runs.size() == ids.size());
  for (const auto& [id, n] : runs) CHECK(n == 1);
  CHECK(a->Stats().succeeded + b->Stats().succeeded == ids.size());
}

TEST_CASE("a handler whose lease was lost is told to stop, and its result is dropped", "[worker]") {
  auto recording = std::make_shared<RecordingStore>(FreshStore());
  WorkerOptions options = Fast();
  options.lease = 300ms;
  auto worker = MakeWorker(recording, options);
  std::atomic<bool> running{false};
  std::atomic<bool> saw_cancel{false};
  auto registration = MustHandle(
      *worker, "k",
      [&](JobContext& context) -> Result<void> {
        running = true;
        saw_cancel = WaitFor([&] { return context.Cancelled(); }, kWait);
        return {};  // dropped: the job is no longer ours
      },
      1);  // the one poller is busy here: the expired job goes to "other"

  Job job = MustEnqueue(*worker, Spec("k"));
  REQUIRE(WaitFor([&] { return running.load(); }, kWait));

  // The store goes away for this worker long enough for its lease to run out; another takes it.
  recording->renew_unavailable = true;
  std::optional<Job> taken;
  REQUIRE(WaitFor(
      [&] {
        auto leased = recording->Lease("k", "other", 60s, NowMs());
        if (leased && *leased) taken = **leased;
        return taken.has_value();
      },
      kWait));
  recording->renew_unavailable = false;

  REQUIRE(WaitFor([&] { return saw_cancel.load(); }, kWait));
  REQUIRE(WaitFor([&] { return worker->Stats().running == 0; }, kWait));
  CHECK(taken->id == job.id);
  CHECK(worker->Stats().lease_lost == 1);
  auto still = worker->Get(job.id);
  REQUIRE(still);
  CHECK(still->state == JobState::kRunning);
  CHECK(still->lease_owner == "other");
  REQUIRE(recording->Succeed(job.id, "other", NowMs()));
}

TEST_CASE("a worker never runs more handlers of a kind than its concurrency", "[worker]") {
  auto worker = MakeWorker(FreshStore(), Fast());
  std::atomic<int> now_running{0};
  std::atomic<int> most{0};
  auto registration = MustHandle(
      *worker, "k",
      [&](JobContext&) -> Result<void> {
        const int here = ++now_running;
        int seen = most;
        while (here > seen && !most.compare_exchange_weak(seen, here)) {
        }
        // Stay until three run at once (or a while), so that a fourth would show.
        WaitFor([&] { return most >= 3; }, 2s);
        --now_running;
        return {};
      },
      3);

  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) ids.push_back(MustEnqueue(*worker, Spec("k")).id);

  for (const auto& id : ids) {
    REQUIRE(WaitFor([&] { return StateIs(*worker, id, JobState::kSucceeded); }, kWait));
  }
  CHECK(most == 3);
  CHECK(worker->Stats().running == 0);
}

TEST_CASE("a worker retries a failing job with exponential backoff, then ends it dead",
          "[worker]") {
  auto recording = std::make_shared<RecordingStore>(FreshStore());
  WorkerOptions options = Fast();
  options.max_attempts = 4;
  options.backoff_base = 20ms;
  options.backoff_max = 50ms;
  auto worker = MakeWorker(recording, options);
  std::atomic<int> calls{0};
  auto registration = MustHandle(*worker, "k", [&](JobContext& context) -> Result<void> {
    ++calls;
    return sg::Fail(ErrorCode::kIo,
                    "attempt " + std::to_string(context.job().attempts) + ": disk full");
  });

  Job job = MustEnqueue(*worker, Spec("k"));

  REQUIRE(WaitFor([&] { return StateIs(*worker, job.id, JobState::kDead); }, kWait));
  auto dead = worker->Get(job.id);
  REQUIRE(dead);
  CHECK(dead->attempts == 4);
  CHECK(dead->last_error == "attempt 4: disk full");
  CHECK(calls == 4);
  auto failures = recording->failures();
  REQUIRE(failures.size() == 4);
  // 20, 40, then 80 capped to 50 ms, each within ±20%.
  const std::vector<double> expected = {20, 40, 50};
  for (size_t i = 0; i < 3; ++i) {
    REQUIRE(failures[i].failure.retry_at);
    const auto delay = static_cast<double>(*failures[i].failure.retry_at - failures[i].now);
    INFO("attempt " << i + 1 << " delay " << delay);
    CHECK(delay >= expected[i] * 0.8 - 1);
    CHECK(delay <= expected[i] * 1.2 + 1);
  }
  CHECK_FALSE(failures[3].failure.retry_at);
  auto stats = worker->Stats();
  CHECK(stats.failed == 4);
  CHECK(stats.dead == 1);
}

TEST_CASE("a worker ends a job dead at once when its handler says the input is bad", "[worker]") {
  auto worker = MakeWorker(FreshStore(), Fast());
  std::atomic<int> calls{0};
  auto registration = MustHandle(*worker, "k", [&](JobContext&) -> Result<void> {
    ++calls;
    return sg::Fail(ErrorCode::kInvalidArgument, "payload: no video id");
  });

  Job job = MustEnqueue(*worker, Spec("k"));

  REQUIRE(WaitFor([&] { return StateIs(*worker, job.id, JobState::kDead); }, kWait));
  auto dead = worker->Get(job.id);
  REQUIRE(dead);
  CHECK(dead->attempts == 1);
  CHECK(dead->last_error == "payload: no video id");
  CHECK(calls == 1);
}

TEST_CASE("a worker catches what a handler throws and counts it a failed attempt", "[worker]") {
  auto worker = MakeWorker(FreshStore(), Fast());
  auto registration = MustHandle(*worker, "k", [&](JobContext& context) -> Result<void> {
    if (context.job().payload == "odd") throw 42;
    throw std::runtime_error("kaboom");
  });
  JobSpec spec = Spec("k");
  spec.max_attempts = 1;
  JobSpec odd = Spec("k", "odd");
  odd.max_attempts = 1;

  Job job = MustEnqueue(*worker, spec);
  Job other = MustEnqueue(*worker, odd);

  REQUIRE(WaitFor([&] { return StateIs(*worker, job.id, JobState::kDead); }, kWait));
  REQUIRE(WaitFor([&] { return StateIs(*worker, other.id, JobState::kDead); }, kWait));
  auto dead = worker->Get(job.id);
  REQUIRE(dead);
  CHECK(dead->last_error == "handler threw: kaboom");
  auto odd_dead = worker->Get(other.id);
  REQUIRE(odd_dead);
  CHECK_THAT(odd_dead->last_error, Catch::StartsWith("handler threw"));
}

TEST_CASE("a job whose last attempt's lease expired ends dead without running again", "[worker]") {
  auto store = FreshStore();
  JobSpec spec = Spec("k");
  spec.max_attempts = 1;
  Job job = *store->Enqueue(spec, 5, NowMs());
  // A worker that is gone took the last attempt under a short lease.
  REQUIRE(*store->Lease("k", "gone", 1ms, NowMs()));
  auto worker = MakeWorker(store, Fast());
  std::atomic<int> calls{0};
  auto registration = MustHandle(*worker, "k", [&](JobContext&) -> Result<void> {
    ++calls;
    return {};
  });

  REQUIRE(WaitFor([&] { return StateIs(*worker, job.id, JobState::kDead); }, kWait));
  auto dead = worker->Get(job.id);
  REQUIRE(dead);
  CHECK_THAT(dead->last_error, Catch::Contains("lease expired"));
  CHECK(calls == 0);
}

TEST_CASE("a cancel reaches a running handler, from this process or through the store",
          "[worker]") {
  auto store = FreshStore();
  auto worker = MakeWorker(store, Fast());
  std::atomic<int> started{0};
  std::atomic<int> saw_cancel{0};
  auto registration = MustHandle(*worker, "k", [&](JobContext& context) -> Result<void> {
    ++started;
    if (WaitFor([&] { return context.Cancelled(); }, kWait)) ++saw_cancel;
    return {};  // ignored: the job was cancelled
  });

  Job here = MustEnqueue(*worker, Spec("k"));
  REQUIRE(WaitFor([&] { return started == 1; }, kWait));
  auto cancelled = worker->Cancel(here.id);
  REQUIRE(cancelled);
  REQUIRE(WaitFor([&] { return StateIs(*worker, here.id, JobState::kCancelled); }, kWait));
  CHECK(saw_cancel == 1);

  // Another process cancels through the store: the handler learns it at the next heartbeat.
  Job there = MustEnqueue(*worker, Spec("k"));
  REQUIRE(WaitFor([&] { return started == 2; }, kWait));
  REQUIRE(store->Cancel(there.id, NowMs()));
  REQUIRE(WaitFor([&] { return StateIs(*worker, there.id, JobState::kCancelled); }, kWait));
  CHECK(saw_cancel == 2);
  CHECK(WaitFor([&] { return worker->Stats().cancelled == 2; }, kWait));

  Job queued = MustEnqueue(*worker, Spec("never"));
  auto at_once = worker->Cancel(queued.id);
  REQUIRE(at_once);
  CHECK(at_once->state == JobState::kCancelled);
}

TEST_CASE("a worker records the progress a handler reports", "[worker]") {
  WorkerOptions options = Fast();
  options.lease = 300ms;  // a heartbeat each 100 ms
  auto worker = MakeWorker(FreshStore(), options);
  std::atomic<bool> release{false};
  auto registration = MustHandle(*worker, "k", [&](JobContext& context) -> Result<void> {
    context.Progress(0.5);
    WaitFor([&] { return release.load(); }, kWait);
    return {};
  });

  Job job = MustEnqueue(*worker, Spec("k"));

  bool recorded = WaitFor(
      [&] {
        auto got = worker->Get(job.id);
        return got && got->state == JobState::kRunning && got->progress == Approx(0.5);
      },
      kWait);
  release = true;
  CHECK(recorded);
  REQUIRE(WaitFor([&] { return StateIs(*worker, job.id, JobState::kSucceeded); }, kWait));
}

TEST_CASE("a worker refuses bad registrations", "[worker]") {
  auto worker = MakeWorker(FreshStore(), Fast());
  auto ok = [](JobContext&) -> Result<void> { return {}; };
  auto registration = MustHandle(*worker, "k", ok);

  auto twice = worker->Handle("k", ok, 1);
  auto bad_kind = worker->Handle("Bad Kind", ok, 1);
  auto no_handler = worker->Handle("j", nullptr, 1);
  auto bad_concurrency = worker->Handle("j", ok, -1);

  REQUIRE_FALSE(twice);
  CHECK(twice.error().code == ErrorCode::kFailedPrecondition);
  REQUIRE_FALSE(bad_kind);
  CHECK(bad_kind.error().code == ErrorCode::kInvalidArgument);
  REQUIRE_FALSE(no_handler);
  CHECK(no_handler.error().code == ErrorCode::kInvalidArgument);
  REQUIRE_FALSE(bad_concurrency);
  CHECK(bad_concurrency.error().code == ErrorCode::kInvalidArgument);
  auto bad_spec = worker->Enqueue(Spec("k", std::string((1 << 20) + 1, 'x')));
  REQUIRE_FALSE(bad_spec);
  CHECK(bad_spec.error().code == ErrorCode::kInvalidArgument);
  registration.reset();
  CHECK(worker->Handle("k", ok, 1));  // free again once its registration went
}

TEST_CASE("dropping a registration waits for the kind's running handler", "[worker]") {
  auto worker = MakeWorker(FreshStore(), Fast());
  std::atomic<bool> running{false};
  std::atomic<bool> release{false};
  std::atomic<bool> finished{false};
  auto registration = MustHandle(*worker, "k", [&](JobContext&) -> Result<void> {
    running = true;
    WaitFor([&] { return release.load(); }, kWait);
    finished = true;
    return {};
  });
  Job job = MustEnqueue(*worker, Spec("k"));
  REQUIRE(WaitFor([&] { return running.load(); }, kWait));

  std::atomic<bool> finished_when_dropped{false};
  std::thread dropper([&] {
    registration.reset();
    finished_when_dropped = finished.load();
  });
  release = true;
  dropper.join();

  CHECK(finished_when_dropped);
  CHECK(StateIs(*worker, job.id, JobState::kSucceeded));
}

TEST_CASE("shutdown tells handlers still running to stop and leaves their jobs to lease expiry",
          "[worker]") {
  auto store = FreshStore();
  auto worker = MakeWorker(store, Fast());
  std::atomic<bool> running{false};
  std::atomic<bool> saw_cancel{false};
  auto registration = MustHandle(*worker, "k", [&](JobContext& context) -> Result<void> {
    running = true;
    saw_cancel = WaitFor([&] { return context.Cancelled(); }, kWait);
    return sg::Fail(ErrorCode::kUnavailable, "stopped");
  });
  Job job = MustEnqueue(*worker, Spec("k"));
  REQUIRE(WaitFor([&] { return running.load(); }, kWait));

  worker->Shutdown(std::chrono::steady_clock::now() + 50ms);

  REQUIRE(WaitFor([&] { return saw_cancel.load(); }, kWait));
  registration.reset();
  auto left = store->Get(job.id);
  REQUIRE(left);
  CHECK(left->state == JobState::kRunning);
  CHECK(left->attempts == 1);
  auto late = worker->Handle(
      "other", [](JobContext&) -> Result<void> { return {}; }, 1);
  REQUIRE_FALSE(late);
  CHECK(late.error().code == ErrorCode::kFailedPrecondition);
}

// The crash test's child: a worker on the database at SG_CRASH_DB whose handler makes its
// effect and then hangs, until the parent kills the process. Runs only when the parent starts it.
const char* kEffectsTable =
    "CREATE TABLE IF NOT EXISTS effects (job_id TEXT PRIMARY KEY, runs BIGINT NOT NULL)";

// The handler's idempotent effect: one row per job, however often it runs; `runs` counts runs.
Result<void> MakeEffect(SqlDatabase& db, const std::string& job_id) {
  auto done = db.Exec(
      "INSERT INTO effects (job_id, runs) VALUES ($1, 1) ON CONFLICT (job_id) DO UPDATE SET "
      "runs = effects.runs + 1",
      {job_id});
  if (!done) return done.error();
  return {};
}

std::shared_ptr<SqlDatabase> OpenAt(const std::string& path) {
  SqliteOptions options;
  options.path = path;
  auto db = OpenSqlite(options);
  if (!db) FAIL("open " << path << ": " << db.error().message);
  return *db;
}

TEST_CASE("crash child: a worker whose handler hangs after its effect", "[.][crash-child]") {
  const char* path = std::getenv("SG_CRASH_DB");
  if (path == nullptr) return;
  auto db = OpenAt(path);
  WorkerOptions options = Fast();
  options.owner = "child";
  options.lease = 1000ms;
  auto worker = MakeWorker(StoreOn(db), options);
  auto registration = MustHandle(*worker, "k", [&](JobContext& context) -> Result<void> {
    if (auto effect = MakeEffect(*db, context.job().id); !effect) return effect;
    for (;;) std::this_thread::sleep_for(1s);  // hangs until SIGKILL
  });
  for (;;) std::this_thread::sleep_for(1s);
}

TEST_CASE("a job whose worker process was killed mid-job runs to the end once elsewhere",
          "[worker]") {
  test::TempDir dir;
  const std::string path = dir.path() + "/jobs.db";
  auto db = OpenAt(path);
  auto store = StoreOn(db);
  REQUIRE(db->Exec(kEffectsTable));
  JobSpec spec = Spec("k", "crash me");
  Job job = *store->Enqueue(spec, 5, NowMs());
  test::SpawnOptions spawn;
  spawn.env["SG_CRASH_DB"] = path;
  test::Process child({"/proc/self/exe", "[crash-child]"}, dir, spawn);

  // The child has the job and has made its effect; then it dies without a word.
  bool child_mid_job = WaitFor(
      [&] {
        auto got = store->Get(job.id);
        auto effects = db->Exec("SELECT runs FROM effects WHERE job_id = $1", {job.id});
        return got && got->state == JobState::kRunning && got->lease_owner == "child" && effects &&
               !effects->rows.empty();
      },
      kWait);
  INFO("child stderr: " << child.Stderr());
  REQUIRE(child_mid_job);
  child.Signal(SIGKILL);
  REQUIRE(child.Wait(kWait) == 128 + SIGKILL);

  WorkerOptions options = Fast();
  options.owner = "parent";
  options.lease = 300ms;
  auto worker = MakeWorker(store, options);
  std::atomic<int> parent_runs{0};
  auto registration = MustHandle(*worker, "k", [&](JobContext& context) -> Result<void> {
    ++parent_runs;
    return MakeEffect(*db, context.job().id);
  });

  REQUIRE(WaitFor([&] { return StateIs(*worker, job.id, JobState::kSucceeded); }, kWait));
  auto done = store->Get(job.id);
  REQUIRE(done);
  CHECK(done->attempts == 2);
  CHECK(parent_runs == 1);
  auto effects = db->Exec("SELECT job_id, runs FROM effects");
  REQUIRE(effects);
  REQUIRE(effects->rows.size() == 1);  // one visible effect
  CHECK(effects->rows[0].Text(0) == job.id);
  CHECK(effects->rows[0].Int(1) == 2);  // though the handler ran twice
}

}  // namespace
}  // namespace sg
