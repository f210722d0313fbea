// The worker plugin on a fake context: the queue on a real SQLite file, its handlers, its
// periodic jobs, metrics and health; and gc-orphans' rule over a store and a catalogue of the
// test's own.
#include "daemon/plugins/worker/worker_plugin.h"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <mutex>

#include <catch2/catch.hpp>

#include "daemon/plugin_api/jobs.h"
#include "tests/support/fake_plugin_context.h"
#include "tests/support/nats_server.h"
#include "tests/support/process.h"

namespace sg::plugins {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> Overrides(const test::TempDir& dir, std::vector<std::string> more = {}) {
  more.push_back("metadata.sqlite_path=" + dir.path() + "/streamgate.db");
  more.push_back("worker.poll_interval=20ms");
  return more;
}

std::optional<Job> FindJob(JobQueue& queue, const std::string& kind) {
  JobFilter filter;
  filter.kind = kind;
  auto jobs = queue.List(filter);
  if (!jobs || jobs->empty()) return std::nullopt;
  return jobs->front();
}

// Objects by key, with the times the test gives them. Only List and Delete matter here.
class MapStorage final : public Storage {
 public:
  std::string_view Kind() const override { return "map"; }
  Result<std::unique_ptr<ObjectWriter>> Put(std::string_view) override {
    return Fail(ErrorCode::kInternal, "not in this test");
  }
  Result<std::unique_ptr<ObjectReader>> Get(std::string_view, ByteRange) override {
    return Fail(ErrorCode::kInternal, "not in this test");
  }
  Result<ObjectInfo> Stat(std::string_view key) override {
    std::lock_guard lock(mu);
    auto it = objects.find(std::string(key));
    if (it == objects.end()) return Fail(ErrorCode::kNotFound, std::string(key));
    return it->second;
  }
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override {
    std::lock_guard lock(mu);
    if (fail_list) return Fail(ErrorCode::kUnavailable, "store down");
    std::vector<ObjectInfo> out;
    for (const auto& [key, info] : objects) {
      if (key.starts_with(prefix)) out.push_back(info);
    }
    return out;
  }
  Result<void> Delete(std::string_view key) override {
    std::lock_guard lock(mu);
    if (objects.erase(std::string(key)) == 0) return Fail(ErrorCode::kNotFound, std::string(key));
    return {};
  }
  void Add(const std::string& key, std::chrono::system_clock::time_point modified) {
    std::lock_guard lock(mu);
    objects[key] = ObjectInfo{key, 1, "\"x\"", modified};
  }
  bool Has(const std::string& key) {
    std::lock_guard lock(mu);
    return objects.contains(key);
  }

  std::mutex mu;
  std::map<std::string, ObjectInfo> objects;
  bool fail_list = false;
};

// Videos by id; Get is all gc-orphans asks.
class MapCatalogue final : public Catalogue {
 public:
  Result<Video> Create(const NewVideo&) override { return Fail(ErrorCode::kInternal, "no"); }
  Result<Video> Get(const std::string& id) override {
    ++gets;
    if (down) return Fail(ErrorCode::kUnavailable, "database down");
    auto it = videos.find(id);
    if (it == videos.end()) return Fail(ErrorCode::kNotFound, "video " + id);
    return it->second;
  }
  Result<VideoPage> List(const VideoQuery&) override { return VideoPage{}; }
  Result<Video> Edit(const std::string&, const VideoEdit&) override {
    return Fail(ErrorCode::kInternal, "no");
  }
  Result<Video> Transition(const std::string&, const VideoTransition&) override {
    return Fail(ErrorCode::kInternal, "no");
  }
  void Add(const std::string& id, VideoState state) {
    Video v;
    v.id = id;
    v.state = state;
    videos[id] = v;
  }
  std::map<std::string, Video> videos;
  bool down = false;
  int gets = 0;
};

}  // namespace

TEST_CASE("the worker plugin offers the queue, runs handlers, and reports metrics and health",
          "[plugins][worker]") {
  test::TempDir dir;
  test::FakePluginContext f(Overrides(dir, {"worker.gc_interval=0"}));
  auto plugin = MakeWorkerPlugin();
  REQUIRE(plugin->Init(f.context).has_value());
  REQUIRE(plugin->Start().has_value());
  auto queue = f.services.Find<JobQueue>("worker");
  REQUIRE(queue.has_value());

  std::atomic<int> runs{0};
  auto handle = (*queue)->Handle(
      "echo",
      [&runs](JobContext& job) -> Result<void> {
        ++runs;
        job.Progress(1);
        return {};
      },
      1);
  REQUIRE(handle.has_value());
  JobSpec spec;
  spec.kind = "echo";
  spec.payload = R"({"n":1})";
  auto job = (*queue)->Enqueue(spec);
  REQUIRE(job.has_value());

  CHECK(test::WaitFor(
      [&] {
        auto got = (*queue)->Get(job->id);
        return got && got->state == JobState::kSucceeded;
      },
      10s));
  CHECK(runs == 1);
  const auto families = f.Families();
  for (const char* name :
       {"streamgate_worker_jobs", "streamgate_worker_jobs_started_total",
        "streamgate_worker_jobs_succeeded_total", "streamgate_worker_jobs_failed_total",
        "streamgate_worker_jobs_dead_total", "streamgate_worker_jobs_cancelled_total",
        "streamgate_worker_lease_lost_total", "streamgate_worker_jobs_running",
        "streamgate_worker_store_up"}) {
    INFO(name);
    CHECK(std::find(families.begin(), families.end(), name) != families.end());
  }
  CHECK(plugin->CheckHealth().status == HealthStatus::kHealthy);
  handle->reset();
  plugin->Stop(Clock::now() + 5s);
}

TEST_CASE("the worker plugin's queue survives a restart of the plugin", "[plugins][worker]") {
  test::TempDir dir;
  test::FakePluginContext f(Overrides(dir, {"worker.gc_interval=0"}));
  auto plugin = MakeWorkerPlugin();
  REQUIRE(plugin->Init(f.context).has_value());
  REQUIRE(plugin->Start().has_value());
  auto queue = f.services.Find<JobQueue>("worker");
  REQUIRE(queue.has_value());
  JobSpec spec;
  spec.kind = "later";
  auto job = (*queue)->Enqueue(spec);
  REQUIRE(job.has_value());
  plugin->Stop(Clock::now() + 5s);

  REQUIRE(plugin->Start().has_value());
  auto again = f.services.Find<JobQueue>("worker");
  REQUIRE(again.has_value());
  auto got = (*again)->Get(job->id);
  REQUIRE(got.has_value());
  CHECK(got->state == JobState::kQueued);
  auto cancelled = (*again)->Cancel(job->id);
  REQUIRE(cancelled.has_value());
  CHECK(cancelled->state == JobState::kCancelled);
  plugin->Stop(Clock::now() + 5s);
}

TEST_CASE("a handler registered with the worker plugin runs again after the plugin restarts",
          "[plugins][worker]") {
  test::TempDir dir;
  test::FakePluginContext f(Overrides(dir, {"worker.gc_interval=0"}));
  auto plugin = MakeWorkerPlugin();
  REQUIRE(plugin->Init(f.context).has_value());
  REQUIRE(plugin->Start().has_value());
  auto queue = f.services.Find<JobQueue>("worker");
  REQUIRE(queue.has_value());
  std::shared_ptr<JobQueue> held = *queue;  // as another plugin keeps it
  std::atomic<int> runs{0};
  auto handle = held->Handle(
      "again",
      [&runs](JobContext&) -> Result<void> {
        ++runs;
        return {};
      },
      1);
  REQUIRE(handle.has_value());
  // A second handler for the kind in this process is refused, naming it.
  auto twice = held->Handle(
      "again", [](JobContext&) -> Result<void> { return {}; }, 1);
  REQUIRE_FALSE(twice.has_value());
  CHECK_THAT(twice.error().message, Catch::Contains("again"));

  plugin->Stop(Clock::now() + 5s);
  // Stopped: the held queue says so, naming the way out.
  JobSpec spec;
  spec.kind = "again";
  auto refused = held->Enqueue(spec);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == ErrorCode::kUnavailable);
  CHECK_THAT(refused.error().message, Catch::Contains("streamgate plugins start worker"));

  REQUIRE(plugin->Start().has_value());
  auto job = held->Enqueue(spec);
  REQUIRE(job.has_value());
  CHECK(test::WaitFor(
      [&] {
        auto got = held->Get(job->id);
        return got && got->state == JobState::kSucceeded;
      },
      10s));
  CHECK(runs == 1);
  handle->reset();
  // The kind is free again once its registration is gone.
  auto free = held->Handle(
      "again", [](JobContext&) -> Result<void> { return {}; }, 1);
  CHECK(free.has_value());
  free->reset();
  plugin->Stop(Clock::now() + 5s);
}

TEST_CASE("the worker plugin queues the periodic jobs once per period", "[plugins][worker]") {
  test::TempDir dir;
  test::FakePluginContext f(Overrides(dir, {"worker.gc_interval=1h"}));
  auto plugin = MakeWorkerPlugin();
  REQUIRE(plugin->Init(f.context).has_value());
  REQUIRE(plugin->Start().has_value());
  auto queue = f.services.Find<JobQueue>("worker");
  REQUIRE(queue.has_value());

  // Start queues both at once; expire-uploads waits for the upload plugin's handler.
  REQUIRE(test::WaitFor([&] { return FindJob(**queue, kExpireUploadsKind).has_value(); }, 10s));
  REQUIRE(test::WaitFor([&] { return FindJob(**queue, kGcOrphansKind).has_value(); }, 10s));
  const Job expire = *FindJob(**queue, kExpireUploadsKind);
  CHECK(expire.state == JobState::kQueued);
  CHECK(expire.idempotency_key.starts_with("expire-uploads:"));
  // No storage in the fake context: gc-orphans fails its attempt rather than guessing.
  CHECK(test::WaitFor(
      [&] {
        auto gc = FindJob(**queue, kGcOrphansKind);
        return gc && gc->attempts >= 1 && !gc->last_error.empty();
      },
      10s));
  CHECK_THAT(FindJob(**queue, kGcOrphansKind)->last_error, Catch::Contains("no storage"));

  // A restart in the same period adds none.
  plugin->Stop(Clock::now() + 5s);
  REQUIRE(plugin->Start().has_value());
  queue = f.services.Find<JobQueue>("worker");
  REQUIRE(queue.has_value());
  JobFilter all;
  all.kind = kExpireUploadsKind;
  // Give the start's enqueue a chance to have happened: a refresh after it has.
  CHECK(test::WaitFor(
      [&] {
        const auto families = f.metrics->Collect();
        return std::any_of(families.begin(), families.end(), [](const MetricFamily& m) {
          return m.name == "streamgate_worker_store_up" && !m.samples.empty() &&
                 m.samples[0].value == 1;
        });
      },
      10s));
  auto expires = (*queue)->List(all);
  REQUIRE(expires.has_value());
  CHECK(expires->size() == 1);
  plugin->Stop(Clock::now() + 5s);
}

TEST_CASE("in microservice mode the worker plugin keeps its jobs on a real nats-server -js",
          "[plugins][worker]") {
  test::NatsServer nats(true);
  test::TempDir dir;
  test::FakePluginContext f(Overrides(dir, {"app.mode=microservice", "nats.url=" + nats.Url(),
                                            "nats.subject_prefix=t1.x", "worker.gc_interval=0"}));
  auto plugin = MakeWorkerPlugin();
  auto init = plugin->Init(f.context);
  INFO((init ? "" : init.error().message));
  REQUIRE(init.has_value());
  REQUIRE(plugin->Start().has_value());
  auto queue = f.services.Find<JobQueue>("worker");
  REQUIRE(queue.has_value());
  std::atomic<int> runs{0};
  auto handle = (*queue)->Handle(
      "js-echo",
      [&runs](JobContext&) -> Result<void> {
        ++runs;
        return {};
      },
      1);
  REQUIRE(handle.has_value());
  JobSpec spec;
  spec.kind = "js-echo";
  auto job = (*queue)->Enqueue(spec);
  REQUIRE(job.has_value());
  CHECK(test::WaitFor(
      [&] {
        auto got = (*queue)->Get(job->id);
        return got && got->state == JobState::kSucceeded;
      },
      20s));
  CHECK(runs == 1);
  CHECK(test::WaitFor([&] { return plugin->CheckHealth().status == HealthStatus::kHealthy; }, 10s));
  handle->reset();
  plugin->Stop(Clock::now() + 5s);
}

TEST_CASE("the worker plugin says what is wrong: NATS without JetStream, a file that is not SQLite",
          "[plugins][worker]") {
  test::TempDir dir;
  {
    test::NatsServer plain(false);
    test::FakePluginContext f(Overrides(dir, {"app.mode=microservice", "nats.url=" + plain.Url()}));
    auto plugin = MakeWorkerPlugin();
    auto init = plugin->Init(f.context);
    REQUIRE_FALSE(init.has_value());
    CHECK_THAT(init.error().message, Catch::Contains("JetStream") && Catch::Contains(plain.Url()));
  }
  {
    const std::string bad = dir.path() + "/not.db";
    {
      std::ofstream out(bad);
      out << "this is not a database, but it is long enough to have a header of sorts......\n";
    }
    test::FakePluginContext f({"metadata.sqlite_path=" + bad});
    auto plugin = MakeWorkerPlugin();
    auto init = plugin->Init(f.context);
    REQUIRE_FALSE(init.has_value());
    CHECK_THAT(init.error().message, Catch::Contains("worker"));
  }
}

TEST_CASE("gc-orphans deletes old objects of unknown or deleted videos, and only those",
          "[plugins][worker]") {
  MapStorage storage;
  MapCatalogue catalogue;
  const auto now = std::chrono::system_clock::now();
  const auto old = now - 2h;
  catalogue.Add("LIVE", VideoState::kReady);
  catalogue.Add("GONE", VideoState::kDeleted);
  storage.Add("videos/LIVE/source", old);
  storage.Add("videos/LIVE/720p/seg1.ts", old);
  storage.Add("videos/GONE/source", old);
  storage.Add("videos/GONE/720p/seg1.ts", old);
  storage.Add("videos/UNKNOWN/source", old);
  storage.Add("videos/NEW/source", now - 1min);  // too recent to judge
  storage.Add("videos/'; DROP TABLE videos; --/x", old);
  storage.Add("posters/elsewhere.jpg", old);  // not under videos/

  auto outcome = CollectOrphans(storage, catalogue, now, 1h, {});
  REQUIRE(outcome.has_value());

  CHECK(storage.Has("videos/LIVE/source"));
  CHECK(storage.Has("videos/LIVE/720p/seg1.ts"));
  CHECK_FALSE(storage.Has("videos/GONE/source"));
  CHECK_FALSE(storage.Has("videos/GONE/720p/seg1.ts"));
  CHECK_FALSE(storage.Has("videos/UNKNOWN/source"));
  CHECK_FALSE(storage.Has("videos/'; DROP TABLE videos; --/x"));
  CHECK(storage.Has("videos/NEW/source"));
  CHECK(storage.Has("posters/elsewhere.jpg"));
  CHECK(outcome->scanned == 7);
  CHECK(outcome->deleted == 4);
  CHECK(outcome->kept == 3);
  // One question per video, not per object.
  CHECK(catalogue.gets == 4);
}

TEST_CASE("gc-orphans deletes nothing when the catalogue or the store cannot answer",
          "[plugins][worker]") {
  MapStorage storage;
  MapCatalogue catalogue;
  const auto now = std::chrono::system_clock::now();
  storage.Add("videos/A/source", now - 2h);
  catalogue.down = true;

  auto outcome = CollectOrphans(storage, catalogue, now, 1h, {});
  REQUIRE_FALSE(outcome.has_value());
  CHECK(outcome.error().code == ErrorCode::kUnavailable);
  CHECK(storage.Has("videos/A/source"));

  storage.fail_list = true;
  catalogue.down = false;
  auto listed = CollectOrphans(storage, catalogue, now, 1h, {});
  REQUIRE_FALSE(listed.has_value());
  CHECK_THAT(listed.error().message, Catch::Contains("videos/"));

  // A cancel stops it between objects.
  storage.fail_list = false;
  auto cancelled = CollectOrphans(storage, catalogue, now, 1h, [] { return true; });
  REQUIRE(cancelled.has_value());
  CHECK(cancelled->deleted == 0);
  CHECK(storage.Has("videos/A/source"));
}

}  // namespace sg::plugins
