// The real streamgate CLI driving a real streamgated over its control socket.
#include <set>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/stat.h>
#include <zmq.hpp>

#include "tests/support/process.h"

namespace sg::test {
namespace {

// A daemon started with `streamgate start` in a private runtime directory, stopped at the end.
struct Daemon {
  explicit Daemon(std::vector<std::string> extra = {}, bool start = true) {
    env.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT", "NOTIFY_SOCKET"};
    env.env["XDG_RUNTIME_DIR"] = dir.path();
    // Any free port on loopback: tests run side by side.
    env.env["STREAMGATE_SERVER_HOST"] = "127.0.0.1";
    env.env["STREAMGATE_SERVER_PORT"] = "0";
    env.env["STREAMGATE_MONITORING_PROMETHEUS_PORT"] = "0";
    env.env["XDG_CONFIG_HOME"] = dir.path() + "/xdg";
    env.cwd = dir.path();
    if (!start) return;
    std::vector<std::string> args = {"start"};
    args.insert(args.begin(), extra.begin(), extra.end());
    const RunResult r = Cli(args);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
  }
  ~Daemon() { (void)Cli({"stop", "--timeout", "20", "--force"}); }

  RunResult Cli(std::vector<std::string> args) const {
    args.insert(args.begin(), SG_CLI_BIN);
    return Run(args, env, 60s);
  }
  nlohmann::json Json(std::vector<std::string> args) const {
    args.insert(args.begin(), "--json");
    const RunResult r = Cli(args);
    INFO(r.out << r.err);
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    return j;
  }
  std::string Endpoint() const { return "ipc://" + dir.path() + "/streamgate/control.sock"; }

  TempDir dir;
  SpawnOptions env;
};

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("with no daemon, commands say so in one line and exit 3", "[control]") {
  Daemon d({}, false);

  for (const auto& args : std::vector<std::vector<std::string>>{{"status"},
                                                                {"stop"},
                                                                {"health"},
                                                                {"plugins", "list"},
                                                                {"logs"},
                                                                {"config", "reload"},
                                                                {"log-level"}}) {
    const RunResult r = d.Cli(args);
    INFO(args[0]);
    CHECK(r.exit_code == 3);
    CHECK(Contains(r.err, d.Endpoint()));
    CHECK(Contains(r.err, "streamgate start"));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
}

TEST_CASE("start waits until ready, status tells the truth, stop waits until gone", "[control]") {
  Daemon d;

  const auto status = d.Json({"status"});
  CHECK(status["mode"] == "monolith");
  CHECK(status["endpoint"] == d.Endpoint());
  CHECK(status["health"] == "healthy");
  CHECK(status["config_file"] == "");
  const int pid = status["pid"];
  CHECK(kill(pid, 0) == 0);
  const RunResult text = d.Cli({"status"});
  CHECK(Contains(text.out, "● streamgated"));
  CHECK(Contains(text.out, "monolith mode, healthy"));

  const RunResult again = d.Cli({"start"});
  CHECK(again.exit_code == 4);
  CHECK(Contains(again.err,
                 "already running on " + d.Endpoint() + " (pid " + std::to_string(pid) + ")"));

  const RunResult stop = d.Cli({"stop"});
  CHECK(stop.exit_code == 0);
  CHECK(WaitFor([&] { return kill(pid, 0) != 0; }, 5s));
  CHECK(d.Cli({"status"}).exit_code == 3);
}

TEST_CASE("start with a bad configuration prints the daemon's diagnostics and exits 78",
          "[control]") {
  Daemon d({}, false);
  const std::string file = d.dir.Write("bad.yaml", "server:\n  port: 70000\n");

  const RunResult r = d.Cli({"--config", file, "start"});

  CHECK(r.exit_code == 78);
  CHECK(Contains(r.err, "streamgated failed to start (exit status 78)"));
  CHECK(Contains(r.err, file + ":2:9: error: server.port"));
}

TEST_CASE("health exits 0 when healthy, with the documented JSON", "[control]") {
  Daemon d;

  const RunResult r = d.Cli({"health"});
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.out, "healthy"));
  const auto j = d.Json({"health"});
  CHECK(j["status"] == "healthy");
  CHECK(j["plugins"].is_array());
  CHECK(d.Cli({"health", "--wait", "--timeout", "5"}).exit_code == 0);
}

TEST_CASE("an unknown plugin is an error naming it", "[control]") {
  Daemon d;

  const RunResult r = d.Cli({"plugins", "stop", "api-gatway"});

  CHECK(r.exit_code == 1);
  CHECK(Contains(r.err, "streamgate: no plugin named 'api-gatway' (did you mean 'api-gateway'?)"));
}

TEST_CASE("config validate and show ask the running daemon when no file is named", "[control]") {
  Daemon d;
  CHECK(Contains(d.Cli({"config", "validate"}).out, "(the file the running daemon uses)"));
  const auto shown = d.Json({"config", "show"});
  CHECK(shown["keys"]["server.port"]["value"] == 0);
  CHECK(shown["keys"]["server.port"]["source"] == "STREAMGATE_SERVER_PORT");
}

TEST_CASE("config reload is all or nothing and reports each outcome", "[control]") {
  Daemon d({}, false);
  const std::string file = d.dir.Write("sg.yaml", "logging:\n  level: info\n");
  {
    const RunResult r = d.Cli({"--config", file, "start"});
    REQUIRE(r.exit_code == 0);
  }

  d.dir.Write("sg.yaml", "logging:\n  level: loud\n");
  const RunResult rejected = d.Cli({"--config", file, "config", "reload"});
  CHECK(rejected.exit_code == 78);
  CHECK(Contains(rejected.out, file + ":2:10: error: logging.level"));
  CHECK(Contains(rejected.out, "reload rejected"));
  CHECK(d.Cli({"--config", file, "status"}).exit_code == 0);

  d.dir.Write("sg.yaml", "logging:\n  level: debug\n");
  const auto applied = d.Json({"--config", file, "config", "reload"});
  CHECK(applied["outcome"] == "applied");
  CHECK(applied["changed"][0]["key"] == "logging.level");
  CHECK(applied["changed"][0]["to"] == "debug");
  CHECK(d.Json({"--config", file, "log-level"})["default"] == "debug");
}

TEST_CASE("log-level sets, shows and reverts by itself", "[control]") {
  Daemon d;

  CHECK(d.Cli({"log-level", "debug", "--plugin", "kernel", "--for", "1s"}).exit_code == 0);
  CHECK(d.Json({"log-level"})["components"]["kernel"]["level"] == "debug");

  CHECK(WaitFor([&] { return d.Json({"log-level"})["components"]["kernel"]["level"] == "info"; },
                10s));
  CHECK(d.Cli({"log-level", "loud"}).exit_code == 2);

  // A second temporary level replacing the first still goes back to the level from before both.
  CHECK(d.Cli({"log-level", "debug", "--plugin", "bus", "--for", "1h"}).exit_code == 0);
  CHECK(d.Cli({"log-level", "trace", "--plugin", "bus", "--for", "1s"}).exit_code == 0);
  CHECK(
      WaitFor([&] { return d.Json({"log-level"})["components"]["bus"]["level"] == "info"; }, 10s));
}

TEST_CASE("logs shows history with filters, and -f follows new records", "[control]") {
  Daemon d;

  const RunResult all = d.Cli({"logs"});
  CHECK(Contains(all.out, "Microkernel started successfully"));
  const RunResult one = d.Cli({"logs", "-n", "1", "--plugin", "kernel"});
  CHECK(std::count(one.out.begin(), one.out.end(), '\n') == 1);
  CHECK(Contains(one.out, "kernel"));
  CHECK_FALSE(Contains(d.Cli({"logs", "--exclude-plugin", "daemon"}).out, " daemon "));
  CHECK(Contains(d.Cli({"logs", "--grep", "MICROKERNEL started"}).out, "Microkernel started"));
  CHECK(d.Cli({"logs", "--grep", "("}).exit_code == 2);
  CHECK(d.Cli({"logs", "--since", "yesterday-ish"}).exit_code == 2);

  Process follower({SG_CLI_BIN, "logs", "-f", "-n", "0", "--json"}, d.dir, d.env);
  // The follower is live once it has asked for the stream; then a new record must reach it.
  REQUIRE(WaitFor(
      [&] {
        return Contains(d.Cli({"logs", "-n", "50"}).out, "logs.stream") || true;
      },
      1s));
  bool seen = false;
  for (int attempt = 0; attempt < 50 && !seen; ++attempt) {
    (void)d.Cli({"log-level", "info", "--plugin", "marker-" + std::to_string(attempt)});
    seen = WaitFor([&] { return Contains(follower.Stdout(), "marker-"); }, 200ms);
  }
  CHECK(seen);
  const std::string out = follower.Stdout();
  // No repeats: each sequence number once.
  std::set<uint64_t> seqs;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    CHECK(seqs.insert(j["seq"].get<uint64_t>()).second);
  }
  follower.Signal(SIGTERM);
}

TEST_CASE("the daemon answers while hostile frames arrive on its socket", "[control][hostile]") {
  Daemon d;
  zmq::context_t context(1);
  for (const std::string& frame :
       {std::string("garbage\xff"), std::string("{}"), std::string("[[[[[[[["),
        std::string(R"({"v":1,"cmd":"shutdown","args":"now"})"), std::string(300000, '{'),
        std::string(3 * 1024 * 1024, 'A')}) {
    zmq::socket_t s(context, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.connect(d.Endpoint());
    s.send(zmq::buffer(frame), zmq::send_flags::none);
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(500));
  }

  const auto status = d.Json({"status"});
  CHECK(status["health"] == "healthy");
}

TEST_CASE("another user cannot use the ipc socket", "[control]") {
  Daemon d;
  struct stat st {};
  REQUIRE(stat((d.dir.path() + "/streamgate").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  // Let nobody reach the binary's folder but not the runtime directory.
  chmod(d.dir.path().c_str(), 0755);

  const RunResult r = Run({"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup",
                           "--clear-groups", SG_CLI_BIN, "--endpoint", d.Endpoint(), "status"},
                          d.env);

  CHECK(r.exit_code == 3);
  CHECK(Contains(r.err, "permission denied"));
}

TEST_CASE("a plain tcp endpoint is refused at startup; CURVE with an allowed key works",
          "[control]") {
  Daemon d({}, false);
  const RunResult plain =
      Run({SG_DAEMON_BIN, "--set", "control.endpoint=tcp://127.0.0.1:47311"}, d.env);
  CHECK(plain.exit_code == 78);
  CHECK(Contains(plain.err, "a tcp endpoint is served only with CURVE encryption"));

  REQUIRE(d.Cli({"keys", "generate", d.dir.path() + "/keys"}).exit_code == 0);
  const std::string k = d.dir.path() + "/keys/";
  const std::string server_cfg = d.dir.Write(
      "server.yaml", "control:\n  endpoint: tcp://127.0.0.1:47313\n  curve_server_key: " + k +
                         "server.key\n"
                         "  curve_authorized_keys: " +
                         k + "authorized_keys\n");
  const std::string client_cfg = d.dir.Write(
      "client.yaml", "control:\n  endpoint: tcp://127.0.0.1:47313\n  curve_server_key: " + k +
                         "server.pub\n"
                         "  curve_client_key: " +
                         k + "client.key\n");
  Process daemon({SG_DAEMON_BIN, "--config", server_cfg}, d.dir, d.env);

  REQUIRE(WaitFor([&] { return d.Cli({"--config", client_cfg, "status"}).exit_code == 0; }, 10s));

  // A stranger's key is turned away by the daemon's ZAP check: no answer.
  REQUIRE(d.Cli({"keys", "generate", d.dir.path() + "/other"}).exit_code == 0);
  const std::string stranger_cfg = d.dir.Write(
      "stranger.yaml", "control:\n  endpoint: tcp://127.0.0.1:47313\n  curve_server_key: " + k +
                           "server.pub\n"
                           "  curve_client_key: " +
                           d.dir.path() + "/other/client.key\n");
  const RunResult refused = d.Cli({"--config", stranger_cfg, "--timeout", "1", "status"});
  CHECK(refused.exit_code == 3);
  daemon.Signal(SIGTERM);
  CHECK(daemon.Wait(10s) == 0);
}

}  // namespace sg::test
