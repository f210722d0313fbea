// streamgate logs and streamgate log-level.
#include <ctime>
#include <memory>
#include <ostream>
#include <regex>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <zmq.hpp>

#include "cli/commands/commands.h"
#include "common/curve_keys.h"
#include "common/exit_codes.h"
#include "common/logging.h"

namespace sg::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct LogsArgs {
  int lines = -1;  // -n; -1 for the default (all, or 10 with -f)
  bool follow = false;
  std::string level;
  std::vector<std::string> plugins;
  std::vector<std::string> excluded;
  std::string grep;
  std::string since;
};

struct LevelArgs {
  std::string level;
  std::string plugin;
  std::string for_duration;
};

// "90", "90s", "10m", "2h", "1d" as seconds; nullopt when it is none of those.
std::optional<int64_t> ParseDuration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  size_t used = 0;
  int64_t n = 0;
  try {
    n = std::stoll(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const std::string unit = text.substr(used);
  if (n < 0) return std::nullopt;
  if (unit.empty() || unit == "s") return n;
  if (unit == "m") return n * 60;
  if (unit == "h") return n * 3600;
  if (unit == "d") return n * 86400;
  return std::nullopt;
}

class Filter {
 public:
  static std::optional<Filter> Make(Context& context, const LogsArgs& args) {
    Filter f;
    f.args_ = args;
    if (!args.level.empty()) {
      auto level = log::ParseLevel(args.level);
      if (!level) {
        context.Report(
            Fail(ErrorCode::kInvalidArgument,
                 fmt::format("--level {}: use trace, debug, info, warn, error or critical",
                             args.level)));
        context.exit_code = 2;
        return std::nullopt;
      }
      f.level_ = *level;
    }
    if (!args.grep.empty()) {
      try {
        f.grep_ = std::regex(args.grep, std::regex::ECMAScript | std::regex::icase);
      } catch (const std::regex_error& e) {
        context.Report(
            Fail(ErrorCode::kInvalidArgument, fmt::format("--grep {}: {}", args.grep, e.what())));
        context.exit_code = 2;
        return std::nullopt;
      }
    }
    if (!args.since.empty()) {
      if (auto seconds = ParseDuration(args.since)) {
        const auto t = std::chrono::system_clock::now() - std::chrono::seconds(*seconds);
        f.since_ = fmt::format("{:%Y-%m-%dT%H:%M:%S}",
                               fmt::gmtime(std::chrono::system_clock::to_time_t(t)));
      } else if (args.since.size() >= 10 && args.since[4] == '-') {
        f.since_ = args.since;  // ISO 8601, compared as text: the records' times are UTC ISO too
      } else {
        context.Report(
            Fail(ErrorCode::kInvalidArgument,
                 fmt::format("--since {}: use a duration ago (30s, 10m, 2h, 1d) or a UTC time "
                             "such as 2026-11-27T14:00:00",
                             args.since)));
        context.exit_code = 2;
        return std::nullopt;
      }
    }
    return f;
  }

  bool Keep(const nlohmann::ordered_json& r) const {
    if (auto level = log::ParseLevel(r.value("level", "info")); level && *level < level_)
      return false;
    const std::string component = r.value("component", "");
    if (!args_.plugins.empty() &&
        std::find(args_.plugins.begin(), args_.plugins.end(), component) == args_.plugins.end()) {
      return false;
    }
    if (std::find(args_.excluded.begin(), args_.excluded.end(), component) !=
        args_.excluded.end()) {
      return false;
    }
    if (!since_.empty() && r.value("ts", "") < since_) return false;
    if (grep_ && !std::regex_search(r.value("msg", "") + " " + r.dump(), *grep_)) return false;
    return true;
  }

 private:
  LogsArgs args_;
  spdlog::level::level_enum level_ = spdlog::level::trace;
  std::optional<std::regex> grep_;
  std::string since_;
};

void Print(Context& context, const nlohmann::ordered_json& r) {
  if (context.json) {
    *context.out << r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    return;
  }
  std::string line = fmt::format("{} {:<5} {:<12} {}", r.value("ts", ""), r.value("level", ""),
                                 r.value("component", ""), r.value("msg", ""));
  for (const auto& [key, value] : r.items()) {
    if (key == "ts" || key == "level" || key == "component" || key == "msg" || key == "seq" ||
        key == "service") {
      continue;
    }
    line += " " + key + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
  }
  *context.out << line << '\n';
}

void PrintLast(Context& context, const Filter& filter, const nlohmann::ordered_json& records,
               int lines, uint64_t before_seq) {
  std::vector<const nlohmann::ordered_json*> kept;
  for (const auto& r : records) {
    if (before_seq != 0 && r.value("seq", uint64_t{0}) >= before_seq) continue;
    if (filter.Keep(r)) kept.push_back(&r);
  }
  const size_t skip = lines >= 0 && kept.size() > static_cast<size_t>(lines)
                          ? kept.size() - static_cast<size_t>(lines)
                          : 0;
  for (size_t i = skip; i < kept.size(); ++i) Print(context, *kept[i]);
  context.out->flush();
}

void Logs(Context& context, const LogsArgs& args) {
  auto filter = Filter::Make(context, args);
  if (!filter) return;
  if (!args.follow) {
    auto history = context.Call(control::Command::kLogsHistory, {{"limit", 0}});
    if (!history) return;
    PrintLast(context, *filter, history->value("records", nlohmann::ordered_json::array()),
              args.lines, 0);
    return;
  }
  const std::string level = args.level.empty() ? "trace" : args.level;
  auto stream = context.Call(control::Command::kLogsStream, {{"level", level}});
  if (!stream) return;
  const ClientSettings settings = context.Settings();
  zmq::context_t zmq_context(1);
  zmq::socket_t sub(zmq_context, zmq::socket_type::sub);
  try {
    sub.set(zmq::sockopt::linger, 0);
    sub.set(zmq::sockopt::rcvhwm, 100000);
    sub.set(zmq::sockopt::subscribe, "");
    const std::string endpoint = stream->value("endpoint", "");
    if (endpoint.starts_with("tcp://")) {
      // The log stream is served with the same CURVE keys as the control socket.
      auto server = ReadKeyFile(settings.curve_server_key);
      auto client = ReadKeyFile(settings.curve_client_key);
      if (!server || !client) {
        context.Report(server ? client.error() : server.error());
        return;
      }
      sub.set(zmq::sockopt::curve_serverkey, server->public_key);
      sub.set(zmq::sockopt::curve_publickey, client->public_key);
      sub.set(zmq::sockopt::curve_secretkey, client->secret_key);
    }
    sub.connect(endpoint);
  } catch (const zmq::error_t& e) {
    context.Report(Fail(ErrorCode::kUnavailable, fmt::format("log stream: {}", e.what())));
    return;
  }
  // Subscribed once the daemon says hello; records from then on arrive live, so history up to
  // that point joins them with no gap and no repeat.
  uint64_t live_from = 0;
  std::deque<nlohmann::ordered_json> early;
  const auto hello_deadline = Clock::now() + context.Timeout();
  while (live_from == 0) {
    zmq::message_t m;
    zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(hello_deadline - Clock::now());
    if (left.count() <= 0 || zmq::poll(&item, 1, left) == 0) {
      context.Report(Fail(ErrorCode::kUnavailable, "the daemon's log stream did not answer"));
      return;
    }
    if (!sub.recv(m, zmq::recv_flags::dontwait)) continue;
    auto j = nlohmann::ordered_json::parse(m.to_string_view(), nullptr, false);
    if (j.is_discarded()) continue;
    if (j.value("type", "") == "hello") {
      live_from = j.value("next_seq", uint64_t{1});
    } else if (j.contains("seq")) {
      early.push_back(std::move(j));
    }
  }
  auto history = context.Call(control::Command::kLogsHistory, {{"limit", 0}});
  if (!history) return;
  PrintLast(context, *filter, history->value("records", nlohmann::ordered_json::array()),
            args.lines >= 0 ? args.lines : 10, live_from);
  uint64_t expected = live_from;
  auto handle = [&](const nlohmann::ordered_json& j) {
    if (j.value("type", "") == "dropped") {
      *context.err << fmt::format("-- the daemon dropped {} records for slow readers --\n",
                                  j.value("count", 0));
      return;
    }
    if (j.value("type", "") == "hello") {
      // A hello is sent to every reader when one joins. One that starts below what we have seen
      // comes from a new daemon (restarted): its sequence starts again.
      const uint64_t next = j.value("next_seq", uint64_t{0});
      if (next < expected) {
        *context.err << "-- the daemon restarted --\n";
        expected = next;
      }
      return;
    }
    if (!j.contains("seq")) return;
    const uint64_t seq = j.value("seq", uint64_t{0});
    if (seq < expected) return;  // already shown from history
    if (seq > expected) *context.err << fmt::format("-- missed {} records --\n", seq - expected);
    expected = seq + 1;
    if (filter->Keep(j)) {
      Print(context, j);
      context.out->flush();
    }
  };
  for (auto& j : early) handle(j);
  auto renew_at = Clock::now() + std::chrono::seconds(10);
  for (;;) {
    zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(1000));
    zmq::message_t m;
    while (sub.recv(m, zmq::recv_flags::dontwait)) {
      auto j = nlohmann::ordered_json::parse(m.to_string_view(), nullptr, false);
      if (!j.is_discarded()) handle(j);
    }
    if (Clock::now() >= renew_at) {
      // Keeps our level registered, and notices a daemon that went away.
      auto client = ControlClient::Connect(settings);
      if (!client || !(*client)->Call(control::Command::kLogsStream, {{"level", level}})) {
        context.Report(Fail(ErrorCode::kUnavailable,
                            fmt::format("the daemon on {} went away", settings.endpoint)));
        return;
      }
      renew_at = Clock::now() + std::chrono::seconds(10);
    }
  }
}

void LogLevel(Context& context, const LevelArgs& args) {
  if (args.level.empty()) {
    auto result = context.Call(control::Command::kLogLevelGet);
    if (!result) return;
    if (context.json) {
      context.PrintJson(*result);
      return;
    }
    *context.out << "default: " << result->value("default", "") << '\n';
    const auto components = result->value("components", nlohmann::ordered_json::object());
    for (const auto& [name, info] : components.items()) {
      *context.out << fmt::format("  {:<14} {}{}\n", name, info.value("level", ""),
                                  info.value("own", false) ? " (own)" : "");
    }
    return;
  }
  nlohmann::ordered_json request = {{"level", args.level}};
  if (!args.plugin.empty()) request["component"] = args.plugin;
  if (!args.for_duration.empty()) {
    auto seconds = ParseDuration(args.for_duration);
    if (!seconds || *seconds == 0) {
      context.Report(
          Fail(ErrorCode::kInvalidArgument,
               fmt::format("--for {}: use a duration such as 90s, 10m or 2h", args.for_duration)));
      context.exit_code = 2;
      return;
    }
    request["for_seconds"] = *seconds;
  }
  auto result = context.Call(control::Command::kLogLevelSet, request);
  if (!result) return;
  if (context.json) {
    context.PrintJson(*result);
    return;
  }
  *context.out << fmt::format("log level of {} is {}", result->value("component", "*"),
                              result->value("level", ""));
  if (result->contains("reverts_at") && (*result)["reverts_at"].is_string()) {
    *context.out << fmt::format(" until {}", (*result)["reverts_at"].get<std::string>());
  }
  *context.out << '\n';
}

}  // namespace

void AddLogCommands(CLI::App& app, Context& context) {
  auto args = std::make_shared<LogsArgs>();
  auto* logs =
      app.add_subcommand("logs", "Show the daemon's recent log records, across all plugins");
  logs->add_option("-n,--lines", args->lines, "Show only the last N records (with -f, default 10)");
  logs->add_flag("-f,--follow", args->follow, "Keep printing new records as they come");
  logs->add_option("--level", args->level,
                   "Only records at this level or above; the daemon's own level is unchanged");
  logs->add_option("--plugin", args->plugins, "Only records of this component (repeatable)");
  logs->add_option("--exclude-plugin", args->excluded, "Leave out this component (repeatable)");
  logs->add_option("--grep", args->grep,
                   "Only records matching this regular expression (case-insensitive)");
  logs->add_option("--since", args->since,
                   "Only records newer than a duration ago (10m) or a UTC time");
  logs->callback([&context, args] { Logs(context, *args); });

  auto level_args = std::make_shared<LevelArgs>();
  auto* level = app.add_subcommand("log-level", "Show or set the daemon's log level");
  level->add_option("LEVEL", level_args->level, "trace, debug, info, warn, error, critical or off")
      ->check(
          CLI::IsMember({"trace", "debug", "info", "warn", "warning", "error", "critical", "off"}));
  level->add_option("--plugin", level_args->plugin, "Set it for this component only");
  level->add_option("--for", level_args->for_duration, "Revert after this long (90s, 10m, 2h)");
  level->callback([&context, level_args] { LogLevel(context, *level_args); });
}

}  // namespace sg::cli
