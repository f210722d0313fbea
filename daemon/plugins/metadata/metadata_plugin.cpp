#include "daemon/plugins/metadata/metadata_plugin.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "common/paths.h"
#include "daemon/plugin_api/access_guard.h"
#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/catalogue_json.h"
#include "daemon/plugin_api/catalogue_rpc.h"
#include "daemon/plugin_api/http.h"
#include "daemon/plugin_api/jobs.h"
#include "daemon/plugin_api/metrics.h"
#include "daemon/plugin_api/periodic_timer.h"
#include "daemon/plugin_api/registration.h"
#include "daemon/plugin_api/sql.h"
#include "daemon/plugins/metadata/metadata_config.h"
#include "daemon/plugins/metadata/metadata_http.h"
#include "daemon/plugins/metadata/sql_catalogue.h"

namespace sg::plugins {
namespace {

using metadata::ErrorResponse;
using metadata::FieldError;
using nlohmann::json;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Errors that say the database is away, as opposed to a request it refused: they make the
// plugin degraded, and a background ping brings it back.
bool Unreachable(ErrorCode code) {
  return code == ErrorCode::kUnavailable || code == ErrorCode::kTimeout || code == ErrorCode::kIo;
}

// The latency histogram's bounds, in seconds.
const std::vector<double>& LatencyBounds() {
  static const std::vector<double> bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,   0.25,   0.5,   1,    2.5,   5};
  return bounds;
}

struct RouteStats {
  uint64_t by_class[6] = {};      // 1xx .. 5xx at 1 .. 5
  std::vector<uint64_t> buckets;  // per bound, then +Inf; not cumulative
  double sum = 0;
  uint64_t count = 0;
};

// The subjects of the video events: what the transcoder says of its work, and what the plugin
// says of every state change made through it.
constexpr const char* kProgressSubject = "video.transcode.progress";
constexpr const char* kStateSubject = "video.state";

// The events stream of GET /api/v1/videos/{id}/events: a keepalive comment after this long without
// an event, and the video read again this often, so that a lost bus message cannot leave a client
// waiting for ever.
constexpr auto kKeepalive = std::chrono::seconds(15);
constexpr auto kReread = std::chrono::seconds(3);
constexpr auto kWatchTick = std::chrono::milliseconds(500);

bool Terminal(VideoState state) {
  return state == VideoState::kReady || state == VideoState::kFailed ||
         state == VideoState::kDeleted;
}

// One client of GET /api/v1/videos/{id}/events.
struct Watch {
  using Clock = std::chrono::steady_clock;
  std::string video;
  std::shared_ptr<HttpStream> stream;

  std::mutex mu;
  uint64_t next_id = 0;          // guarded by mu: the id of the last event sent
  bool ended = false;            // guarded by mu
  int64_t updated_at = -1;       // guarded by mu: of the video last sent
  std::string last_state;        // guarded by mu: its JSON without progress
  Clock::time_point last_write;  // guarded by mu
  Clock::time_point last_read;   // guarded by mu
  bool reading = false;          // guarded by mu: a read of the video is queued

  // Sends one event; false (and the stream ended) when the client is gone or too slow.
  bool Emit(std::string_view event, const std::string& data) {
    if (ended) return false;
    if (!stream->Write(fmt::format("id: {}\nevent: {}\ndata: {}\n\n", ++next_id, event, data))) {
      EndLocked();
      return false;
    }
    last_write = Clock::now();
    return true;
  }
  void EndLocked() {
    if (ended) return;
    ended = true;
    stream->End();
  }
};

// The open event streams, by video.
class Watches {
 public:
  void Add(const std::shared_ptr<Watch>& w) {
    std::lock_guard lock(mu_);
    by_video_.emplace(w->video, w);
  }
  void Remove(const std::shared_ptr<Watch>& w) {
    std::lock_guard lock(mu_);
    auto [first, last] = by_video_.equal_range(w->video);
    for (auto it = first; it != last; ++it) {
      if (it->second == w) {
        by_video_.erase(it);
        return;
      }
    }
  }
  std::vector<std::shared_ptr<Watch>> Of(const std::string& video) const {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<Watch>> out;
    auto [first, last] = by_video_.equal_range(video);
    for (auto it = first; it != last; ++it) out.push_back(it->second);
    return out;
  }
  std::vector<std::shared_ptr<Watch>> All() const {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<Watch>> out;
    for (const auto& [video, w] : by_video_) out.push_back(w);
    return out;
  }
  size_t Count() const {
    std::lock_guard lock(mu_);
    return by_video_.size();
  }

 private:
  mutable std::mutex mu_;
  std::multimap<std::string, std::shared_ptr<Watch>> by_video_;
};

// What the plugin shares with the work it hands to other threads (requests on the blocking
// pool, the retry timer, bus requests), which may finish after a Stop: they hold it, never the
// plugin.
struct Shared {
  std::shared_ptr<spdlog::logger> logger;
  std::string engine;  // "sqlite" or "postgres"
  std::string where;   // "SQLite file /x/streamgate.db", "PostgreSQL at host:5432/db"
  std::chrono::milliseconds retry_interval{2000};
  size_t max_body = 64 * 1024;
  std::shared_ptr<SqlDatabase> db;
  std::shared_ptr<Catalogue> inner;  // the SQL catalogue, once the schema is up to date
  BlockingPool* blocking = nullptr;
  ServiceRegistry* services = nullptr;
  Storage* storage = nullptr;
  Bus* bus = nullptr;
  std::shared_ptr<AccessGuard> access;  // null (everything open) only without a daemon: tests
  Watches watches;

  std::atomic<bool> migrated{false};
  std::atomic<bool> reachable{true};
  std::atomic<int> schema_version{0};
  std::atomic<bool> maintaining{false};  // a maintenance pass is queued or running

  mutable std::mutex mu;
  std::string problem;                        // guarded by mu: the last database error
  std::map<std::string, uint64_t> db_errors;  // guarded by mu: by reason
  std::map<std::pair<std::string, std::string>, RouteStats> routes;  // guarded by mu
  std::unique_ptr<JobQueue::Registration> job_handler;               // guarded by mu
  bool running = false;                                              // guarded by mu

  void NoteError(const Error& e) {
    if (e.code == ErrorCode::kInvalidArgument || e.code == ErrorCode::kNotFound ||
        e.code == ErrorCode::kFailedPrecondition) {
      return;  // the request's fault, not the database's
    }
    std::lock_guard lock(mu);
    ++db_errors[ErrorCodeName(e.code)];
    if (Unreachable(e.code)) {
      problem = e.message;
      if (reachable.exchange(false)) {
        logger->warn(
            log::With("The catalogue's database is not reachable; the videos API "
                      "answers 503 until it is back",
                      {{"database", where}, {"error", e.message}}));
      }
    }
  }

  std::string Problem() const {
    std::lock_guard lock(mu);
    return problem;
  }

  std::string WhatToDo() const {
    return engine == "postgres"
               ? fmt::format(
                     "start PostgreSQL, or correct database.host, database.port, "
                     "database.user and database.password; the plugin tries again every "
                     "{}ms and recovers by itself",
                     retry_interval.count())
               : "check the file and its folder (metadata.sqlite_path)";
  }

  void Count(const std::string& route, const std::string& method, unsigned status, double seconds) {
    std::lock_guard lock(mu);
    RouteStats& s = routes[{method, route}];
    if (s.buckets.empty()) s.buckets.assign(LatencyBounds().size() + 1, 0);
    ++s.by_class[std::clamp(status / 100, 1U, 5U)];
    const auto& bounds = LatencyBounds();
    const size_t i = std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();
    ++s.buckets[i];
    s.sum += seconds;
    ++s.count;
  }
};

// The catalogue the plugin offers: the SQL one once its schema is up to date, kUnavailable
// saying why before that; every result tells the plugin's health whether the database answers.
class GuardedCatalogue final : public Catalogue {
 public:
  explicit GuardedCatalogue(std::shared_ptr<Shared> shared) : s_(std::move(shared)) {}

  Result<Video> Create(const NewVideo& video) override {
    return Run([&](Catalogue& c) { return c.Create(video); });
  }
  Result<Video> Get(const std::string& id) override {
    return Run([&](Catalogue& c) { return c.Get(id); });
  }
  Result<VideoPage> List(const VideoQuery& query) override {
    return Run([&](Catalogue& c) { return c.List(query); });
  }
  Result<Video> Edit(const std::string& id, const VideoEdit& edit) override {
    return Run([&](Catalogue& c) { return c.Edit(id, edit); });
  }
  Result<Video> Transition(const std::string& id, const VideoTransition& transition) override {
    auto video = Run([&](Catalogue& c) { return c.Transition(id, transition); });
    if (video) PublishState(*video);
    return video;
  }
  Result<Video> SetProgress(const std::string& id, const std::string& progress) override {
    return Run([&](Catalogue& c) { return c.SetProgress(id, progress); });
  }

 private:
  // Every state change made through the plugin (in process or over the bus) is told on the bus.
  void PublishState(const Video& v) {
    if (s_->bus == nullptr) return;
    const json event = {{"video", v.id},
                        {"state", std::string(VideoStateName(v.state))},
                        {"failure_reason", v.failure_reason},
                        {"updated_at", v.updated_at}};
    if (auto sent = s_->bus->Publish(kStateSubject, Dump(event)); !sent) {
      s_->logger->warn(log::With("Cannot publish a video's state change",
                                 {{"video", v.id}, {"error", sent.error().message}}));
    }
  }

  template <typename F>
  auto Run(F f) -> decltype(f(std::declval<Catalogue&>())) {
    if (!s_->migrated.load()) {
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("the catalogue is not ready: its database ({}) has not been "
                              "reached since the start ({}); {}",
                              s_->where, s_->Problem(), s_->WhatToDo()));
    }
    auto result = f(*s_->inner);
    if (!result) {
      s_->NoteError(result.error());
    } else if (!s_->reachable.load()) {
      s_->reachable.store(true);
      s_->logger->info(
          log::With("The catalogue's database answers again", {{"database", s_->where}}));
    }
    return result;
  }

  std::shared_ptr<Shared> s_;
};

// One request, copied off the I/O thread for the blocking pool.
struct Call {
  std::string id;
  std::string query;
  std::string body;
  std::string request_id;
  Principal who;  // from the request's token; anonymous without one
};

// Who may see a video's record: anyone for public, unlisted (by its id) and gated ones (the
// record is the way to the gate); its owner and the operator for a private one.
bool MaySee(const Principal& who, const Video& v) {
  if (v.visibility != Visibility::kPrivate) return true;
  return !who.anonymous && (who.subject == v.owner || who.subject == "operator");
}

// Who may change or delete it: its owner or the operator; anyone when writes are open
// (auth.required=false) and the caller sent no token.
bool MayChange(const Principal& who, const Video& v, bool required) {
  if (who.anonymous) return !required;
  return v.owner.empty() || who.subject == v.owner || who.subject == "operator";
}

// The field an error message names ("cursor: not made by this catalogue" names cursor); an
// unknown video is its id's fault.
std::string FieldOf(const Error& e) {
  if (e.code == ErrorCode::kNotFound) return "id";
  const size_t colon = e.message.find(':');
  if (colon == std::string::npos || colon == 0 || colon > 32) return {};
  const std::string head = e.message.substr(0, colon);
  const bool word = std::all_of(head.begin(), head.end(),
                                [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
  return word ? head : std::string();
}

HttpResponse Ok(const json& body) {
  HttpResponse res;
  res.body = Dump(body);
  return res;
}

HttpResponse NotFound(const std::string& id) {
  return ErrorResponse({ErrorCode::kNotFound, "no video with id '" + id + "'"}, "id");
}

// ---- the events stream --------------------------------------------------------------------------

// Sends `v` as a state event unless the stream has it already (or a newer one), and ends the
// stream after a final state.
void SendVideo(Shared& s, const std::shared_ptr<Watch>& w, const Video& v) {
  json body = VideoToJson(v);
  const std::string data = Dump(body);
  body.erase("progress");
  const std::string key = Dump(body);
  bool done = false;
  {
    std::lock_guard lock(w->mu);
    if (w->ended || v.updated_at < w->updated_at || key == w->last_state) return;
    w->updated_at = v.updated_at;
    w->last_state = key;
    if (w->Emit("state", data) && Terminal(v.state)) w->EndLocked();
    done = w->ended;
  }
  if (done) s.watches.Remove(w);
}

// Reads the video again on the blocking pool and sends it when it changed. One read at a time
// per stream.
void Refresh(const std::shared_ptr<Shared>& self, const std::shared_ptr<Catalogue>& catalogue,
             const std::shared_ptr<Watch>& w) {
  {
    std::lock_guard lock(w->mu);
    if (w->ended || w->reading) return;
    w->reading = true;
    w->last_read = Watch::Clock::now();
  }
  const bool queued = self->blocking->Submit([self, catalogue, w] {
    auto video = catalogue->Get(w->video);
    {
      std::lock_guard lock(w->mu);
      w->reading = false;
    }
    if (video) {
      SendVideo(*self, w, *video);
    } else if (video.error().code == ErrorCode::kNotFound) {
      {
        std::lock_guard lock(w->mu);
        w->EndLocked();
      }
      self->watches.Remove(w);
    }  // else the database is away: the next read tries again
  });
  if (!queued) {
    std::lock_guard lock(w->mu);
    w->reading = false;
  }
}

// The progress a transcoder published, with the fields we know and of the types we expect, or
// null when it is not one.
json CleanProgress(const std::string& data) {
  const json in = json::parse(data, nullptr, false);
  if (!in.is_object() || !in.contains("video") || !in["video"].is_string() ||
      !in.contains("percent") || !in["percent"].is_number()) {
    return nullptr;
  }
  json out = json::object();
  for (const char* key : {"video", "job", "stage", "rendition"}) {
    if (in.contains(key) && in[key].is_string()) out[key] = in[key];
  }
  out["percent"] = std::clamp(in["percent"].get<double>(), 0.0, 100.0);
  for (const char* key : {"fps", "speed", "eta_seconds"}) {
    if (in.contains(key) && in[key].is_number()) out[key] = in[key];
  }
  return out;
}

// The storage keys a deleted video leaves: what its record names, then its folder.
// The prefix under which a video's objects live: "videos/ID/". Empty when the id could reach
// outside it.
std::string VideoPrefix(const std::string& id) {
  if (id.empty() || id.find('/') != std::string::npos || id.find("..") != std::string::npos) {
    return {};
  }
  return "videos/" + id + "/";
}

// The "delete-video" job: removes a deleted video's storage objects. Idempotent: an object
// already gone is what it wants.
Result<void> DeleteVideoObjects(Shared& s, JobContext& job) {
  const json payload = json::parse(job.job().payload, nullptr, false);
  if (!payload.is_object() || !payload["id"].is_string()) {
    return Fail(ErrorCode::kInvalidArgument, "delete-video: the payload has no video id");
  }
  const std::string id = payload["id"].get<std::string>();
  if (s.storage == nullptr) {
    s.logger->warn(log::With("No storage to delete a video's objects from", {{"video", id}}));
    return {};
  }
  std::vector<std::string> keys;
  if (payload["keys"].is_array()) {
    for (const auto& k : payload["keys"]) {
      if (k.is_string() && !k.get<std::string>().empty()) keys.push_back(k.get<std::string>());
    }
  }
  if (const std::string prefix = VideoPrefix(id); !prefix.empty()) {
    auto listed = s.storage->List(prefix);
    if (!listed) return listed.error().Wrap("list the objects of video " + id);
    for (const auto& o : *listed) keys.push_back(o.key);
  }
  size_t deleted = 0;
  for (const auto& key : keys) {
    if (job.Cancelled()) return Fail(ErrorCode::kUnavailable, "delete-video: cancelled");
    auto gone = s.storage->Delete(key);
    if (!gone && gone.error().code != ErrorCode::kNotFound) {
      return gone.error().Wrap(fmt::format("delete object '{}' of video {}", key, id));
    }
    if (gone) ++deleted;
  }
  s.logger->info(log::With("Deleted a video's objects",
                           {{"video", id}, {"objects", static_cast<int64_t>(deleted)}}));
  return {};
}

class MetadataPlugin final : public Plugin {
 public:
  std::string_view Name() const override { return "metadata"; }
  std::string_view Version() const override { return "1.0.0"; }
  // No declared dependency on api-gateway: in microservice mode the metadata process runs
  // without one and serves over the bus alone. In monolith mode the gateway, registered first,
  // is initialised first, and its router is in the context when there is one.
  std::vector<std::string> ConfigKeys() const override { return MetadataConfig().Reads(); }

  Result<void> Init(PluginContext& context) override {
    // A failed Init before this one: the kernel undid its registrations along with the views
    // they were made on, so the handles are forgotten, not undone.
    for (auto& route : routes_) route.Release();
    routes_.clear();
    collector_.Release();
    const config::Config& config = *context.config;
    shared_ = std::make_shared<Shared>();
    Shared& s = *shared_;
    s.logger = context.logger;
    s.engine = config.String("metadata.engine");
    s.retry_interval = config.Duration("metadata.retry_interval");
    s.max_body = static_cast<size_t>(config.Int("metadata.max_body_size"));
    s.blocking = context.blocking;
    s.services = context.services;
    if (auto access = context.services->Find<AccessGuard>("access")) s.access = *access;
    s.storage = context.storage;
    s.bus = context.bus;
    bus_ = context.bus;
    executor_ = context.executor;
    router_ = context.router;
    serve_ = config.String("app.mode") == "microservice";
    // Well within daemon.plugin_timeout for PostgreSQL, since Init tries once.
    auto opened = OpenStateDatabase(config);
    if (!opened) {
      return s.engine == "postgres" ? opened.error().Wrap("metadata")
                                    : Refused(opened.error(), "metadata.sqlite_path");
    }
    s.db = opened->db;
    s.where = opened->where;
    s.inner = MakeSqlCatalogue(s.db);
    if (auto migrated = Migrate(s); !migrated) {
      // PostgreSQL down at start is waited for; anything else (a database newer than this
      // binary, a file that is not SQLite) is for the operator to fix first.
      if (s.engine != "postgres" || !Unreachable(migrated.error().code)) {
        return Refused(migrated.error(), s.where);
      }
      s.logger->warn(
          log::With("The catalogue's database is not reachable; starting degraded and trying again",
                    {{"database", s.where}, {"error", migrated.error().message}}));
    }
    catalogue_ = std::make_shared<GuardedCatalogue>(shared_);
    context.services->Provide<Catalogue>("metadata", catalogue_);
    if (context.metrics != nullptr) {
      collector_ = AddCollector(
          *context.metrics, [s = shared_](std::vector<MetricFamily>& out) { Collect(*s, out); });
    }
    // Routes added at Init stay while the plugin is stopped, answering 503 naming it: a client
    // learns that the catalogue is down, not that the API does not exist.
    if (router_ != nullptr) {
      for (auto& [method, pattern, fn] : RouteTable()) {
        auto added = AddAsync(method, pattern, fn);
        if (!added) {
          return added.error().Wrap(fmt::format("metadata: add route {} {}", method, pattern));
        }
        routes_.push_back(std::move(*added));
      }
      auto events = AddEventsRoute();
      if (!events) return events.error().Wrap("metadata: add the events route");
      routes_.push_back(std::move(*events));
    } else {
      s.logger->info(
          "No api-gateway router here: the videos API is not served by this "
          "process");
    }
    s.logger->info(log::With("Catalogue opened", {{"engine", s.engine},
                                                  {"database", s.where},
                                                  {"schema_version", s.schema_version.load()},
                                                  {"ready", s.migrated.load()}}));
    return {};
  }

  Result<void> Start() override {
    {
      std::lock_guard lock(shared_->mu);
      shared_->running = true;
    }
    if (serve_) {
      auto sub = ServeCatalogue(*bus_, catalogue_, *shared_->blocking);
      if (!sub) return sub.error().Wrap("metadata: serve the catalogue over the bus");
      subscription_ = *sub;
      shared_->logger->info(
          log::With("Catalogue served over the bus", {{"subject", kCatalogueRpcSubject}}));
    }
    if (auto subscribed = SubscribeEvents(); !subscribed) return subscribed;
    // The delete-video handler now if the worker runs already, so that a started plugin is
    // whole at once; otherwise the timer's pass registers it once a worker is there.
    RegisterJobHandler(shared_);
    // The retry of the migration, the health ping, and the registration of the delete-video
    // handler once a worker is there: all on the blocking pool, one pass at a time.
    timer_ = std::make_unique<PeriodicTimer>(executor_, shared_->retry_interval, [s = shared_] {
      if (s->maintaining.exchange(true)) return;
      if (!s->blocking->Submit([s] {
            Maintain(s);
            s->maintaining.store(false);
          })) {
        s->maintaining.store(false);
      }
    });
    return {};
  }

  void Stop(Deadline) override {
    timer_.reset();
    watch_timer_.reset();
    if (subscription_ != 0) bus_->Unsubscribe(subscription_);
    subscription_ = 0;
    for (auto& sub : event_subscriptions_) bus_->Unsubscribe(sub);
    event_subscriptions_.clear();
    // The streams end: nothing would tell them more. Their clients see the end and may ask again.
    for (const auto& w : shared_->watches.All()) {
      {
        std::lock_guard lock(w->mu);
        w->EndLocked();
      }
      shared_->watches.Remove(w);
    }
    std::unique_ptr<JobQueue::Registration> handler;
    {
      std::lock_guard lock(shared_->mu);
      shared_->running = false;
      handler = std::move(shared_->job_handler);
    }
    handler.reset();  // waits for a running delete-video job
  }

  HealthReport CheckHealth() const override {
    const Shared& s = *shared_;
    if (!s.migrated.load()) {
      return {HealthStatus::kDegraded,
              fmt::format("{} has not been reached since the start ({}); the videos API answers "
                          "503 until it is: {}",
                          s.where, s.Problem(), s.WhatToDo())};
    }
    if (!s.reachable.load()) {
      return {HealthStatus::kDegraded,
              fmt::format("{} (schema version {}) is not reachable ({}); the videos API answers "
                          "503 until it is back: {}",
                          s.where, s.schema_version.load(), s.Problem(), s.WhatToDo())};
    }
    // Healthy, it still says what it runs on, for operators reading 'streamgate health'.
    return {HealthStatus::kHealthy,
            fmt::format("{}, schema version {}", s.where, s.schema_version.load())};
  }

 private:
  using Handler = std::function<HttpResponse(Shared&, Catalogue&, const Call&)>;
  struct RouteSpec {
    std::string method;
    std::string pattern;
    Handler fn;
  };

  // A database the plugin cannot use: kConfig, which fails the daemon's start (restarting the
  // plugin cannot help), unless it may pass by itself (a lock held for too long).
  static Error Refused(const Error& e, const std::string& what) {
    const ErrorCode code = e.code == ErrorCode::kTimeout ? e.code : ErrorCode::kConfig;
    return {code, "metadata: " + what + ": " + e.message};
  }

  static Result<void> Migrate(Shared& s) {
    auto version = s.db->Migrate("metadata", MetadataMigrations());
    if (!version) {
      std::lock_guard lock(s.mu);
      s.problem = version.error().message;
      return version.error();
    }
    s.schema_version.store(*version);
    s.reachable.store(true);
    s.migrated.store(true);
    return {};
  }

  // A maintenance pass, on the blocking pool.
  static void Maintain(const std::shared_ptr<Shared>& self) {
    Shared& s = *self;
    if (!s.migrated.load()) {
      if (auto done = Migrate(s); done) {
        s.logger->info(
            log::With("The catalogue's database is reachable; schema up to date",
                      {{"database", s.where}, {"schema_version", s.schema_version.load()}}));
      } else if (!Unreachable(done.error().code)) {
        s.logger->error(log::With("The catalogue's database refuses the schema",
                                  {{"database", s.where}, {"error", done.error().message}}));
      }
    } else if (auto ping = s.db->Ping(); !ping) {
      s.NoteError(ping.error());
    } else if (!s.reachable.exchange(true)) {
      s.logger->info(log::With("The catalogue's database answers again", {{"database", s.where}}));
    }
    RegisterJobHandler(self);
  }

  static void RegisterJobHandler(const std::shared_ptr<Shared>& self) {
    Shared& s = *self;
    {
      std::lock_guard lock(s.mu);
      if (s.job_handler || !s.running) return;
    }
    auto queue = s.services->Find<JobQueue>("worker");
    if (!queue) return;  // no worker (yet): DELETE says so when it happens
    // Weak: the handler, which the state holds, must not keep the state alive.
    auto handle = (*queue)->Handle(
        kDeleteVideoJobKind,
        [weak = std::weak_ptr<Shared>(self)](JobContext& job) -> Result<void> {
          auto state = weak.lock();
          if (!state) return Fail(ErrorCode::kUnavailable, "the metadata plugin has stopped");
          return DeleteVideoObjects(*state, job);
        },
        0);
    if (!handle) {
      s.logger->warn(log::With("Cannot register the delete-video job handler",
                               {{"error", handle.error().message}}));
      return;
    }
    std::lock_guard lock(s.mu);
    // Stopped meanwhile: the registration goes at once (its destructor, outside the lock below,
    // would wait for handlers; none can run yet).
    if (s.running) s.job_handler = std::move(*handle);
  }

  std::vector<RouteSpec> RouteTable() const {
    return {
        {"GET", "/api/v1/videos", &ListVideos},
        {"GET", "/api/v1/videos/{id}", &GetVideo},
        {"PATCH", "/api/v1/videos/{id}", &EditVideo},
        {"DELETE", "/api/v1/videos/{id}", &DeleteVideo},
    };
  }

  Result<Registration> AddAsync(const std::string& method, const std::string& pattern, Handler fn) {
    auto s = shared_;
    auto catalogue = catalogue_;
    auto id = router_->AddAsyncRoute(
        method, pattern,
        [s, catalogue, fn = std::move(fn), method, pattern](
            const HttpRequest& req, const std::shared_ptr<HttpResponder>& responder) {
          const auto start = std::chrono::steady_clock::now();
          Call call{std::string(req.Param("id")), std::string(req.query), std::string(req.body),
                    std::string(req.request_id), Principal{}};
          auto finish = [s, method, pattern, start](const std::shared_ptr<HttpResponder>& r,
                                                    HttpResponse res) {
            const double seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            s->Count(pattern, method, res.status, seconds);
            r->Send(std::move(res));
          };
          // Writes need a token with videos:write; reads show what the caller's token (if any)
          // lets it see.
          if (s->access != nullptr) {
            if (method == "GET") {
              call.who = s->access->Identify(req);
            } else {
              auto who = s->access->Require(req, kScopeWrite);
              if (auto* denied = std::get_if<HttpResponse>(&who)) {
                return finish(responder, std::move(*denied));
              }
              call.who = std::get<Principal>(who);
            }
          }
          const bool queued =
              s->blocking->Submit([s, catalogue, fn, call = std::move(call), responder, finish] {
                if (responder->ClientGone()) return;
                finish(responder, fn(*s, *catalogue, call));
              });
          if (!queued) {
            finish(responder, FieldError(503, "unavailable", "",
                                         "the daemon is overloaded: its queue of blocking work "
                                         "is full (daemon.blocking_queue)",
                                         "try again shortly"));
          }
        });
    if (!id) return id.error();
    return Registration([router = router_, id = *id] { router->RemoveRoute(id); });
  }

  // The transcoder's progress, recorded on the video and passed to its event streams; every
  // state change makes the streams of its video read it again.
  Result<void> SubscribeEvents() {
    auto s = shared_;
    auto catalogue = catalogue_;
    auto progress = bus_->Subscribe(kProgressSubject, [s, catalogue](const Message& m) {
      json event = CleanProgress(m.data);
      if (event.is_null()) {
        s->logger->debug(log::With("Ignored a progress event that is not one",
                                   {{"subject", m.subject}, {"data", m.data.substr(0, 200)}}));
        return;
      }
      const bool queued = s->blocking->Submit([s, catalogue, event = std::move(event)] {
        const std::string id = event["video"].get<std::string>();
        const std::string data = Dump(event);
        auto stored = catalogue->SetProgress(id, data);
        if (!stored) {
          // An unknown video, or a late event of an attempt that ended: nothing to record.
          s->logger->debug(log::With("Progress not recorded",
                                     {{"video", id}, {"error", stored.error().message}}));
          return;
        }
        for (const auto& w : s->watches.Of(id)) {
          std::lock_guard lock(w->mu);
          w->Emit("progress", data);
        }
      });
      if (!queued) s->logger->debug(log::With("Progress dropped: the blocking pool is full", {}));
    });
    if (!progress)
      return progress.error().Wrap("metadata: subscribe to " + std::string(kProgressSubject));
    event_subscriptions_.push_back(*progress);
    auto state = bus_->Subscribe(kStateSubject, [s, catalogue](const Message& m) {
      const json event = json::parse(m.data, nullptr, false);
      if (!event.is_object() || !event.contains("video") || !event["video"].is_string()) return;
      for (const auto& w : s->watches.Of(event["video"].get<std::string>())) {
        Refresh(s, catalogue, w);
      }
    });
    if (!state) return state.error().Wrap("metadata: subscribe to " + std::string(kStateSubject));
    event_subscriptions_.push_back(*state);
    // Keepalives, the periodic read again, and the streams whose client left.
    watch_timer_ = std::make_unique<PeriodicTimer>(executor_, kWatchTick, [s, catalogue] {
      const auto now = Watch::Clock::now();
      for (const auto& w : s->watches.All()) {
        bool gone = false;
        bool reread = false;
        {
          std::lock_guard lock(w->mu);
          if (w->stream->ClientGone()) w->EndLocked();
          gone = w->ended;
          if (!gone && now - w->last_write >= kKeepalive) {
            if (w->stream->Write(": keepalive\n\n")) {
              w->last_write = now;
            } else {
              w->EndLocked();
              gone = true;
            }
          }
          reread = !gone && now - w->last_read >= kReread;
        }
        if (gone) {
          s->watches.Remove(w);
        } else if (reread) {
          Refresh(s, catalogue, w);
        }
      }
    });
    return {};
  }

  // GET /api/v1/videos/{id}/events: server-sent events of one video, until it is ready, failed or
  // deleted, or the client leaves.
  Result<Registration> AddEventsRoute() {
    static const std::string kPattern = "/api/v1/videos/{id}/events";
    auto s = shared_;
    auto catalogue = catalogue_;
    auto route = router_->AddAsyncRoute(
        "GET", kPattern,
        [s, catalogue](const HttpRequest& req, const std::shared_ptr<HttpResponder>& responder) {
          const auto start = std::chrono::steady_clock::now();
          std::string id(req.Param("id"));
          std::string request_id(req.request_id);
          auto answer = [s, start](const std::shared_ptr<HttpResponder>& r, HttpResponse res) {
            s->Count(
                kPattern, "GET", res.status,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
            r->Send(std::move(res));
          };
          const bool queued = s->blocking->Submit([s, catalogue, id, request_id, responder, answer,
                                                   start] {
            if (responder->ClientGone()) return;
            if (!metadata::PlausibleId(id)) return answer(responder, NotFound(id));
            auto video = catalogue->Get(id);
            if (!video)
              return answer(responder, ErrorResponse(video.error(), FieldOf(video.error())));
            HttpResponse head;
            head.content_type = "text/event-stream";
            head.headers = {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
            auto stream = responder->StartStream(std::move(head));
            if (!stream) return;
            s->Count(
                kPattern, "GET", 200,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
            auto w = std::make_shared<Watch>();
            w->video = id;
            w->stream = std::move(stream);
            w->last_write = w->last_read = Watch::Clock::now();
            // Watched before the first event, so that no change falls between the two.
            s->watches.Add(w);
            s->logger->debug(log::With("Video events stream opened",
                                       {{"video", id}, {"request_id", request_id}}));
            SendVideo(*s, w, *video);
            // A change between the read above and the Add: the periodic read catches it.
          });
          if (!queued) {
            answer(responder, FieldError(503, "unavailable", "",
                                         "the daemon is overloaded: its queue of blocking work "
                                         "is full (daemon.blocking_queue)",
                                         "try again shortly"));
          }
        });
    if (!route) return route.error();
    return Registration([router = router_, route = *route] { router->RemoveRoute(route); });
  }

  static HttpResponse ListVideos(Shared&, Catalogue& catalogue, const Call& call) {
    auto parsed = metadata::ParseListQuery(call.query);
    if (parsed.error) return std::move(*parsed.error);
    auto page = catalogue.List(parsed.query);
    if (!page) return ErrorResponse(page.error(), FieldOf(page.error()));
    json videos = json::array();
    for (const auto& v : page->videos) {
      // A listing shows public and gated videos; unlisted and private ones only to their owner
      // (a page may then hold fewer than its limit; the cursor still goes on).
      const bool own =
          !call.who.anonymous && (call.who.subject == v.owner || call.who.subject == "operator");
      if (own || v.visibility == Visibility::kPublic || v.visibility == Visibility::kGated) {
        videos.push_back(VideoToJson(v));
      }
    }
    return Ok(
        {{"videos", std::move(videos)},
         {"next_cursor", page->next_cursor.empty() ? json(nullptr) : json(page->next_cursor)}});
  }

  static HttpResponse GetVideo(Shared&, Catalogue& catalogue, const Call& call) {
    if (!metadata::PlausibleId(call.id)) return NotFound(call.id);
    auto video = catalogue.Get(call.id);
    if (!video) return ErrorResponse(video.error(), FieldOf(video.error()));
    if (!MaySee(call.who, *video)) return NotFound(call.id);  // not even that it exists
    return Ok(VideoToJson(*video));
  }

  // The 403 (or 404 for a private video the caller may not see) when the caller may not change
  // the video; nothing when it may, or when the video is not there (the change then says so).
  static std::optional<HttpResponse> CheckOwner(const Shared& s, Catalogue& catalogue,
                                                const Call& call) {
    auto video = catalogue.Get(call.id);
    if (!video) return std::nullopt;
    if (MayChange(call.who, *video, s.access != nullptr && s.access->Required())) {
      return std::nullopt;
    }
    if (!MaySee(call.who, *video)) return NotFound(call.id);
    return AccessProblem(403, "forbidden",
                         fmt::format("video '{}' is {}'s; this token is {}'s", call.id,
                                     video->owner, call.who.subject),
                         "use a token of the video's owner, or the operator's");
  }

  static HttpResponse EditVideo(Shared& s, Catalogue& catalogue, const Call& call) {
    if (!metadata::PlausibleId(call.id)) return NotFound(call.id);
    auto parsed = metadata::ParseEdit(call.body, s.max_body);
    if (parsed.error) return std::move(*parsed.error);
    if (auto denied = CheckOwner(s, catalogue, call)) return std::move(*denied);
    auto video = catalogue.Edit(call.id, parsed.edit);
    if (!video) return ErrorResponse(video.error(), FieldOf(video.error()));
    std::string fields;
    for (const char* f :
         {parsed.edit.title ? "title" : nullptr, parsed.edit.description ? "description" : nullptr,
          parsed.edit.visibility ? "visibility" : nullptr, parsed.edit.gate ? "gate" : nullptr}) {
      if (f != nullptr) fields += fields.empty() ? f : std::string(",") + f;
    }
    s.logger->info(log::With(
        "Video edited", {{"video", call.id}, {"fields", fields}, {"request_id", call.request_id}}));
    return Ok(VideoToJson(*video));
  }

  static HttpResponse DeleteVideo(Shared& s, Catalogue& catalogue, const Call& call) {
    if (!metadata::PlausibleId(call.id)) return NotFound(call.id);
    if (auto denied = CheckOwner(s, catalogue, call)) return std::move(*denied);
    VideoTransition to_deleted;
    to_deleted.to = VideoState::kDeleted;
    auto video = catalogue.Transition(call.id, to_deleted);
    if (!video) {
      // Deleted before, and perhaps its cleanup never queued (no worker then): queue it again;
      // the idempotency key makes that a no-op when it was.
      if (video.error().code == ErrorCode::kFailedPrecondition) {
        if (auto current = catalogue.Get(call.id);
            current && current->state == VideoState::kDeleted) {
          EnqueueCleanup(s, *current, call.request_id);
        }
      }
      return ErrorResponse(video.error(), FieldOf(video.error()));
    }
    EnqueueCleanup(s, *video, call.request_id);
    s.logger->info(
        log::With("Video deleted", {{"video", call.id}, {"request_id", call.request_id}}));
    return Ok(VideoToJson(*video));
  }

  static void EnqueueCleanup(Shared& s, const Video& video, const std::string& request_id) {
    auto queue = s.services->Find<JobQueue>("worker");
    if (!queue) {
      s.logger->warn(log::With(
          "No worker service: the video's objects stay for the periodic "
          "orphan collection",
          {{"video", video.id}, {"request_id", request_id}, {"error", queue.error().message}}));
      return;
    }
    auto job = (*queue)->Enqueue(DeleteVideoJob(video));
    if (!job) {
      s.logger->warn(log::With(
          "Could not queue the deletion of a video's objects; the periodic "
          "orphan collection will remove them",
          {{"video", video.id}, {"request_id", request_id}, {"error", job.error().message}}));
      return;
    }
    s.logger->info(log::With("Queued the deletion of a video's objects",
                             {{"video", video.id}, {"job", job->id}, {"request_id", request_id}}));
  }

  static void Collect(const Shared& s, std::vector<MetricFamily>& out) {
    const Labels engine = {{"engine", s.engine}};
    MetricFamily requests{"streamgate_metadata_requests_total",
                          "Videos API requests answered, by route and status class",
                          "counter",
                          {}};
    MetricFamily latency{"streamgate_metadata_request_duration_seconds",
                         "Time from a videos API request's arrival to its answer",
                         "histogram",
                         {}};
    MetricFamily errors{"streamgate_metadata_database_errors_total",
                        "Catalogue calls the database failed, by reason",
                        "counter",
                        {}};
    {
      std::lock_guard lock(s.mu);
      for (const auto& [key, r] : s.routes) {
        const auto& [method, route] = key;
        for (unsigned c = 1; c <= 5; ++c) {
          if (r.by_class[c] == 0) continue;
          requests.samples.push_back(
              {"",
               {{"method", method}, {"route", route}, {"class", fmt::format("{}xx", c)}},
               static_cast<double>(r.by_class[c])});
        }
        std::vector<uint64_t> cumulative;
        uint64_t sum = 0;
        for (const uint64_t b : r.buckets) cumulative.push_back(sum += b);
        AddHistogram(latency, {{"method", method}, {"route", route}}, LatencyBounds(), cumulative,
                     r.sum, r.count);
      }
      for (const auto& [reason, n] : s.db_errors) {
        errors.samples.push_back(
            {"", {{"engine", s.engine}, {"reason", reason}}, static_cast<double>(n)});
      }
    }
    out.push_back(std::move(requests));
    out.push_back(std::move(latency));
    out.push_back(std::move(errors));
    const SqlStats st = s.db->Stats();
    auto one = [&](const char* name, const char* help, const char* type, double v) {
      out.push_back({name, help, type, {{"", engine, v}}});
    };
    one("streamgate_metadata_event_streams",
        "Open event streams of videos (GET /api/v1/videos/{id}/events)", "gauge",
        static_cast<double>(s.watches.Count()));
    one("streamgate_metadata_up", "1 while the catalogue's database answers, else 0", "gauge",
        s.migrated.load() && s.reachable.load() ? 1 : 0);
    one("streamgate_metadata_schema_version", "The metadata schema's version in the database",
        "gauge", s.schema_version.load());
    one("streamgate_metadata_db_statements_total", "SQL statements run", "counter",
        static_cast<double>(st.statements));
    one("streamgate_metadata_db_statement_errors_total", "SQL statements that failed", "counter",
        static_cast<double>(st.errors));
    one("streamgate_metadata_db_reconnects_total", "Connections made again after one was lost",
        "counter", static_cast<double>(st.reconnects));
    one("streamgate_metadata_db_pool_connections", "Database connections open now", "gauge",
        static_cast<double>(st.pool_size));
    one("streamgate_metadata_db_pool_in_use", "Database connections lent out now", "gauge",
        static_cast<double>(st.pool_in_use));
    one("streamgate_metadata_db_pool_waits_total", "Callers that waited for a free connection",
        "counter", static_cast<double>(st.pool_waits));
  }

  std::shared_ptr<Shared> shared_;
  std::shared_ptr<Catalogue> catalogue_;
  Bus* bus_ = nullptr;
  boost::asio::any_io_executor executor_;
  Router* router_ = nullptr;
  bool serve_ = false;
  Bus::SubscriptionId subscription_ = 0;
  std::vector<Bus::SubscriptionId> event_subscriptions_;
  std::unique_ptr<PeriodicTimer> watch_timer_;
  std::vector<Registration> routes_;
  std::unique_ptr<PeriodicTimer> timer_;
  Registration collector_;
};

}  // namespace

std::unique_ptr<Plugin> MakeMetadata() { return std::make_unique<MetadataPlugin>(); }

}  // namespace sg::plugins
