#include "daemon/control/dispatcher.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "common/control_protocol.h"
#include "common/strings.h"

namespace sg::control {
namespace {

std::string Iso(std::chrono::system_clock::time_point t) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(t)));
}

// Argument errors carry this code and end up as bad_request replies.
struct ArgError {
  std::string message;
};

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

Dispatcher::Dispatcher(ControlTarget& target) : target_(target), counts_(Commands().size() + 1) {}

std::vector<std::pair<std::string, uint64_t>> Dispatcher::Counts() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (size_t i = 0; i < Commands().size(); ++i) {
    out.emplace_back(std::string(Commands()[i].name), counts_[i].load(std::memory_order_relaxed));
  }
  out.emplace_back("invalid", counts_.back().load(std::memory_order_relaxed));
  return out;
}

std::string Dispatcher::Handle(std::string_view frame) {
  std::string id;
  auto request = DecodeRequest(frame, id);
  size_t slot = Commands().size();
  if (request) {
    for (size_t i = 0; i < Commands().size(); ++i) {
      if (Commands()[i].name == request->cmd) slot = i;
    }
  }
  counts_[slot].fetch_add(1, std::memory_order_relaxed);
  if (!request) {
    const char* code = request.error().code == ErrorCode::kNotFound ? kUnknownCommand
                       : request.error().code == ErrorCode::kFailedPrecondition
                           ? kUnsupportedVersion
                           : kBadRequest;
    return EncodeError(id, code, request.error().message);
  }
  try {
    return EncodeOk(id, Run(*request));
  } catch (const ArgError& e) {
    return EncodeError(id, kBadRequest, fmt::format("{}: {}", request->cmd, e.message));
  } catch (const Error& e) {
    return EncodeError(id, ErrorCodeName(e.code), e.message);
  } catch (const std::exception& e) {
    return EncodeError(id, "internal", fmt::format("{}: {}", request->cmd, e.what()));
  }
}

nlohmann::ordered_json Dispatcher::Run(const Request& r) {
  nlohmann::ordered_json result;
  const std::string& cmd = r.cmd;
  if (cmd == "ping") {
    result = {{"pong", true}};
  } else if (cmd == "status") {
    result = target_.Identity();
    const kernel::HealthSummary health = target_.Health();
    nlohmann::ordered_json plugins = nlohmann::ordered_json::array();
    const auto infos = target_.Plugins();
    for (const auto& info : infos) {
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
  } else if (cmd == "plugins.list") {
    result = nlohmann::ordered_json::array();
    for (const auto& info : target_.Plugins()) result.push_back(PluginJson(info));
    result = {{"plugins", result}};
  } else if (cmd == "plugins.start") {
    result = {{"plugins", EachPlugin(NamesArg(r), [&](const std::string& n) {
                 return target_.StartPlugin(n);
               })}};
  } else if (cmd == "plugins.stop") {
    const bool cascade = BoolArg(r, "cascade");
    result = {{"plugins", EachPlugin(NamesArg(r), [&](const std::string& n) {
                 return target_.StopPlugin(n, cascade);
               })}};
  } else if (cmd == "plugins.restart") {
    const bool cascade = BoolArg(r, "cascade");
    result = {{"plugins", EachPlugin(NamesArg(r), [&](const std::string& n) {
                 return target_.RestartPlugin(n, cascade);
               })}};
  } else if (cmd == "health") {
    result = HealthJson(target_.Health());
  } else if (cmd == "config.show") {
    result = target_.ShowConfig();
  } else if (cmd == "config.validate") {
    const std::string file = StringArg(r, "file", false);
    result = target_.ValidateConfig(file.empty() ? std::nullopt : std::optional<std::string>(file));
  } else if (cmd == "config.reload") {
    result = target_.Reload();
  } else if (cmd == "log.level.get") {
    nlohmann::ordered_json components = nlohmann::ordered_json::object();
    for (const auto& [name, level] : target_.Logs().Levels()) {
      components[name] = {{"level", log::LevelName(level.first)}, {"own", level.second}};
    }
    result = {{"default", log::LevelName(target_.Logs().DefaultLevel())},
              {"components", components}};
  } else if (cmd == "log.level.set") {
    const auto level = LevelArg(r, "level", true, spdlog::level::info);
    const std::string component = ComponentArg(r, target_.Logs());
    const auto seconds = IntArg(r, "for_seconds", 1, int64_t{7} * 24 * 3600);
    const auto reverts = target_.SetLogLevel(
        level, component, seconds ? std::optional(std::chrono::seconds(*seconds)) : std::nullopt);
    result = {{"component", component.empty() ? "*" : component},
              {"level", log::LevelName(level)},
              {"reverts_at",
               reverts ? nlohmann::ordered_json(Iso(*reverts)) : nlohmann::ordered_json(nullptr)}};
  } else if (cmd == "logs.history") {
    const int64_t limit = IntArg(r, "limit", 0, 1000000).value_or(100);
    const int64_t after = IntArg(r, "after_seq", 0, INT64_MAX).value_or(0);
    const std::string service = target_.Identity().value("service", "streamgate");
    nlohmann::ordered_json records = nlohmann::ordered_json::array();
    // Take everything after `after`, then keep the last `limit` of it.
    auto all = target_.Logs().Ring().Last(0);
    std::vector<const log::Record*> picked;
    for (const auto& record : all) {
      if (record.seq > static_cast<uint64_t>(after)) picked.push_back(&record);
    }
    // At most the newest 100000 records in one reply (about 20 MiB), whatever the ring holds: a
    // reply must fit the client's frame limit.
    constexpr size_t kMaxRecords = 100000;
    const size_t want = limit > 0 ? std::min(static_cast<size_t>(limit), kMaxRecords) : kMaxRecords;
    const size_t skip = picked.size() > want ? picked.size() - want : 0;
    for (size_t i = skip; i < picked.size(); ++i)
      records.push_back(log::ToJson(*picked[i], service));
    result = {{"records", records},
              {"next_seq", target_.Logs().Ring().NextSeq()},
              {"truncated", limit == 0 && skip > 0}};
  } else if (cmd == "logs.stream") {
    const auto level = LevelArg(r, "level", false, spdlog::level::trace);
    result = {{"endpoint", target_.StreamLogs(level)},
              {"next_seq", target_.Logs().Ring().NextSeq()}};
  } else if (cmd == "services.list") {
    result = {{"services", target_.Services()}};
  } else if (cmd == "shutdown") {
    target_.Shutdown();
    result = {{"stopping", true}};
  } else {
    // The command table has a command this dispatcher does not: a bug the drift test catches.
    throw Error{ErrorCode::kInternal, fmt::format("command '{}' has no handler", cmd)};
  }
  return result;
}

}  // namespace sg::control
