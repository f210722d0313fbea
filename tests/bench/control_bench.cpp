// Control-plane figures that hyperfine cannot take:
//  1. logs -f latency: from a control request that logs a record to that record printed by a
//     real `streamgate logs -f`.
//  2. a stalled log reader: ping round trips with and without a subscriber that never reads,
//     while the daemon logs a flood of records.
//
//   bench_control   (starts its own streamgated in a private runtime directory)
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <zmq.hpp>

#include "tests/support/bench_stats.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

using sg::test::Ms;
using sg::test::Percentile;

struct Client {
  explicit Client(zmq::context_t& c, const std::string& ep) : s(c, zmq::socket_type::dealer) {
    s.set(zmq::sockopt::linger, 0);
    s.connect(ep);
  }
  nlohmann::json Call(const std::string& cmd, nlohmann::json args = nlohmann::json::object()) {
    s.send(zmq::buffer(nlohmann::json{{"v", 1}, {"id", "b"}, {"cmd", cmd}, {"args", args}}.dump()),
           zmq::send_flags::none);
    zmq::message_t m;
    (void)s.recv(m);
    return nlohmann::json::parse(m.to_string());
  }
  zmq::socket_t s;
};

std::vector<double> PingTimes(Client& client, int n) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    client.Call("ping");
    out.push_back(Ms(Clock::now() - t0));
  }
  return out;
}

}  // namespace

int main() {
  sg::test::TempDir dir;
  sg::test::SpawnOptions env;
  env.env["XDG_RUNTIME_DIR"] = dir.path();
  env.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT"};
  const auto started = sg::test::Run({SG_CLI_BIN, "start"}, env);
  if (started.exit_code != 0) {
    std::fprintf(stderr, "cannot start the daemon: %s\n", started.err.c_str());
    return 1;
  }
  const std::string endpoint = "ipc://" + dir.path() + "/streamgate/control.sock";
  zmq::context_t context(1);
  Client client(context, endpoint);

  // 1. logs -f latency, through a pipe from the real CLI.
  setenv("XDG_RUNTIME_DIR", dir.path().c_str(), 1);
  FILE* follower = popen((std::string(SG_CLI_BIN) + " logs -f -n 0 --json").c_str(), "r");
  const int fd = fileno(follower);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  std::vector<double> latency;
  std::string buffer;
  for (int i = 0; i < 60; ++i) {
    const std::string marker = "mark" + std::to_string(i);
    const auto t0 = Clock::now();
    client.Call("log.level.set", {{"level", "info"}, {"component", marker}});
    const auto deadline = t0 + 2s;
    bool seen = false;
    while (!seen && Clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      poll(&p, 1, 100);
      char chunk[65536];
      ssize_t n = 0;
      while ((n = read(fd, chunk, sizeof chunk)) > 0) buffer.append(chunk, static_cast<size_t>(n));
      if (buffer.find(marker + "\"") != std::string::npos) seen = true;
    }
    // The first few only prove the follower is subscribed.
    if (seen && i >= 10) latency.push_back(Ms(Clock::now() - t0));
  }
  pclose(follower);

  // 2. A reader that subscribes and never reads, during a flood of debug records.
  client.Call("log.level.set", {{"level", "debug"}, {"component", "control"}});
  const auto quiet = PingTimes(client, 2000);
  zmq::socket_t stalled(context, zmq::socket_type::sub);
  stalled.set(zmq::sockopt::rcvhwm, 10);
  stalled.set(zmq::sockopt::subscribe, "");
  stalled.connect("ipc://" + dir.path() + "/streamgate/logs.sock");
  PingTimes(client, 20000);  // the flood: every request logs a debug record
  const auto loaded = PingTimes(client, 2000);

  std::printf("control plane (streamgated on %s)\n", endpoint.c_str());
  if (latency.empty()) {
    std::printf("  logs -f: no record arrived\n");
  } else {
    std::printf(
        "  logs -f latency (request -> printed)  median %6.2f ms  p99 %6.2f ms  (%zu samples)\n",
        Percentile(latency, 0.5), Percentile(latency, 0.99), latency.size());
  }
  std::printf("  ping round trip, no stalled reader    median %6.3f ms  p99 %6.3f ms\n",
              Percentile(quiet, 0.5), Percentile(quiet, 0.99));
  std::printf("  ping round trip, stalled reader       median %6.3f ms  p99 %6.3f ms\n",
              Percentile(loaded, 0.5), Percentile(loaded, 0.99));
  std::printf("  ratio (stalled / none, median)        %6.2fx\n",
              Percentile(loaded, 0.5) / Percentile(quiet, 0.5));
  sg::test::Run({SG_CLI_BIN, "stop"}, env);
  return 0;
}
