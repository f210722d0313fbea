// The metadata plugin on a fake context and a real SQLite file: the REST API through the captured
// routes, the catalogue service, the delete-video job through a recording queue, the catalogue
// across "processes" through a loopback bus, and the files it must refuse.
#include "daemon/plugins/metadata/metadata_plugin.h"

#include <condition_variable>
#include <fstream>
#include <map>
#include <set>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/catalogue_json.h"
#include "daemon/plugin_api/catalogue_rpc.h"
#include "daemon/plugin_api/jobs.h"
#include "daemon/plugin_api/sql.h"
#include "daemon/plugins/metadata/metadata_http.h"
#include "daemon/plugins/metadata/sql_catalogue.h"
#include "tests/support/fake_plugin_context.h"
#include "tests/support/process.h"

namespace sg::plugins {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// This build's migrations and one more, as a newer streamgated would have left the database.
std::vector<SqlMigration> MetadataMigrationsPlusOne() {
  auto migrations = MetadataMigrations();
  const int next = migrations.back().version + 1;
  migrations.push_back({next, "from the future", {"CREATE TABLE future_thing (x TEXT)"}});
  return migrations;
}

struct Fixture {
  explicit Fixture(std::vector<std::string> sets = {}) : ctx(With(dir, std::move(sets))) {}
  static std::vector<std::string> With(const test::TempDir& dir, std::vector<std::string> sets) {
    sets.push_back("metadata.sqlite_path=" + dir.path() + "/db/streamgate.db");
    sets.push_back("metadata.retry_interval=100ms");
    return sets;
  }
  std::shared_ptr<Catalogue> Service() {
    auto found = ctx.services.Find<Catalogue>("metadata");
    REQUIRE(found.has_value());
    return *found;
  }
  Video Make(const std::string& title, const std::string& owner = "alice") {
    NewVideo v;
    v.title = title;
    v.owner = owner;
    v.source_key = "uploads/" + title;
    auto made = Service()->Create(v);
    REQUIRE(made.has_value());
    return *made;
  }
  json Body(const HttpResponse& r) {
    INFO(r.body);
    auto j = json::parse(r.body, nullptr, false);
    REQUIRE(!j.is_discarded());
    return j;
  }
  test::TempDir dir;
  test::FakePluginContext ctx;
};

// A job queue that records what it is given and runs a registered handler on demand.
class RecordingQueue final : public JobQueue {
 public:
  Result<Job> Enqueue(const JobSpec& spec) override {
    std::lock_guard lock(mu);
    specs.push_back(spec);
    Job job;
    job.id = "job-" + std::to_string(specs.size());
    job.kind = spec.kind;
    job.payload = spec.payload;
    job.idempotency_key = spec.idempotency_key;
    return job;
  }
  Result<Job> Get(const std::string&) override { return Fail(ErrorCode::kNotFound, "none"); }
  Result<std::vector<Job>> List(const JobFilter&) override { return std::vector<Job>(); }
  Result<Job> Retry(const std::string&) override { return Fail(ErrorCode::kNotFound, "none"); }
  Result<Job> Cancel(const std::string&) override { return Fail(ErrorCode::kNotFound, "none"); }
  Result<std::vector<JobCounts>> Counts() override { return std::vector<JobCounts>(); }
  Result<std::unique_ptr<Registration>> Handle(const std::string& kind, JobHandler handler,
                                               int) override {
    std::lock_guard lock(mu);
    handlers[kind] = std::move(handler);
    return std::unique_ptr<Registration>(std::make_unique<Registration>());
  }
  JobHandler HandlerFor(const std::string& kind) {
    std::lock_guard lock(mu);
    auto it = handlers.find(kind);
    return it == handlers.end() ? JobHandler() : it->second;
  }
  std::vector<JobSpec> Specs() {
    std::lock_guard lock(mu);
    return specs;
  }
  std::mutex mu;
  std::vector<JobSpec> specs;
  std::map<std::string, JobHandler> handlers;
};

class FakeJob final : public JobContext {
 public:
  explicit FakeJob(Job j) : job_(std::move(j)) {}
  const Job& job() const override { return job_; }
  void Progress(double) override {}
  bool Cancelled() const override { return false; }

 private:
  Job job_;
};

// Storage as a set of keys.
class KeyStorage final : public Storage {
 public:
  std::string_view Kind() const override { return "keys"; }
  Result<std::unique_ptr<ObjectWriter>> Put(std::string_view) override {
    return Fail(ErrorCode::kInvalidArgument, "not here");
  }
  Result<std::unique_ptr<ObjectReader>> Get(std::string_view, ByteRange) override {
    return Fail(ErrorCode::kInvalidArgument, "not here");
  }
  Result<ObjectInfo> Stat(std::string_view key) override {
    std::lock_guard lock(mu);
    if (!keys.contains(std::string(key))) return Fail(ErrorCode::kNotFound, "no");
    return ObjectInfo{std::string(key), 1, "\"x\"", {}};
  }
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override {
    std::lock_guard lock(mu);
    std::vector<ObjectInfo> out;
    for (const auto& k : keys) {
      if (k.starts_with(prefix)) out.push_back({k, 1, "\"x\"", {}});
    }
    return out;
  }
  Result<void> Delete(std::string_view key) override {
    std::lock_guard lock(mu);
    if (keys.erase(std::string(key)) == 0) return Fail(ErrorCode::kNotFound, "no object");
    return {};
  }
  std::mutex mu;
  std::set<std::string> keys;
};

// A bus that answers requests from its subscribers, as NATS would between two processes.
class LoopbackBus final : public Bus {
 public:
  Result<void> Publish(const std::string& subject, std::string data, std::string reply) override {
    std::vector<Handler> targets;
    {
      std::lock_guard lock(mu_);
      if (auto it = waiting_.find(subject); it != waiting_.end()) {
        it->second = std::move(data);
        cv_.notify_all();
        return {};
      }
      for (const auto& [id, sub] : subs_) {
        if (sub.first == subject) targets.push_back(sub.second);
      }
    }
    for (auto& h : targets) h(Message{subject, data, reply});
    return {};
  }
  Result<SubscriptionId> Subscribe(const std::string& pattern, Handler handler, size_t) override {
    std::lock_guard lock(mu_);
    subs_[++next_] = {pattern, std::move(handler)};
    return next_;
  }
  void Unsubscribe(SubscriptionId id) override {
    std::lock_guard lock(mu_);
    subs_.erase(id);
  }
  Result<Message> Request(const std::string& subject, std::string data,
                          std::chrono::milliseconds timeout) override {
    std::string inbox;
    {
      std::lock_guard lock(mu_);
      inbox = "_INBOX." + std::to_string(++next_);
      waiting_[inbox];
      bool any = false;
      for (const auto& [id, sub] : subs_) any = any || sub.first == subject;
      if (!any) {
        waiting_.erase(inbox);
        return Fail(ErrorCode::kUnavailable, "no responders on " + subject);
      }
    }
    (void)Publish(subject, std::move(data), inbox);
    std::unique_lock lock(mu_);
    const bool got = cv_.wait_for(lock, timeout, [&] { return waiting_[inbox].has_value(); });
    std::optional<std::string> reply = std::move(waiting_[inbox]);
    waiting_.erase(inbox);
    if (!got) return Fail(ErrorCode::kTimeout, "no reply on " + subject);
    return Message{inbox, std::move(*reply), ""};
  }
  BusStats Stats() const override { return {}; }
  std::vector<SubjectStats> StatsByPrefix() const override { return {}; }
  uint64_t Dropped(SubscriptionId) const override { return 0; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<SubscriptionId, std::pair<std::string, Handler>> subs_;
  std::map<std::string, std::optional<std::string>> waiting_;
  SubscriptionId next_ = 0;
};

}  // namespace

TEST_CASE("the metadata plugin opens SQLite, offers the catalogue, its routes and metrics",
          "[plugins][metadata]") {
  Fixture f;
  auto plugin = MakeMetadata();
  REQUIRE(plugin->Init(f.ctx.context).has_value());
  REQUIRE(plugin->Start().has_value());
  CHECK(f.ctx.router.size() == 5);
  CHECK(plugin->CheckHealth().status == HealthStatus::kHealthy);
  CHECK_THAT(plugin->CheckHealth().message,
             Catch::Contains("SQLite file") && Catch::Contains("schema version"));
  const Video v = f.Make("first");

  auto got = f.ctx.router.Call("GET", "/api/v1/videos/" + v.id);
  REQUIRE(got.status == 200);
  const json body = f.Body(got);
  CHECK(body["id"] == v.id);
  CHECK(body["state"] == "uploading");
  CHECK(body["visibility"] == "public");
  CHECK(body["created_at"] == FormatTimeMs(v.created_at));
  CHECK(body["source_key"] == "uploads/first");
  const auto families = f.ctx.Families();
  for (const char* name :
       {"streamgate_metadata_requests_total", "streamgate_metadata_request_duration_seconds",
        "streamgate_metadata_db_pool_connections", "streamgate_metadata_schema_version",
        "streamgate_metadata_up", "streamgate_metadata_event_streams"}) {
    INFO(name);
    CHECK(std::find(families.begin(), families.end(), name) != families.end());
  }

  // The routes stay while stopped: the kernel's view of the router answers 503 naming the plugin.
  plugin->Stop(Clock::now());
  CHECK(f.ctx.router.size() == 5);
  plugin.reset();
  CHECK(f.ctx.router.size() == 0);
}

TEST_CASE("GET /api/v1/videos pages newest first with a cursor, filters by state and owner",
          "[plugins][metadata]") {
  Fixture f;
  auto plugin = MakeMetadata();
  REQUIRE(plugin->Init(f.ctx.context).has_value());
  REQUIRE(plugin->Start().has_value());
  std::vector<std::string> ids;
  std::vector<std::pair<int64_t, std::string>> order;  // newest first: created_at, then id
  for (int i = 0; i < 5; ++i) {
    const Video v = f.Make("v" + std::to_string(i), i % 2 ? "bob" : "alice");
    ids.push_back(v.id);
    order.emplace_back(v.created_at, v.id);
  }
  std::sort(order.rbegin(), order.rend());
  std::vector<std::string> expected;
  for (const auto& [at, id] : order) expected.push_back(id);
  VideoTransition up;
  up.to = VideoState::kUploaded;
  REQUIRE(f.Service()->Transition(ids[0], up).has_value());

  std::vector<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 5; ++page) {
    const auto r = f.ctx.router.Call(
        "GET", "/api/v1/videos?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor));
    REQUIRE(r.status == 200);
    const json body = f.Body(r);
    for (const auto& v : body["videos"]) seen.push_back(v["id"]);
    if (body["next_cursor"].is_null()) break;
    cursor = body["next_cursor"];
  }
  CHECK(seen == expected);

  const json bobs = f.Body(f.ctx.router.Call("GET", "/api/v1/videos?owner=bob"));
  CHECK(bobs["videos"].size() == 2);
  const json uploaded = f.Body(f.ctx.router.Call("GET", "/api/v1/videos?state=uploaded"));
  REQUIRE(uploaded["videos"].size() == 1);
  CHECK(uploaded["videos"][0]["id"] == ids[0]);
}

TEST_CASE("bad requests get 400 naming the field, in the gateway's JSON shape",
          "[plugins][metadata]") {
  Fixture f;
  auto plugin = MakeMetadata();
  REQUIRE(plugin->Init(f.ctx.context).has_value());
  REQUIRE(plugin->Start().has_value());
  const Video v = f.Make("target");
  const std::string path = "/api/v1/videos/" + v.id;

  struct Case {
    std::string method, target, body, field;
    unsigned status;
  };
  const std::vector<Case> cases = {
      {"GET", "/api/v1/videos?limit=100000", "", "limit", 400},
      {"GET", "/api/v1/videos?limit=0", "", "limit", 400},
      {"GET", "/api/v1/videos?limit=abc", "", "limit", 400},
      {"GET", "/api/v1/videos?limit=5&limit=6", "", "limit", 400},
      {"GET", "/api/v1/videos?state=exploded", "", "state", 400},
      {"GET", "/api/v1/videos?colour=red", "", "colour", 400},
      {"GET", "/api/v1/videos?owner=%zz", "", "query", 400},
      {"GET", "/api/v1/videos?cursor=bm90LWEtY3Vyc29y", "", "cursor", 400},
      {"GET", "/api/v1/videos?cursor=%27%3B%20DROP%20TABLE%20videos%3B--", "", "cursor", 400},
      {"PATCH", path, "{\"title\": ", "body", 400},
      {"PATCH", path, "[1,2]", "body", 400},
      {"PATCH", path, "", "body", 400},
      {"PATCH", path, R"({"title": 5})", "title", 400},
      {"PATCH", path, R"({"description": ["x"]})", "description", 400},
      {"PATCH", path, R"({"visibility": "secret"})", "visibility", 400},
      {"PATCH", path, R"({"visibility": true})", "visibility", 400},
      {"PATCH", path, R"({"state": "ready"})", "state", 400},
      {"PATCH", path, R"({"owner": "mallory"})", "owner", 400},
      {"PATCH", path, "{\"title\": \"" + std::string(70 * 1024, 'x') + "\"}", "body", 413},
      {"GET", "/api/v1/videos/01ARZ3NDEKTSV4RRFFQ69G5FAV", "", "id", 404},
      {"GET", "/api/v1/videos/" + std::string(300, 'A'), "", "id", 404},
      {"PATCH", "/api/v1/videos/01ARZ3NDEKTSV4RRFFQ69G5FAV", R"({"title": "x"})", "", 404},
      {"DELETE", "/api/v1/videos/01ARZ3NDEKTSV4RRFFQ69G5FAV", "", "", 404},
  };
  for (const auto& c : cases) {
    INFO(c.method << " " << c.target.substr(0, 80) << " " << c.body.substr(0, 80));
    const auto r = f.ctx.router.Call(c.method, c.target, c.body);
    CHECK(r.status == c.status);
    const json body = f.Body(r);
    CHECK(body["error"].is_string());
    CHECK(body["code"].is_string());
    CHECK(body["hint"].is_string());
    if (!c.field.empty()) CHECK(body.value("field", "") == c.field);
  }
  const auto malformed = f.ctx.router.Call("PATCH", path, "{\"title\": \"a\",,}");
  CHECK(f.Body(malformed)["error"].get<std::string>().find("at byte 15") != std::string::npos);
  // Nothing of it reached the record.
  auto after = f.Service()->Get(v.id);
  REQUIRE(after.has_value());
  CHECK(after->title == "target");
  CHECK(after->owner == "alice");
}

TEST_CASE("SQL metacharacters in every string field are data", "[plugins][metadata]") {
  Fixture f;
  auto plugin = MakeMetadata();
  REQUIRE(plugin->Init(f.ctx.context).has_value());
  REQUIRE(plugin->Start().has_value());
  const std::string nasty = "Robert'); DROP TABLE videos;-- \"quoted\" \\ % _ $1 ? ; /* */";
  const Video v = f.Make("plain", nasty);

  const json patch = {{"title", nasty}, {"description", nasty + "\n\t\u00e9"}};
  const auto r = f.ctx.router.Call("PATCH", "/api/v1/videos/" + v.id, patch.dump());
  REQUIRE(r.status == 200);
  const json got = f.Body(f.ctx.router.Call("GET", "/api/v1/videos/" + v.id));
  CHECK(got["title"] == nasty);
  CHECK(got["description"] == nasty + "\n\t\u00e9");
  CHECK(got["owner"] == nasty);
  // The owner filter, percent-encoded as a client sends it, finds exactly that video.
  std::string encoded;
  for (const unsigned char c : nasty) encoded += fmt::format("%{:02X}", c);
  const json list = f.Body(f.ctx.router.Call("GET", "/api/v1/videos?owner=" + encoded));
  REQUIRE(list["videos"].size() == 1);
  CHECK(list["videos"][0]["id"] == v.id);
  const json other =
      f.Body(f.ctx.router.Call("GET", "/api/v1/videos?owner=x%27%20OR%20%271%27%3D%271"));
  CHECK(other["videos"].empty());
  // A NUL inside a string is data too, or a clear 400: never a truncated record.
  const auto nul = f.ctx.router.Call("PATCH", "/api/v1/videos/" + v.id, R"({"title": "a\u0000b"})");
  INFO(nul.body);
  if (nul.status == 200) {
    CHECK(f.Body(f.ctx.router.Call("GET", "/api/v1/videos/" + v.id))["title"] ==
          std::string("a\0b", 3));
  } else {
    CHECK(nul.status == 400);
    CHECK(f.Body(nul)["field"] == "title");
  }
  // The table is still there.
  CHECK(f.Body(f.ctx.router.Call("GET", "/api/v1/videos"))["videos"].size() == 1);
}

TEST_CASE(
    "PATCH edits, DELETE deletes once and queues the cleanup job, whose handler removes "
    "the objects idempotently",
    "[plugins][metadata]") {
  Fixture f;
  auto queue = std::make_shared<RecordingQueue>();
  f.ctx.services.Provide<JobQueue>("worker", queue);
  KeyStorage storage;
  f.ctx.context.storage = &storage;
  auto plugin = MakeMetadata();
  REQUIRE(plugin->Init(f.ctx.context).has_value());
  REQUIRE(plugin->Start().has_value());
  const Video v = f.Make("doomed");
  storage.keys = {"uploads/doomed", "videos/" + v.id + "/720p/index.m3u8",
                  "videos/" + v.id + "/poster.jpg", "videos/other/keep.ts"};

  const auto edited =
      f.ctx.router.Call("PATCH", "/api/v1/videos/" + v.id, R"({"visibility": "unlisted"})");
  REQUIRE(edited.status == 200);
  CHECK(f.Body(edited)["visibility"] == "unlisted");

  const auto deleted = f.ctx.router.Call("DELETE", "/api/v1/videos/" + v.id);
  REQUIRE(deleted.status == 200);
  CHECK(f.Body(deleted)["state"] == "deleted");
  const auto again = f.ctx.router.Call("DELETE", "/api/v1/videos/" + v.id);
  CHECK(again.status == 409);
  CHECK(f.Body(again)["code"] == "failed_precondition");
  const auto specs = queue->Specs();
  REQUIRE(specs.size() == 2);  // the second is the same job, by its idempotency key
  CHECK(specs[0].kind == "delete-video");
  CHECK(specs[0].idempotency_key == v.id);
  // The deleted video is left out of the list.
  CHECK(f.Body(f.ctx.router.Call("GET", "/api/v1/videos"))["videos"].empty());

  REQUIRE(test::WaitFor([&] { return static_cast<bool>(queue->HandlerFor("delete-video")); }, 5s));
  Job job;
  job.kind = "delete-video";
  job.payload = specs[0].payload;
  FakeJob run(job);
  REQUIRE(queue->HandlerFor("delete-video")(run).has_value());
  CHECK(storage.keys == std::set<std::string>{"videos/other/keep.ts"});
  FakeJob rerun(job);
  CHECK(queue->HandlerFor("delete-video")(rerun).has_value());
  Job bad;
  bad.payload = "not json";
  FakeJob broken(bad);
  auto refused = queue->HandlerFor("delete-video")(broken);
  REQUIRE(!refused.has_value());
  CHECK(refused.error().code == ErrorCode::kInvalidArgument);
  plugin->Stop(Clock::now());
}

TEST_CASE("a data file that is not SQLite fails Init with kConfig naming the file",
          "[plugins][metadata]") {
  test::TempDir dir;
  const std::string path = dir.Write("notes.db", std::string(4096, 'x'));
  test::FakePluginContext ctx({"metadata.sqlite_path=" + path});
  auto plugin = MakeMetadata();
  auto init = plugin->Init(ctx.context);
  REQUIRE(!init.has_value());
  CHECK(init.error().code == ErrorCode::kConfig);
  CHECK(init.error().message.find(path) != std::string::npos);
  CHECK(init.error().message.find("not a SQLite database") != std::string::npos);
}

TEST_CASE("a database newer than this binary fails Init, naming both versions",
          "[plugins][metadata]") {
  test::TempDir dir;
  const std::string path = dir.path() + "/streamgate.db";
  {
    auto db = OpenSqlite({path});
    REQUIRE(db.has_value());
    auto done = (*db)->Migrate("metadata", MetadataMigrationsPlusOne());
    REQUIRE(done.has_value());
  }
  test::FakePluginContext ctx({"metadata.sqlite_path=" + path});
  auto plugin = MakeMetadata();
  auto init = plugin->Init(ctx.context);
  REQUIRE(!init.has_value());
  CHECK(init.error().code == ErrorCode::kConfig);
  INFO(init.error().message);
  CHECK(init.error().message.find("newer") != std::string::npos);
}

TEST_CASE(
    "the catalogue across processes: a remote catalogue reaches the served one, errors "
    "and all",
    "[plugins][metadata]") {
  Fixture f({"app.mode=microservice"});
  LoopbackBus bus;
  f.ctx.context.bus = &bus;
  auto plugin = MakeMetadata();
  REQUIRE(plugin->Init(f.ctx.context).has_value());
  REQUIRE(plugin->Start().has_value());
  auto remote = MakeRemoteCatalogue(bus, 5s);

  NewVideo n;
  n.title = "over the bus";
  n.owner = "carol";
  n.visibility = Visibility::kGated;
  n.source_size = 1234;
  auto made = remote->Create(n);
  REQUIRE(made.has_value());
  auto local = f.Service()->Get(made->id);
  REQUIRE(local.has_value());
  CHECK(*local == *made);

  VideoTransition t;
  t.to = VideoState::kUploaded;
  REQUIRE(remote->Transition(made->id, t).has_value());
  t.to = VideoState::kQueued;
  REQUIRE(remote->Transition(made->id, t).has_value());
  t.to = VideoState::kProcessing;
  REQUIRE(remote->Transition(made->id, t).has_value());
  // The transcoder's progress, recorded and read back across "processes".
  auto progressed = remote->SetProgress(made->id, R"({"percent":50,"stage":"encoding"})");
  REQUIRE(progressed.has_value());
  CHECK(progressed->progress == R"({"percent":50,"stage":"encoding"})");
  CHECK(remote->Get(made->id)->progress == progressed->progress);
  t.to = VideoState::kReady;
  t.duration = 12.5;
  t.renditions =
      std::vector<Rendition>{{"720p", 1280, 720, 2500000, "avc1.64001f", "videos/x/720p.m3u8"}};
  t.poster = "videos/x/poster.jpg";
  auto ready = remote->Transition(made->id, t);
  REQUIRE(ready.has_value());
  CHECK(*ready == *f.Service()->Get(made->id));
  CHECK(ready->renditions.size() == 1);

  VideoEdit e;
  e.title = "renamed";
  CHECK(remote->Edit(made->id, e)->title == "renamed");
  VideoQuery q;
  q.owner = "carol";
  auto page = remote->List(q);
  REQUIRE(page.has_value());
  CHECK(page->videos.size() == 1);

  auto missing = remote->Get("01ARZ3NDEKTSV4RRFFQ69G5FAV");
  REQUIRE(!missing.has_value());
  CHECK(missing.error().code == ErrorCode::kNotFound);
  t = {};
  t.to = VideoState::kUploading;
  auto illegal = remote->Transition(made->id, t);
  REQUIRE(!illegal.has_value());
  CHECK(illegal.error().code == ErrorCode::kFailedPrecondition);

  plugin->Stop(Clock::now());
  auto gone = remote->Get(made->id);
  REQUIRE(!gone.has_value());
  CHECK(gone.error().code == ErrorCode::kUnavailable);
}

TEST_CASE("times are RFC 3339 with milliseconds and read back", "[plugins][metadata]") {
  CHECK(FormatTimeMs(0) == "1970-01-01T00:00:00.000Z");
  CHECK(FormatTimeMs(1796083987042) == "2026-12-01T00:13:07.042Z");
  CHECK(*ParseTimeMs("2026-12-01T00:13:07.042Z", "t") == 1796083987042);
  CHECK(*ParseTimeMs("2026-12-01T01:13:07.042+01:00", "t") == 1796083987042);
  CHECK(!ParseTimeMs("2026-12-01 00:13:07", "t").has_value());
  CHECK(!ParseTimeMs("yesterday", "t").has_value());
}

namespace {

// The data of each event of `name` in an SSE text, in order.
std::vector<json> EventsNamed(const std::string& text, const std::string& name) {
  std::vector<json> out;
  const std::string marker = "event: " + name + "\ndata: ";
  for (size_t at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1)) {
    const size_t start = at + marker.size();
    out.push_back(json::parse(text.substr(start, text.find('\n', start) - start)));
  }
  return out;
}

}  // namespace

TEST_CASE("progress events are recorded and streamed; state changes are published and streamed",
          "[plugins][metadata]") {
  Fixture f;
  auto plugin = MakeMetadata();
  REQUIRE(plugin->Init(f.ctx.context).has_value());
  REQUIRE(plugin->Start().has_value());
  auto catalogue = f.Service();
  const Video v = f.Make("watched");
  for (VideoState s : {VideoState::kUploaded, VideoState::kQueued, VideoState::kProcessing}) {
    VideoTransition t;
    t.to = s;
    REQUIRE(catalogue->Transition(v.id, t));
  }
  // Every state change is told on the bus.
  std::vector<std::string> told;
  for (const auto& m : f.ctx.bus.Published()) {
    if (m.subject != "video.state") continue;
    const json event = json::parse(m.data);
    CHECK(event["video"] == v.id);
    CHECK(event["updated_at"].is_number_integer());
    CHECK(event["failure_reason"] == "");
    told.push_back(event["state"]);
  }
  CHECK(told == std::vector<std::string>{"uploaded", "queued", "processing"});

  auto opened = f.ctx.router.Open("/api/v1/videos/" + v.id + "/events");
  REQUIRE(opened.stream);
  CHECK(opened.head.status == 200);
  CHECK(opened.head.content_type == "text/event-stream");
  REQUIRE(opened.stream->WaitFor("event: state"));
  CHECK_THAT(opened.stream->Text(), Catch::StartsWith("id: 1\nevent: state\ndata: {"));
  CHECK(EventsNamed(opened.stream->Text(), "state").at(0)["state"] == "processing");
  CHECK(EventsNamed(opened.stream->Text(), "state").at(0)["progress"].is_null());

  // The transcoder's progress: recorded on the video and passed to the stream.
  REQUIRE(f.ctx.bus.Publish("video.transcode.progress",
                            json{{"video", v.id},
                                 {"job", "job-1"},
                                 {"percent", 42.5},
                                 {"stage", "encoding"},
                                 {"rendition", "240p,360p"},
                                 {"fps", 120.3},
                                 {"speed", 4.1},
                                 {"eta_seconds", 12.3},
                                 {"extra", "dropped"}}
                                .dump(),
                            ""));
  REQUIRE(opened.stream->WaitFor("event: progress"));
  const json progress = EventsNamed(opened.stream->Text(), "progress").at(0);
  CHECK(progress["percent"] == 42.5);
  CHECK(progress["stage"] == "encoding");
  CHECK(progress["fps"] == 120.3);
  CHECK_FALSE(progress.contains("extra"));
  auto got = f.ctx.router.Call("GET", "/api/v1/videos/" + v.id);
  REQUIRE(got.status == 200);
  CHECK(f.Body(got)["progress"]["percent"] == 42.5);
  CHECK(f.Body(got)["progress"]["eta_seconds"] == 12.3);
  CHECK(f.Body(got)["progress"]["rendition"] == "240p,360p");

  // An unknown video, and something that is not progress: ignored.
  REQUIRE(f.ctx.bus.Publish("video.transcode.progress",
                            json{{"video", NewVideoId(1)}, {"percent", 3}}.dump(), ""));
  REQUIRE(f.ctx.bus.Publish("video.transcode.progress", "not json", ""));

  // The video becomes ready: the stream sends that state last and ends.
  VideoTransition ready;
  ready.to = VideoState::kReady;
  REQUIRE(catalogue->Transition(v.id, ready));
  REQUIRE(opened.stream->WaitEnded());
  const auto states = EventsNamed(opened.stream->Text(), "state");
  REQUIRE(states.size() == 2);
  CHECK(states.back()["state"] == "ready");
  CHECK(states.back()["progress"]["percent"] == 100);
  CHECK_FALSE(states.back()["progress"].contains("eta_seconds"));
  // Each event has its own id.
  CHECK(opened.stream->WaitFor("id: 3\n"));

  // A late event of the finished attempt changes nothing.
  REQUIRE(f.ctx.bus.Publish("video.transcode.progress",
                            json{{"video", v.id}, {"percent", 7}}.dump(), ""));
  CHECK_FALSE(test::WaitFor(
      [&] {
        auto after = catalogue->Get(v.id);
        return !after || json::parse(after->progress)["percent"] != 100;
      },
      300ms));

  // A stream of a video that is ready already: its state, then the end.
  auto done = f.ctx.router.Open("/api/v1/videos/" + v.id + "/events");
  REQUIRE(done.stream);
  REQUIRE(done.stream->WaitEnded());
  CHECK(EventsNamed(done.stream->Text(), "state").size() == 1);

  // Unknown and malformed ids: 404 in the API's error shape.
  for (const std::string& id : {NewVideoId(1), std::string("nope")}) {
    auto missing = f.ctx.router.Open("/api/v1/videos/" + id + "/events");
    CHECK_FALSE(missing.stream);
    CHECK(missing.head.status == 404);
    CHECK(f.Body(missing.head)["code"] == "not_found");
  }

  // A client that leaves is forgotten; Stop ends the streams still open.
  const Video other = f.Make("other");
  auto leaving = f.ctx.router.Open("/api/v1/videos/" + other.id + "/events");
  REQUIRE(leaving.stream);
  auto staying = f.ctx.router.Open("/api/v1/videos/" + other.id + "/events");
  REQUIRE(staying.stream);
  auto streams = [&] {
    for (const auto& family : f.ctx.metrics->Collect()) {
      if (family.name == "streamgate_metadata_event_streams") return family.samples.at(0).value;
    }
    return -1.0;
  };
  CHECK(test::WaitFor([&] { return streams() == 2; }, 5s));
  leaving.stream->Leave();
  CHECK(test::WaitFor([&] { return streams() == 1; }, 5s));
  plugin->Stop(Clock::now());
  CHECK(staying.stream->Ended());
  CHECK(streams() == 0);
}

}  // namespace sg::plugins
