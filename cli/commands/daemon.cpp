// streamgate start, stop and status.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/commands/commands.h"
#include "cli/output.h"
#include "common/exit_codes.h"
#include "common/paths.h"
#include "config/schema.h"

namespace sg::cli {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct StartArgs {
  std::string mode;
  std::string service;
  std::string log_file;
  bool foreground = false;
};

struct StopArgs {
  double timeout_seconds = 45;
  bool force = false;
};

// streamgated next to this binary, else on PATH.
std::string FindDaemon() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto beside = self.parent_path() / "streamgated";
    if (access(beside.c_str(), X_OK) == 0) return beside.string();
  }
  return "streamgated";
}

std::string Tail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += "  " + l + "\n";
  return out;
}

// Whether pid is gone (or a zombie nobody reaped yet).
bool ProcessGone(pid_t pid) {
  if (kill(pid, 0) != 0) return errno == ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'Z';
}

// Where a daemon listens, from its status reply, with the ports it bound: {"http",
// "http://127.0.0.1:8080"}, {"metrics", "http://127.0.0.1:9100/metrics"}.
std::vector<std::pair<std::string, std::string>> ListenersOf(const nlohmann::ordered_json& status) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto listeners = status.value("listeners", nlohmann::ordered_json::object());
  for (const auto& [name, url] : listeners.items()) {
    if (url.is_string()) out.emplace_back(name, url.get<std::string>());
  }
  return out;
}

// A quick ping, for "is a daemon there?" questions.
std::optional<nlohmann::ordered_json> Probe(const ClientSettings& base,
                                            std::chrono::milliseconds timeout,
                                            control::Command cmd = control::Command::kStatus) {
  ClientSettings settings = base;
  settings.timeout = timeout;
  auto client = ControlClient::Connect(settings);
  if (!client) return std::nullopt;
  auto result = (*client)->Call(cmd);
  if (!result) return std::nullopt;
  return std::move(result).value();
}

void StartOne(Context& context, const StartArgs& args) {
  const ClientSettings settings = context.Settings();
  // ping answers at once; status waits for every plugin's health check.
  if (Probe(settings, 1s, control::Command::kPing)) {
    auto running = Probe(settings, context.Timeout());
    *context.err << fmt::format("streamgate: streamgated is already running on {} (pid {})\n",
                                settings.endpoint, running ? running->value("pid", 0) : 0);
    context.exit_code = kExitAlreadyRunning;
    return;
  }
  std::vector<std::string> argv = {FindDaemon()};
  if (!context.config_path.empty()) argv.insert(argv.end(), {"--config", context.config_path});
  if (!args.mode.empty()) argv.insert(argv.end(), {"--mode", args.mode});
  if (!args.service.empty()) argv.insert(argv.end(), {"--service", args.service});
  // An endpoint named on the command line or in STREAMGATE_ENDPOINT is where we will look for the
  // daemon, so it is where the daemon must listen.
  const char* env_endpoint = std::getenv("STREAMGATE_ENDPOINT");
  if (!context.endpoint.empty() || (env_endpoint != nullptr && *env_endpoint != '\0')) {
    argv.insert(argv.end(), {"--set", "control.endpoint=" + settings.endpoint});
  }
  std::vector<char*> raw;
  raw.reserve(argv.size() + 1);
  for (auto& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);

  if (args.foreground) {
    execvp(raw[0], raw.data());
    context.Report(
        Fail(ErrorCode::kIo, fmt::format("cannot run {}: {}", argv[0], std::strerror(errno))));
    return;
  }
  std::string log_file = args.log_file;
  if (log_file.empty()) {
    if (auto made = EnsurePrivateDir(RuntimeDir()); !made) {
      context.Report(made.error());
      return;
    }
    log_file = RuntimeDir() + (args.service.empty() ? "/streamgated.log"
                                                    : "/streamgated-" + args.service + ".log");
  }
  const int log_fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    context.Report(
        Fail(ErrorCode::kIo, fmt::format("log file {}: {}", log_file, std::strerror(errno))));
    return;
  }
  const off_t log_start = lseek(log_fd, 0, SEEK_END);
  const pid_t child = fork();
  if (child < 0) {
    close(log_fd);
    context.Report(Fail(ErrorCode::kIo, fmt::format("fork: {}", std::strerror(errno))));
    return;
  }
  if (child == 0) {
    // The daemon: its own session, no terminal, output to the log file.
    setsid();
    const int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execvp(raw[0], raw.data());
    dprintf(log_fd, "streamgate: cannot run %s: %s\n", raw[0], std::strerror(errno));
    _exit(127);
  }
  close(log_fd);
  // Ready means the control socket answers; failed means the process ended first.
  const auto deadline = Clock::now() + std::max(context.Timeout(), std::chrono::milliseconds(30s));
  for (;;) {
    int status = 0;
    if (waitpid(child, &status, WNOHANG) == child) {
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      std::ifstream in(log_file);
      in.seekg(log_start);
      std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      *context.err << fmt::format("streamgate: streamgated failed to start (exit status {}):\n",
                                  code);
      // Its own words: the diagnostics of a bad configuration, or the startup error.
      std::istringstream lines(output);
      std::string line;
      while (std::getline(lines, line)) *context.err << "  " << line << '\n';
      context.exit_code = code == kExitConfig || code == kExitNotBuilt ? code : kExitFailure;
      return;
    }
    if (Probe(settings, 500ms, control::Command::kPing)) {
      auto status_reply = Probe(settings, context.Timeout());
      if (!status_reply) status_reply = nlohmann::ordered_json::object();
      if (context.json) {
        context.PrintJson(
            {{"pid", child},
             {"endpoint", settings.endpoint},
             {"log_file", log_file},
             {"mode", status_reply->value("mode", "")},
             {"plugins", status_reply->value("plugins", nlohmann::ordered_json::array()).size()},
             {"listeners", status_reply->value("listeners", nlohmann::ordered_json::object())}});
      } else {
        *context.out << fmt::format(
            "streamgated started: pid {}, {} mode, {} plugins\n", child,
            status_reply->value("mode", ""),
            status_reply->value("plugins", nlohmann::ordered_json::array()).size());
        *context.out << fmt::format("  endpoint: {}\n  logs:     {}\n", settings.endpoint,
                                    log_file);
        for (const auto& [name, url] : ListenersOf(*status_reply)) {
          *context.out << fmt::format("  {:<9} {}\n", name + ":", url);
        }
      }
      context.exit_code = kExitOk;
      return;
    }
    if (Clock::now() >= deadline) {
      context.Report(
          Fail(ErrorCode::kTimeout,
               fmt::format("streamgated (pid {}) did not become ready on {} in time; its "
                           "log {} ends with:\n{}",
                           child, settings.endpoint, log_file, Tail(log_file, 10))));
      return;
    }
    std::this_thread::sleep_for(20ms);  // between readiness probes
  }
}

void StopOne(Context& context, const StopArgs& args) {
  auto status = context.Call(control::Command::kStatus);
  if (!status) return;
  const pid_t pid = status->value("pid", 0);
  const std::string endpoint = status->value("endpoint", "");
  const bool local = endpoint.starts_with("ipc://");
  if (!context.Call(control::Command::kShutdown)) return;
  if (!context.json)
    *context.out << fmt::format("stopping streamgated (pid {})", pid) << std::flush;
  const ClientSettings settings = context.Settings();
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(args.timeout_seconds * 1000));
  std::set<std::string> announced;
  auto last_probe = Clock::now() - 1s;
  for (;;) {
    const bool gone = local ? ProcessGone(pid) : !Probe(settings, 500ms, control::Command::kPing);
    if (gone) {
      if (context.json) {
        context.PrintJson({{"pid", pid}, {"stopped", true}, {"killed", false}});
      } else {
        *context.out << "\nstopped\n";
      }
      context.exit_code = kExitOk;
      return;
    }
    if (Clock::now() - last_probe >= 500ms) {
      last_probe = Clock::now();
      if (auto now = Probe(settings, 300ms)) {
        for (const auto& p : now->value("plugins", nlohmann::ordered_json::array())) {
          const std::string name = p.value("name", "");
          if (p.value("state", "") == "stopping" && announced.insert(name).second &&
              !context.json) {
            *context.out << fmt::format("\n  waiting for {}", name) << std::flush;
          }
        }
      }
    }
    if (Clock::now() >= deadline) {
      if (args.force && local) {
        kill(pid, SIGKILL);
        if (context.json) {
          context.PrintJson({{"pid", pid}, {"stopped", true}, {"killed", true}});
        } else {
          *context.out << fmt::format("\nkilled streamgated (pid {}) after {}s\n", pid,
                                      args.timeout_seconds);
        }
        context.exit_code = kExitOk;
        return;
      }
      *context.out << '\n';
      context.Report(
          Fail(ErrorCode::kTimeout,
               fmt::format("streamgated (pid {}) is still stopping after {}s; wait longer "
                           "with --timeout, or kill it with --force",
                           pid, args.timeout_seconds)));
      return;
    }
    std::this_thread::sleep_for(20ms);  // between checks that the process is gone
  }
}

// Whether the command names one daemon, or should cover a whole microservice deployment.
bool NamesOneDaemon(const Context& context) {
  const char* env = std::getenv("STREAMGATE_ENDPOINT");
  return !context.endpoint.empty() || !context.service.empty() || (env != nullptr && *env != '\0');
}

// `start --mode microservice` with no service: every service the build has, each its own process
// with its own control socket (the seed's docker-compose, without Docker).
void Start(Context& context, const StartArgs& args) {
  if (args.mode != "microservice" || !args.service.empty() || NamesOneDaemon(context)) {
    StartArgs one = args;
    if (one.service.empty()) one.service = context.service;
    // One service is one process of a microservice deployment, with its own socket.
    if (!one.service.empty() && one.mode.empty()) one.mode = "microservice";
    Context sub = context;
    sub.service = one.service;
    StartOne(sub, one);
    context.exit_code = sub.exit_code;
    return;
  }
  std::vector<std::vector<std::string>> rows = {{"SERVICE", "RESULT", "ENDPOINT"}};
  nlohmann::ordered_json json = nlohmann::ordered_json::array();
  int started = 0;
  int failed = 0;
  for (const auto& name : config::ServiceNames()) {
    Context sub = context;
    std::ostringstream out;
    std::ostringstream err;
    sub.out = &out;
    sub.err = &err;
    sub.json = false;
    sub.service = name;
    StartArgs one = args;
    one.service = name;
    StartOne(sub, one);
    std::string result = "started";
    if (sub.exit_code == kExitNotBuilt) {
      result = "not built yet";
    } else if (sub.exit_code != kExitOk) {
      result = "failed";
      ++failed;
      *context.err << "streamgate: " << name << ":\n" << err.str();
    } else {
      ++started;
    }
    rows.push_back({name, result, result == "started" ? sub.Settings().endpoint : "-"});
    json.push_back({{"service", name}, {"result", result}, {"exit_code", sub.exit_code}});
  }
  if (context.json) {
    context.PrintJson({{"services", json}});
  } else {
    PrintTable(*context.out, rows);
  }
  context.exit_code = failed > 0 || started == 0 ? kExitFailure : kExitOk;
}

// `stop` with no daemon named, where no monolith runs: every service of the deployment.
void Stop(Context& context, const StopArgs& args) {
  const auto services = Context::ServiceEndpoints();
  const std::string monolith = ControlEndpoint("");
  if (NamesOneDaemon(context) || services.empty() ||
      access(monolith.substr(6).c_str(), F_OK) == 0) {
    return StopOne(context, args);
  }
  int failed = 0;
  for (const auto& [name, endpoint] : services) {
    Context sub = context;
    sub.service = name;
    if (!context.json) *context.out << name << ": ";
    StopOne(sub, args);
    if (sub.exit_code != kExitOk) ++failed;
  }
  context.exit_code = failed > 0 ? kExitFailure : kExitOk;
}

void Status(Context& context) {
  auto status = context.Call(control::Command::kStatus);
  if (!status) return;
  if (context.json) {
    context.PrintJson(*status);
    return;
  }
  const std::string health = status->value("health", "unknown");
  const std::string glyph = health == "healthy" ? "●" : health == "degraded" ? "◌" : "×";
  auto& out = *context.out;
  out << fmt::format("{} streamgated {} - {} mode, {}\n", glyph, status->value("version", ""),
                     status->value("mode", ""), health);
  std::vector<std::vector<std::string>> rows = {
      {"PID:", std::to_string(status->value("pid", 0))},
      {"Uptime:",
       fmt::format("{} (since {})", HumanDuration(status->value("uptime_seconds", int64_t{0})),
                   status->value("started_at", ""))},
      {"Config:", status->value("config_file", "").empty() ? std::string("built-in defaults")
                                                           : status->value("config_file", "")},
      {"Endpoint:", status->value("endpoint", "")},
      {"Logs:", status->value("log_endpoint", "")},
  };
  for (const auto& [name, url] : ListenersOf(*status)) {
    const std::string label = name == "http"      ? "HTTP:"
                              : name == "metrics" ? "Metrics:"
                                                  : name + ":";
    rows.push_back({label, url});
  }
  PrintTable(out, rows, "   ");
  const auto& plugins = status->value("plugins", nlohmann::ordered_json::array());
  if (plugins.empty()) {
    out << "   Plugins: none in this build\n";
    return;
  }
  out << "   Plugins:\n";
  std::vector<std::vector<std::string>> table = {
      {"", "NAME", "STATE", "HEALTH", "UPTIME", "RESTARTS", "NOTE"}};
  for (const auto& p : plugins) {
    const std::string state = p.value("state", "");
    std::string note = p.value("reason", "");
    if (note.empty()) note = p.value("health_message", "");
    table.push_back(
        {StateGlyph(state), p.value("name", ""), state, p.value("health", ""),
         state == "running" ? HumanDuration(p.value("uptime_seconds", int64_t{0})) : "-",
         std::to_string(p.value("restarts", 0)), note});
  }
  PrintTable(out, table, "     ");
}

}  // namespace

void AddDaemonCommands(CLI::App& app, Context& context) {
  auto start_args = std::make_shared<StartArgs>();
  auto* start =
      app.add_subcommand("start", "Start streamgated in the background and wait until it is ready");
  start->add_option("--mode", start_args->mode, "monolith or microservice")
      ->check(CLI::IsMember({"monolith", "microservice"}));
  start->add_option("--service", start_args->service, "In microservice mode, the service to run");
  start->add_option(
      "--log-file", start_args->log_file,
      "Where the daemon's output goes (default: streamgated.log in the runtime directory)");
  start->add_flag("--foreground", start_args->foreground,
                  "Run in this terminal instead of detaching");
  start->callback([&context, start_args] { Start(context, *start_args); });

  auto stop_args = std::make_shared<StopArgs>();
  auto* stop = app.add_subcommand("stop", "Stop the daemon gracefully and wait until it is gone");
  stop->add_option("--timeout", stop_args->timeout_seconds,
                   "Seconds to wait for it to stop (default 45)")
      ->check(CLI::PositiveNumber);
  stop->add_flag("--force", stop_args->force, "Kill it if it has not stopped in time");
  stop->callback([&context, stop_args] { Stop(context, *stop_args); });

  auto* status = app.add_subcommand("status", "Show the daemon and a line per plugin");
  status->callback([&context] { Status(context); });
}

}  // namespace sg::cli
