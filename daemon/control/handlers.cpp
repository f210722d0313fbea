#include "daemon/control/handlers.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "common/strings.h"
#include "daemon/plugin_api/auth.h"
#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/catalogue_json.h"
#include "daemon/plugin_api/jobs.h"

namespace sg::control {
namespace {

std::string Iso(std::chrono::system_clock::time_point t) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(t)));
}

const nlohmann::ordered_json& Arg(const Request& r, const char* name) {
  static const nlohmann::ordered_json kNull;
  auto it = r.args.find(name);
  return it == r.args.end() ? kNull : *it;
}

// A required string must be there and not empty; an optional one that is empty is as if absent.
std::string StringArg(const Request& r, const char* name, bool required) {
  const auto& v = Arg(r, name);
  if (v.is_null()) {
    if (required) throw ArgError{fmt::format("\"{}\" is required", name)};
    return {};
  }
  if (!v.is_string()) throw ArgError{fmt::format("\"{}\" must be a string", name)};
  if (required && v.get_ref<const std::string&>().empty()) {
    throw ArgError{fmt::format("\"{}\" is required and must not be empty", name)};
  }
  return v.get<std::string>();
}

// A component must be one the daemon has: the set is fixed by the code, so levels set by clients
// stay bounded.
std::string ComponentArg(const Request& r, const log::LogHub& logs) {
  std::string component = StringArg(r, "component", false);
  if (component.empty()) return component;
  const auto levels = logs.Levels();
  if (levels.contains(component)) return component;
  std::vector<std::string> names;
  names.reserve(levels.size());
  for (const auto& [name, level] : levels) names.push_back(name);
  throw ArgError{fmt::format("\"component\": '{}' is not a component{}; components: {}",
                             Printable(component.substr(0, 64)), DidYouMean(component, names),
                             fmt::join(names, ", "))};
}

bool BoolArg(const Request& r, const char* name) {
  const auto& v = Arg(r, name);
  if (v.is_null()) return false;
  if (!v.is_boolean()) throw ArgError{fmt::format("\"{}\" must be true or false", name)};
  return v.get<bool>();
}

std::optional<int64_t> IntArg(const Request& r, const char* name, int64_t min, int64_t max) {
  const auto& v = Arg(r, name);
  if (v.is_null()) return std::nullopt;
  if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > max) {
    throw ArgError{fmt::format("\"{}\" must be a whole number from {} to {}", name, min, max)};
  }
  return v.get<int64_t>();
}

std::vector<std::string> NamesArg(const Request& r) {
  const auto& v = Arg(r, "names");
  if (!v.is_array() || v.empty())
    throw ArgError{"\"names\" must be a non-empty list of plugin names"};
  if (v.size() > 64) throw ArgError{"\"names\" lists more than 64 plugins"};
  std::vector<std::string> names;
  for (const auto& item : v) {
    if (!item.is_string()) throw ArgError{"\"names\" must hold only strings"};
    names.push_back(item.get<std::string>());
  }
  return names;
}

spdlog::level::level_enum LevelArg(const Request& r, const char* name, bool required,
                                   spdlog::level::level_enum fallback) {
  const std::string text = StringArg(r, name, required);
  if (text.empty()) return fallback;
  auto level = log::ParseLevel(text);
  if (!level) {
    throw ArgError{
        fmt::format("\"{}\": '{}' is not a level; use trace, debug, info, warn, error, "
                    "critical or off",
                    name, Printable(text))};
  }
  return *level;
}

nlohmann::ordered_json HealthJson(const kernel::HealthSummary& summary) {
  nlohmann::ordered_json plugins = nlohmann::ordered_json::array();
  for (const auto& p : summary.plugins) {
    plugins.push_back({{"name", p.name},
                       {"version", p.version},
                       {"state", kernel::PluginStateName(p.state)},
                       {"status", HealthStatusName(p.report.status)},
                       {"message", p.report.message},
                       {"latency_ms", static_cast<double>(p.latency.count()) / 1000.0}});
  }
  return {{"status", HealthStatusName(summary.overall)}, {"plugins", plugins}};
}

// Runs a plugin operation over every name; stops at the first failure, which is the reply.
template <typename Fn>
nlohmann::ordered_json EachPlugin(const std::vector<std::string>& names, Fn&& fn) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& name : names) {
    auto result = fn(name);
    if (!result) throw result.error();
    if constexpr (std::is_same_v<std::decay_t<decltype(*result)>, kernel::PluginInfo>) {
      out.push_back(PluginJson(*result));
    } else {
      for (const auto& info : *result) out.push_back(PluginJson(info));
    }
  }
  return out;
}

// --- videos.* and jobs.*: the catalogue and the job queue, found among the plugins' services.
// The control socket's workers run handlers off its loop thread, so these may block on the
// database like plugins.stop blocks on a plugin.

// A time of the catalogue or the queue; empty for none (a job's run_at or lease_until of 0).
std::string IsoMs(int64_t ms) { return ms <= 0 ? "" : FormatTimeMs(ms); }

nlohmann::ordered_json OrNull(const std::string& text) {
  return text.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(text);
}

// An id as the catalogue and the queue make them: short and printable. Anything else cannot
// name a record, and is refused before it reaches a database.
std::string IdArg(const Request& r) {
  std::string id = StringArg(r, "id", true);
  if (id.size() > 128 ||
      !std::all_of(id.begin(), id.end(), [](char c) { return c > ' ' && c < 127; })) {
    throw ArgError{fmt::format(
        "\"id\": '{}' is not an id (at most 128 printable characters, no spaces)", Printable(id))};
  }
  return id;
}

std::string BoundedStringArg(const Request& r, const char* name, size_t max) {
  std::string value = StringArg(r, name, false);
  if (value.size() > max) {
    throw ArgError{fmt::format("\"{}\" is longer than {} bytes", name, max)};
  }
  return value;
}

template <typename Interface>
std::shared_ptr<Interface> PluginService(ControlTarget& target, const std::string& service) {
  const ServiceRegistry* services = target.PluginServices();
  if (services == nullptr) throw Error{ErrorCode::kUnavailable, NotRunningMessage(service)};
  auto found = services->Find<Interface>(service);
  if (!found) {
    // Not offered (the plugin is disabled or failed to start) or offered by a stopped plugin:
    // either way the way out is to start it.
    if (found.error().code == ErrorCode::kUnavailable) {
      throw Error{ErrorCode::kUnavailable, NotRunningMessage(service)};
    }
    throw found.error();
  }
  return *found;
}

template <typename T>
T Must(Result<T> result, const char* what, const std::string& id) {
  if (result) return std::move(result).value();
  Error error = result.error();
  if (error.code == ErrorCode::kNotFound && !id.empty()) {
    throw Error{ErrorCode::kNotFound,
                fmt::format("no {} with id '{}'; 'streamgate {}s list' shows them", what,
                            Printable(id), what)};
  }
  throw error;
}

// The one JSON shape of a video (plugin_api/catalogue_json.h), as the REST API answers it.
nlohmann::ordered_json VideoJson(const Video& v) { return nlohmann::ordered_json(VideoToJson(v)); }

// A job; the payload (up to 1 MiB each) only when asked, so that a list stays small.
nlohmann::ordered_json JobJson(const Job& j, bool payload) {
  nlohmann::ordered_json out = {{"id", j.id},
                                {"kind", j.kind},
                                {"state", JobStateName(j.state)},
                                {"priority", j.priority},
                                {"attempts", j.attempts},
                                {"max_attempts", j.max_attempts},
                                {"progress", j.progress},
                                {"last_error", j.last_error},
                                {"idempotency_key", j.idempotency_key},
                                {"created_at", IsoMs(j.created_at)},
                                {"updated_at", IsoMs(j.updated_at)},
                                {"run_at", IsoMs(j.run_at)},
                                {"lease_owner", OrNull(j.lease_owner)},
                                {"lease_until", OrNull(IsoMs(j.lease_until))},
                                {"payload_bytes", j.payload.size()}};
  if (payload) out["payload"] = j.payload;
  return out;
}

template <typename State>
std::optional<State> StateArg(const Request& r, std::optional<State> (*parse)(std::string_view),
                              const std::vector<std::string>& names) {
  const std::string text = BoundedStringArg(r, "state", 64);
  if (text.empty()) return std::nullopt;
  auto state = parse(text);
  if (!state) {
    throw ArgError{fmt::format("\"state\": '{}' is not a state{}; states: {}", Printable(text),
                               DidYouMean(text, names), fmt::join(names, ", "))};
  }
  return state;
}

// The handlers, one per command, in the order of the command table.

nlohmann::ordered_json Ping(ControlTarget& /*target*/, const Request& /*r*/) {
  return {{"pong", true}};
}

nlohmann::ordered_json Status(ControlTarget& target, const Request& /*r*/) {
  nlohmann::ordered_json result = target.Identity();
  const kernel::HealthSummary health = target.Health();
  nlohmann::ordered_json plugins = nlohmann::ordered_json::array();
  for (const auto& info : target.Plugins()) {
    nlohmann::ordered_json p = PluginJson(info);
    for (const auto& h : health.plugins) {
      if (h.name != info.name) continue;
      p["health"] = HealthStatusName(h.report.status);
      p["health_message"] = h.report.message;
    }
    plugins.push_back(p);
  }
  result["health"] = HealthStatusName(health.overall);
  result["plugins"] = plugins;
  return result;
}

nlohmann::ordered_json PluginsList(ControlTarget& target, const Request& /*r*/) {
  nlohmann::ordered_json plugins = nlohmann::ordered_json::array();
  for (const auto& info : target.Plugins()) plugins.push_back(PluginJson(info));
  return {{"plugins", plugins}};
}

nlohmann::ordered_json PluginsStart(ControlTarget& target, const Request& r) {
  return {{"plugins",
           EachPlugin(NamesArg(r), [&](const std::string& n) { return target.StartPlugin(n); })}};
}

nlohmann::ordered_json PluginsStop(ControlTarget& target, const Request& r) {
  const bool cascade = BoolArg(r, "cascade");
  return {{"plugins", EachPlugin(NamesArg(r), [&](const std::string& n) {
             return target.StopPlugin(n, cascade);
           })}};
}

nlohmann::ordered_json PluginsRestart(ControlTarget& target, const Request& r) {
  const bool cascade = BoolArg(r, "cascade");
  return {{"plugins", EachPlugin(NamesArg(r), [&](const std::string& n) {
             return target.RestartPlugin(n, cascade);
           })}};
}

nlohmann::ordered_json Health(ControlTarget& target, const Request& /*r*/) {
  return HealthJson(target.Health());
}

nlohmann::ordered_json ConfigShow(ControlTarget& target, const Request& /*r*/) {
  return target.ShowConfig();
}

nlohmann::ordered_json ConfigValidate(ControlTarget& target, const Request& r) {
  const std::string file = StringArg(r, "file", false);
  return target.ValidateConfig(file.empty() ? std::nullopt : std::optional<std::string>(file));
}

nlohmann::ordered_json ConfigReload(ControlTarget& target, const Request& /*r*/) {
  return target.Reload();
}

nlohmann::ordered_json LogLevelGet(ControlTarget& target, const Request& /*r*/) {
  nlohmann::ordered_json components = nlohmann::ordered_json::object();
  for (const auto& [name, level] : target.Logs().Levels()) {
    components[name] = {{"level", log::LevelName(level.first)}, {"own", level.second}};
  }
  return {{"default", log::LevelName(target.Logs().DefaultLevel())}, {"components", components}};
}

nlohmann::ordered_json LogLevelSet(ControlTarget& target, const Request& r) {
  const auto level = LevelArg(r, "level", true, spdlog::level::info);
  const std::string component = ComponentArg(r, target.Logs());
  const auto seconds = IntArg(r, "for_seconds", 1, int64_t{7} * 24 * 3600);
  const auto reverts = target.SetLogLevel(
      level, component, seconds ? std::optional(std::chrono::seconds(*seconds)) : std::nullopt);
  return {{"component", component.empty() ? "*" : component},
          {"level", log::LevelName(level)},
          {"reverts_at",
           reverts ? nlohmann::ordered_json(Iso(*reverts)) : nlohmann::ordered_json(nullptr)}};
}

nlohmann::ordered_json LogsHistory(ControlTarget& target, const Request& r) {
  const int64_t limit = IntArg(r, "limit", 0, 1000000).value_or(100);
  const int64_t after = IntArg(r, "after_seq", 0, INT64_MAX).value_or(0);
  const std::string service = target.Identity().value("service", "streamgate");
  nlohmann::ordered_json records = nlohmann::ordered_json::array();
  // Take everything after `after`, then keep the last `limit` of it.
  auto all = target.Logs().Ring().Last(0);
  std::vector<const log::Record*> picked;
  for (const auto& record : all) {
    if (record.seq > static_cast<uint64_t>(after)) picked.push_back(&record);
  }
  // At most the newest 100000 records in one reply (about 20 MiB), whatever the ring holds: a
  // reply must fit the client's frame limit.
  constexpr size_t kMaxRecords = 100000;
  const size_t want = limit > 0 ? std::min(static_cast<size_t>(limit), kMaxRecords) : kMaxRecords;
  const size_t skip = picked.size() > want ? picked.size() - want : 0;
  for (size_t i = skip; i < picked.size(); ++i) records.push_back(log::ToJson(*picked[i], service));
  return {{"records", records},
          {"next_seq", target.Logs().Ring().NextSeq()},
          {"truncated", limit == 0 && skip > 0}};
}

nlohmann::ordered_json LogsStream(ControlTarget& target, const Request& r) {
  const auto level = LevelArg(r, "level", false, spdlog::level::trace);
  return {{"endpoint", target.StreamLogs(level)}, {"next_seq", target.Logs().Ring().NextSeq()}};
}

nlohmann::ordered_json ServicesList(ControlTarget& target, const Request& /*r*/) {
  return {{"services", target.Services()}};
}

nlohmann::ordered_json VideosList(ControlTarget& target, const Request& r) {
  VideoQuery query;
  query.state = StateArg<VideoState>(
      r, &ParseVideoState,
      {"uploading", "uploaded", "queued", "processing", "ready", "failed", "deleted"});
  // Asking for deleted videos by state is asking to see them.
  query.include_deleted = query.state == VideoState::kDeleted;
  const std::string owner = BoundedStringArg(r, "owner", 256);
  if (!owner.empty()) query.owner = owner;
  query.limit = static_cast<int>(IntArg(r, "limit", 1, kMaxPageSize).value_or(20));
  query.cursor = BoundedStringArg(r, "cursor", 1024);
  auto page = Must(PluginService<Catalogue>(target, "metadata")->List(query), "video", "");
  nlohmann::ordered_json videos = nlohmann::ordered_json::array();
  for (const auto& v : page.videos) videos.push_back(VideoJson(v));
  return {{"videos", videos}, {"next_cursor", OrNull(page.next_cursor)}};
}

nlohmann::ordered_json VideosShow(ControlTarget& target, const Request& r) {
  const std::string id = IdArg(r);
  return {{"video",
           VideoJson(Must(PluginService<Catalogue>(target, "metadata")->Get(id), "video", id))}};
}

nlohmann::ordered_json VideosDelete(ControlTarget& target, const Request& r) {
  const std::string id = IdArg(r);
  auto catalogue = PluginService<Catalogue>(target, "metadata");
  // Deleting twice is not an error: the video is deleted either way.
  Video video = Must(catalogue->Get(id), "video", id);
  const bool already = video.state == VideoState::kDeleted;
  if (!already) {
    VideoTransition deleted;
    deleted.to = VideoState::kDeleted;
    video = Must(catalogue->Transition(id, deleted), "video", id);
  }
  // Its objects go through a delete-video job, as DELETE /api/v1/videos/{id} does (the metadata
  // plugin handles the kind); without a worker, gc-orphans collects them later.
  nlohmann::ordered_json cleanup = nullptr;
  if (const ServiceRegistry* services = target.PluginServices(); services != nullptr) {
    if (auto queue = services->Find<JobQueue>("worker")) {
      if (auto job = (*queue)->Enqueue(DeleteVideoJob(video))) cleanup = job->id;
    }
  }
  return {{"video", VideoJson(video)}, {"already_deleted", already}, {"cleanup_job", cleanup}};
}

nlohmann::ordered_json JobsList(ControlTarget& target, const Request& r) {
  JobFilter filter;
  filter.state = StateArg<JobState>(r, &ParseJobState,
                                    {"queued", "running", "succeeded", "dead", "cancelled"});
  const std::string kind = BoundedStringArg(r, "kind", 64);
  if (!kind.empty()) filter.kind = kind;
  filter.limit = static_cast<int>(IntArg(r, "limit", 1, 1000).value_or(100));
  auto jobs = Must(PluginService<JobQueue>(target, "worker")->List(filter), "job", "");
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& j : jobs) out.push_back(JobJson(j, false));
  return {{"jobs", out}};
}

nlohmann::ordered_json JobsShow(ControlTarget& target, const Request& r) {
  const std::string id = IdArg(r);
  return {
      {"job", JobJson(Must(PluginService<JobQueue>(target, "worker")->Get(id), "job", id), true)}};
}

nlohmann::ordered_json JobsRetry(ControlTarget& target, const Request& r) {
  const std::string id = IdArg(r);
  return {{"job",
           JobJson(Must(PluginService<JobQueue>(target, "worker")->Retry(id), "job", id), false)}};
}

nlohmann::ordered_json JobsCancel(ControlTarget& target, const Request& r) {
  const std::string id = IdArg(r);
  return {{"job",
           JobJson(Must(PluginService<JobQueue>(target, "worker")->Cancel(id), "job", id), false)}};
}

// --- auth.*: API keys and tokens, from the auth plugin. Only who can reach this socket (the
// local operator) gets here.

nlohmann::ordered_json KeyJson(const ApiKeyInfo& k) {
  return {{"id", k.id},
          {"name", k.name},
          {"owner", k.owner},
          {"scope", k.scope},
          {"created_at", IsoMs(k.created_ms)},
          {"last_used_at", OrNull(IsoMs(k.last_used_ms))},
          {"revoked_at", OrNull(IsoMs(k.revoked_ms))}};
}

nlohmann::ordered_json AuthKeysCreate(ControlTarget& target, const Request& r) {
  const std::string name = StringArg(r, "name", true);
  const std::string owner = BoundedStringArg(r, "owner", 128);
  const std::string scope = BoundedStringArg(r, "scope", 256);
  auto made =
      Must(PluginService<AuthService>(target, "auth")->CreateKey(name, owner, scope), "key", "");
  nlohmann::ordered_json out = KeyJson(made.info);
  out["key"] = made.secret;
  return {{"key", out}};
}

nlohmann::ordered_json AuthKeysList(ControlTarget& target, const Request& /*r*/) {
  auto keys = Must(PluginService<AuthService>(target, "auth")->ListKeys(), "key", "");
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& k : keys) out.push_back(KeyJson(k));
  return {{"keys", out}};
}

nlohmann::ordered_json AuthKeysRevoke(ControlTarget& target, const Request& r) {
  const std::string id = IdArg(r);
  auto key = PluginService<AuthService>(target, "auth")->RevokeKey(id);
  if (!key && key.error().code == ErrorCode::kNotFound) {
    throw Error{ErrorCode::kNotFound,
                fmt::format("no API key with id '{}'; 'streamgate auth keys list' shows them",
                            Printable(id))};
  }
  return {{"key", KeyJson(Must(std::move(key), "key", ""))}};
}

nlohmann::ordered_json AuthToken(ControlTarget& target, const Request& r) {
  const std::string scope = BoundedStringArg(r, "scope", 256);
  const auto ttl = IntArg(r, "ttl_seconds", 60, 86400);
  auto token = Must(PluginService<AuthService>(target, "auth")
                        ->IssueToken("operator", scope, std::chrono::seconds(ttl.value_or(0))),
                    "token", "");
  return {{"token", token.token},
          {"token_type", "Bearer"},
          {"expires_at", IsoMs(token.expires * 1000)},
          {"subject", token.subject},
          {"scope", token.scope}};
}

nlohmann::ordered_json AuthRotate(ControlTarget& target, const Request& /*r*/) {
  auto id = Must(PluginService<AuthService>(target, "auth")->RotateSigningKey(), "key", "");
  return {{"signing_key", id}};
}

nlohmann::ordered_json Shutdown(ControlTarget& target, const Request& /*r*/) {
  target.Shutdown();
  return {{"stopping", true}};
}

struct Binding {
  Command command;
  Handler handler;
};

// The daemon's half of the command table: a handler for each entry of kCommands, in its order.
constexpr std::array<Binding, kCommandCount> kHandlers = {{
    {Command::kPing, &Ping},
    {Command::kStatus, &Status},
    {Command::kPluginsList, &PluginsList},
    {Command::kPluginsStart, &PluginsStart},
    {Command::kPluginsStop, &PluginsStop},
    {Command::kPluginsRestart, &PluginsRestart},
    {Command::kHealth, &Health},
    {Command::kConfigShow, &ConfigShow},
    {Command::kConfigValidate, &ConfigValidate},
    {Command::kConfigReload, &ConfigReload},
    {Command::kLogLevelGet, &LogLevelGet},
    {Command::kLogLevelSet, &LogLevelSet},
    {Command::kLogsHistory, &LogsHistory},
    {Command::kLogsStream, &LogsStream},
    {Command::kServicesList, &ServicesList},
    {Command::kVideosList, &VideosList},
    {Command::kVideosShow, &VideosShow},
    {Command::kVideosDelete, &VideosDelete},
    {Command::kJobsList, &JobsList},
    {Command::kJobsShow, &JobsShow},
    {Command::kJobsRetry, &JobsRetry},
    {Command::kJobsCancel, &JobsCancel},
    {Command::kAuthKeysCreate, &AuthKeysCreate},
    {Command::kAuthKeysList, &AuthKeysList},
    {Command::kAuthKeysRevoke, &AuthKeysRevoke},
    {Command::kAuthToken, &AuthToken},
    {Command::kAuthRotate, &AuthRotate},
    {Command::kShutdown, &Shutdown},
}};

// A command added to kCommands without a binding here, or bound twice, fails the build: the array
// has one slot per command, and each slot must hold its own command with a handler.
static_assert(
    [] {
      for (size_t i = 0; i < kHandlers.size(); ++i) {
        if (static_cast<size_t>(kHandlers[i].command) != i || kHandlers[i].handler == nullptr) {
          return false;
        }
      }
      return true;
    }(),
    "kHandlers must bind every Command exactly once, in the order of kCommands");

}  // namespace

nlohmann::ordered_json PluginJson(const kernel::PluginInfo& info) {
  const auto now = std::chrono::system_clock::now();
  nlohmann::ordered_json j = {
      {"name", info.name},
      {"version", info.version},
      {"state", kernel::PluginStateName(info.state)},
      {"reason", info.reason},
      {"since", Iso(info.since)},
      {"uptime_seconds",
       info.state == kernel::PluginState::kRunning
           ? std::chrono::duration_cast<std::chrono::seconds>(now - info.since).count()
           : 0},
      {"restarts", info.restarts},
      {"next_restart", info.next_restart ? nlohmann::ordered_json(Iso(*info.next_restart))
                                         : nlohmann::ordered_json(nullptr)},
      {"dependencies", info.dependencies},
  };
  return j;
}

Handler HandlerFor(Command command) { return kHandlers[static_cast<size_t>(command)].handler; }

}  // namespace sg::control
