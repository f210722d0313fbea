// The gateway's proxy in microservice mode: what passing a request through the api-gateway
// service costs. The same catalogue and files are served three ways, wrk with the same
// connections against each in turn: by the monolith (one process), by the metadata and streaming
// services directly (their own ports), and through the gateway to them. GET /api/v1/videos (a
// small JSON answer from the catalogue) and a 1 MiB segment. Beside the rates, the CPU each
// process spent per answer, which the two shared cores do not blur. For reference, nginx as a
// reverse proxy in front of the same two services (kept-alive upstream connections, no
// buffering, a worker per core as the gateway has an I/O thread per core): what a proxy costs on
// this machine whoever writes it.
//
//   bench_proxy [SECONDS] [CONNECTIONS]     (defaults 8 32)
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include "common/child_process.h"
#include "tests/support/bench_daemon.h"
#include "tests/support/http_client.h"
#include "tests/support/listener_port.h"
#include "tests/support/nats_server.h"
#include "tests/support/nginx.h"
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

// CPU seconds a process has used so far, its threads' user and system time (/proc/PID/stat).
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string skip;
  for (int i = 3; i < 14; ++i) fields >> skip;  // state .. cmajflt
  double utime = 0;
  double stime = 0;
  fields >> utime >> stime;
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A process and its children (nginx's master and workers), from /proc/PID/task/PID/children.
std::vector<pid_t> WithChildren(pid_t pid) {
  std::vector<pid_t> out = {pid};
  std::ifstream in(fmt::format("/proc/{0}/task/{0}/children", pid));
  pid_t child = 0;
  while (in >> child) out.push_back(child);
  return out;
}

// What a run cost in CPU: microseconds per answer, of each process named.
struct Cost {
  Figures figures;
  std::vector<double> us_per_request;
};
Cost Measured(const std::string& url, int connections, int seconds,
              const std::vector<pid_t>& pids) {
  std::vector<double> before;
  for (const pid_t p : pids) before.push_back(CpuSeconds(p));
  Cost cost{Wrk(url, connections, seconds), {}};
  const double requests = cost.figures.rps * seconds;
  for (size_t i = 0; i < pids.size(); ++i) {
    cost.us_per_request.push_back(requests > 0 ? (CpuSeconds(pids[i]) - before[i]) * 1e6 / requests
                                               : 0);
  }
  return cost;
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
  pid_t pid() const { return process_->pid(); }
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
    // CPU: the monolith; the service; the gateway, the service; nginx's processes, the service
    Cost monolith, direct, gateway, nginx;
  };
  std::vector<Row> rows = {{"GET /api/v1/videos", {}, {}, {}, {}},
                           {"1 MiB segment", {}, {}, {}, {}}};
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
    rows[0].monolith = Measured(videos(port), connections, seconds, {monolith.pid()});
    rows[1].monolith = Measured(segment(port), connections, seconds, {monolith.pid()});
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
  // Until a proxy at `port` answers both requests (the gateway: once it has heard both services).
  const auto routes = [&id](uint16_t port, std::chrono::milliseconds timeout) {
    return sg::test::WaitFor(
        [&] {
          sg::test::HttpConnection a(port);
          sg::test::HttpConnection b(port);
          auto r1 = a.Request("GET", "/api/v1/videos");
          auto r2 = b.Request("GET", fmt::format("/videos/{}/seg-9-00001.m4s", id));
          return r1 && r1->status == 200 && r2 && r2->status == 200;
        },
        timeout);
  };
  const bool routed = routes(gw, 30s);
  if (!routed) {
    std::cerr << "bench_proxy: the gateway does not route to the services\n";
    return 1;
  }
  // nginx in front of the same services, as the reference proxy.
  const uint16_t ng = sg::test::FreePort();
  auto nginx = sg::test::StartNginx(
      dir, std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)),
      fmt::format("  upstream metadata {{ server 127.0.0.1:{1}; keepalive 64; }}\n"
                  "  upstream streaming {{ server 127.0.0.1:{2}; keepalive 64; }}\n"
                  "  proxy_http_version 1.1;\n  proxy_set_header Connection \"\";\n"
                  "  proxy_buffering off;\n  proxy_buffer_size 64k;\n  proxy_buffers 4 64k;\n"
                  "  server {{\n    listen 127.0.0.1:{0} reuseport;\n"
                  "    location /api/ {{ proxy_pass http://metadata; }}\n"
                  "    location /videos/ {{ proxy_pass http://streaming; }}\n  }}\n",
                  ng, md, st),
      ng);
  if (nginx == nullptr) return 1;
  const bool nginx_routes = routes(ng, 10s);
  if (!nginx_routes) {
    std::cerr << "bench_proxy: nginx does not proxy to the services\n";
    return 1;
  }
  const auto with_nginx = [&](pid_t service) {
    std::vector<pid_t> pids = WithChildren(nginx->pid());
    pids.insert(pids.begin(), service);  // the service first, then nginx's processes
    return pids;
  };
  rows[0].direct = Measured(videos(md), connections, seconds, {metadata.pid()});
  rows[0].gateway = Measured(videos(gw), connections, seconds, {gateway.pid(), metadata.pid()});
  rows[0].nginx = Measured(videos(ng), connections, seconds, with_nginx(metadata.pid()));
  rows[1].direct = Measured(segment(st), connections, seconds, {streaming.pid()});
  rows[1].gateway = Measured(segment(gw), connections, seconds, {gateway.pid(), streaming.pid()});
  rows[1].nginx = Measured(segment(ng), connections, seconds, with_nginx(streaming.pid()));
  nginx.reset();  // stopped gracefully

  std::cout << fmt::format(
      "The gateway's proxy: wrk -t2 -c{} -d{}s --latency, access logs off; monolith = one "
      "process, direct = the service's own port, gateway = through the api-gateway service\n",
      connections, seconds);
  std::cout << fmt::format("  {:20} {:>10} {:>8} {:>10} {:>8} {:>10} {:>8} {:>9} {:>9}\n",
                           "request", "monolith/s", "p99 ms", "direct/s", "p99 ms", "gateway/s",
                           "p99 ms", "gw/direct", "gw/mono");
  for (const auto& row : rows) {
    const Figures& m = row.monolith.figures;
    const Figures& d = row.direct.figures;
    const Figures& g = row.gateway.figures;
    std::cout << fmt::format(
        "  {:20} {:10.0f} {:8.2f} {:10.0f} {:8.2f} {:10.0f} {:8.2f} {:9.2f} {:9.2f}\n", row.label,
        m.rps, m.p99_ms, d.rps, d.p99_ms, g.rps, g.p99_ms, d.rps > 0 ? g.rps / d.rps : 0,
        m.rps > 0 ? g.rps / m.rps : 0);
  }
  std::cout << "The reference: nginx as the reverse proxy in front of the same services\n";
  std::cout << fmt::format("  {:20} {:>10} {:>8} {:>11} {:>10}\n", "request", "nginx/s", "p99 ms",
                           "nginx/direct", "gw/nginx");
  for (const auto& row : rows) {
    const Figures& d = row.direct.figures;
    const Figures& g = row.gateway.figures;
    const Figures& n = row.nginx.figures;
    std::cout << fmt::format("  {:20} {:10.0f} {:8.2f} {:11.2f} {:10.2f}\n", row.label, n.rps,
                             n.p99_ms, d.rps > 0 ? n.rps / d.rps : 0,
                             n.rps > 0 ? g.rps / n.rps : 0);
  }
  // Two cores are shared by wrk and every process: the rates say what the machine does at once,
  // the CPU per answer what each process spends, which more cores would not change.
  std::cout << "CPU per answer (us): the monolith; the service alone (direct); through the "
               "gateway, the gateway and the service\n";
  for (const auto& row : rows) {
    const auto us = [](const Cost& c, size_t i) {
      return i < c.us_per_request.size() ? c.us_per_request[i] : 0.0;
    };
    std::cout << fmt::format(
        "  {:20} monolith {:7.1f}  direct {:7.1f}  gateway {:7.1f} + service {:7.1f}\n", row.label,
        us(row.monolith, 0), us(row.direct, 0), us(row.gateway, 0), us(row.gateway, 1));
  }
  for (const auto& row : rows) {
    double proxy = 0;  // nginx's master and workers together
    for (size_t i = 1; i < row.nginx.us_per_request.size(); ++i)
      proxy += row.nginx.us_per_request[i];
    std::cout << fmt::format("  {:20} through nginx: nginx {:7.1f} + service {:7.1f}\n", row.label,
                             proxy,
                             row.nginx.us_per_request.empty() ? 0.0 : row.nginx.us_per_request[0]);
  }
  std::cout << "  (aim: gateway >= 0.8x direct; nginx/direct is what a mature proxy gets here)\n";
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
