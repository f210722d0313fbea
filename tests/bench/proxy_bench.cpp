// The gateway's proxy in microservice mode: what passing a request through the api-gateway
// service costs. The same catalogue and files are served three ways, wrk with the same
// connections against each in turn: by the monolith (one process), by the metadata and streaming
// services directly (their own ports), and through the gateway to them. GET /api/v1/videos (a
// small JSON answer from the catalogue) and a 1 MiB segment.
//
//   bench_proxy [SECONDS] [CONNECTIONS]     (defaults 8 32)
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <signal.h>

#include "common/child_process.h"
#include "tests/support/bench_daemon.h"
#include "tests/support/http_client.h"
#include "tests/support/listener_port.h"
#include "tests/support/nats_server.h"
#include "tests/support/notify_socket.h"
#include "tests/support/process.h"
#include "tests/support/tools.h"
#include "tests/support/wrk.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using sg::test::Run;

using Figures = sg::test::WrkFigures;

Figures Wrk(const std::string& url, int connections, int seconds) {
  const Figures f = sg::test::Wrk(url, connections, seconds);
  if (f.errors > 0)
    std::cerr << "bench_proxy: " << f.errors << " answers were errors at " << url << '\n';
  return f;
}

// One service process of the microservice deployment, with a runtime folder of its own.
class Service {
 public:
  Service(const std::string& name, const std::vector<std::string>& sets)
      : name_(name), notify_(dir_.path() + "/notify") {
    env_.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT"};
    env_.env["STREAMGATE_AUTH_REQUIRED"] = "false";
    env_.env["XDG_RUNTIME_DIR"] = dir_.path();
    env_.env["NOTIFY_SOCKET"] = notify_.path();
    env_.cwd = dir_.path();
    std::vector<std::string> argv = {SG_DAEMON_BIN, "--mode",      "microservice", "--service",
                                     name,          "--log-level", "warn"};
    for (const auto& s : sets) argv.insert(argv.end(), {"--set", s});
    process_ = std::make_unique<sg::test::Process>(argv, dir_, env_);
  }
  ~Service() {
    process_->Signal(SIGTERM);
    if (!process_->Wait(30s)) process_->Signal(SIGKILL);
  }
  // The HTTP port once ready; 0 (its log printed) when it is not.
  uint16_t WaitReady() {
    if (notify_.WaitFor("READY=1", 60s)) {
      const auto status = Run({SG_CLI_BIN, "--service", name_, "--json", "status"}, env_, 60s);
      if (const uint16_t port = sg::test::ListenerPort(status.out, "http"); port != 0) return port;
    }
    std::cerr << name_ << " did not get ready:\n" << process_->Stderr() << '\n';
    return 0;
  }

 private:
  std::string name_;
  sg::test::TempDir dir_;
  sg::test::NotifySocket notify_;
  sg::test::SpawnOptions env_;
  std::unique_ptr<sg::test::Process> process_;
};

int Bench(int argc, char** argv) {
  const int seconds = argc > 1 ? std::stoi(argv[1]) : 8;
  const int connections = argc > 2 ? std::stoi(argv[2]) : 32;
  sg::test::TempDir dir;
  const std::string media = dir.path() + "/media";
  const std::string db = dir.path() + "/streamgate.db";
  const std::string clip = dir.path() + "/clip.mp4";
  if (!sg::test::LavfiClip(clip, "320x240", 2)) {
    std::cerr << "bench_proxy: ffmpeg could not make the clip\n";
    return 1;
  }
  const std::vector<std::string> common = {"metadata.sqlite_path=" + db,
                                           "storage.path=" + media,
                                           "transcoder.work_dir=" + dir.path() + "/work",
                                           "transcoder.preset=ultrafast",
                                           "transcoder.ladder=[240p:300k]",
                                           "streaming.state_ttl=1h",
                                           "server.access_log=false"};
  std::string id;
  const auto videos = [](uint16_t port) {
    return fmt::format("http://127.0.0.1:{}/api/v1/videos", port);
  };
  const auto segment = [&id](uint16_t port) {
    return fmt::format("http://127.0.0.1:{}/videos/{}/seg-9-00001.m4s", port, id);
  };
  struct Row {
    std::string label;
    Figures monolith, direct, gateway;
  };
  std::vector<Row> rows = {{"GET /api/v1/videos", {}, {}, {}}, {"1 MiB segment", {}, {}, {}}};
  {
    sg::test::TempDir run_dir;
    auto sets = common;
    sets.push_back(
        "plugins.enabled=[api-gateway,cache,monitor,metadata,worker,upload,transcoder,streaming]");
    sg::test::BenchDaemon monolith(run_dir, sets);
    const uint16_t port = monolith.WaitReady();
    if (port == 0) return 1;
    id = monolith.UploadReady(clip, port);
    if (id.empty()) return 1;
    std::ofstream(fs::path(media) / "videos" / id / "stream" / "seg-9-00001.m4s", std::ios::binary)
        << std::string(1 << 20, 'v');
    rows[0].monolith = Wrk(videos(port), connections, seconds);
    rows[1].monolith = Wrk(segment(port), connections, seconds);
  }
  // The same catalogue and files, one process per service on a private nats-server.
  sg::test::NatsServer nats(true);
  std::vector<std::string> micro = common;
  micro.insert(micro.end(), {"nats.url=" + nats.Url(), "nats.heartbeat_interval=500ms",
                             "server.host=127.0.0.1", "monitoring.prometheus_port=0"});
  auto gateway_sets = micro;
  gateway_sets.push_back("server.port=0");
  Service gateway("api-gateway", gateway_sets);
  Service metadata("metadata", micro);
  Service streaming("streaming", micro);
  const uint16_t gw = gateway.WaitReady();
  const uint16_t md = metadata.WaitReady();
  const uint16_t st = streaming.WaitReady();
  if (gw == 0 || md == 0 || st == 0) return 1;
  // Until the gateway has heard both services and proxies their routes.
  const bool routed = sg::test::WaitFor(
      [&] {
        sg::test::HttpConnection a(gw);
        sg::test::HttpConnection b(gw);
        auto r1 = a.Request("GET", "/api/v1/videos");
        auto r2 = b.Request("GET", fmt::format("/videos/{}/seg-9-00001.m4s", id));
        return r1 && r1->status == 200 && r2 && r2->status == 200;
      },
      30s);
  if (!routed) {
    std::cerr << "bench_proxy: the gateway does not route to the services\n";
    return 1;
  }
  rows[0].direct = Wrk(videos(md), connections, seconds);
  rows[0].gateway = Wrk(videos(gw), connections, seconds);
  rows[1].direct = Wrk(segment(st), connections, seconds);
  rows[1].gateway = Wrk(segment(gw), connections, seconds);

  std::cout << fmt::format(
      "The gateway's proxy: wrk -t2 -c{} -d{}s --latency, access logs off; monolith = one "
      "process, direct = the service's own port, gateway = through the api-gateway service\n",
      connections, seconds);
  std::cout << fmt::format("  {:20} {:>10} {:>8} {:>10} {:>8} {:>10} {:>8} {:>9} {:>9}\n",
                           "request", "monolith/s", "p99 ms", "direct/s", "p99 ms", "gateway/s",
                           "p99 ms", "gw/direct", "gw/mono");
  for (const auto& r : rows) {
    std::cout << fmt::format(
        "  {:20} {:10.0f} {:8.2f} {:10.0f} {:8.2f} {:10.0f} {:8.2f} {:9.2f} {:9.2f}\n", r.label,
        r.monolith.rps, r.monolith.p99_ms, r.direct.rps, r.direct.p99_ms, r.gateway.rps,
        r.gateway.p99_ms, r.direct.rps > 0 ? r.gateway.rps / r.direct.rps : 0,
        r.monolith.rps > 0 ? r.gateway.rps / r.monolith.rps : 0);
  }
  std::cout << "  (aim: gateway >= 0.8x direct)\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Bench(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "bench_proxy: " << e.what() << '\n';
    return 1;
  }
}
