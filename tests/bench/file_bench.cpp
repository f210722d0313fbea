// Files served with sendfile: StreamGate's HTTP server (a route answering HttpResponse::file)
// beside nginx (`sendfile on`) from the same folder, wrk against each in turn, for a 1 MiB file
// and a 188 kB one (a typical 2 s video segment). Prints req/s, GB/s and the ratios.
//   bench_file [SECONDS] [CONNECTIONS]
#include <iostream>
#include <regex>
#include <string>

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/sinks/null_sink.h>

#include "daemon/http/server.h"
#include "tests/support/http_client.h"
#include "tests/support/nginx.h"
#include "tests/support/process.h"

namespace {

using sg::test::Run;

struct Figures {
  double rps = 0;
  double bytes_per_second = 0;
};

Figures Wrk(const std::string& url, int threads, int connections, int seconds) {
  const auto r = Run({"/usr/bin/wrk", "-t", std::to_string(threads), "-c",
                      std::to_string(connections), "-d", std::to_string(seconds) + "s", url},
                     {}, std::chrono::seconds(seconds + 30));
  std::smatch m;
  Figures f;
  if (std::regex_search(r.out, m, std::regex(R"(Requests/sec:\s+([\d.]+))")))
    f.rps = std::stod(m[1]);
  if (std::regex_search(r.out, m, std::regex(R"(Transfer/sec:\s+([\d.]+)([KMG]?B))"))) {
    const double unit = m[2] == "GB"   ? 1e9 * 1.073741824
                        : m[2] == "MB" ? 1048576.0
                        : m[2] == "KB" ? 1024.0
                                       : 1.0;
    f.bytes_per_second = std::stod(m[1]) * unit;
  }
  if (f.rps == 0) std::cerr << "wrk said:\n" << r.out << r.err << '\n';
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::stoi(argv[1]) : 8;
  const int connections = argc > 2 ? std::stoi(argv[2]) : 32;
  const int threads = 2;
  sg::test::TempDir dir;
  dir.Write("seg_1mib.m4s", std::string(1024 * 1024, 'v'));
  dir.Write("seg_188k.m4s", std::string(188 * 1024, 's'));

  sg::http::RouteTable routes;
  (void)routes.AddRoute("GET", "/files/{name}",
                        [&](const sg::HttpRequest& req, sg::HttpResponse& res) {
                          res.content_type = "video/iso.segment";
                          res.file = dir.path() + "/" + std::string(req.Param("name"));
                        });
  auto quiet =
      std::make_shared<spdlog::logger>("http", std::make_shared<spdlog::sinks::null_sink_mt>());
  sg::http::HttpServer server(routes, quiet, nullptr);
  auto settings = std::make_shared<sg::http::ServerSettings>();
  settings->host = "127.0.0.1";
  settings->port = 0;
  settings->io_threads = threads;
  settings->access_log = false;
  if (!server.Start(settings)) {
    std::cerr << "bench_file: cannot start the HTTP server\n";
    return 1;
  }

  const uint16_t nginx_port = sg::test::FreePort();
  auto nginx = sg::test::StartNginx(dir, threads,
                                    fmt::format("  sendfile on;\n  tcp_nopush on;\n"
                                                "  server {{\n    listen 127.0.0.1:{0} reuseport;\n"
                                                "    location /files/ {{ alias {1}/; }}\n  }}\n",
                                                nginx_port, dir.path()),
                                    nginx_port);
  if (nginx == nullptr) return 1;

  std::cout << fmt::format(
      "Files with sendfile, wrk -t{} -c{} -d{}s, both servers {} workers, "
      "access logs off\n",
      threads, connections, seconds, threads);
  std::cout << fmt::format("  {:14} {:>12} {:>10} {:>12} {:>10} {:>8} {:>8}\n", "file",
                           "nginx req/s", "nginx GB/s", "ours req/s", "ours GB/s", "req x",
                           "GB/s x");
  for (const std::string name : {"seg_1mib.m4s", "seg_188k.m4s"}) {
    const Figures n = Wrk(fmt::format("http://127.0.0.1:{}/files/{}", nginx_port, name), threads,
                          connections, seconds);
    const Figures s = Wrk(fmt::format("http://127.0.0.1:{}/files/{}", server.port(), name), threads,
                          connections, seconds);
    std::cout << fmt::format("  {:14} {:12.0f} {:10.2f} {:12.0f} {:10.2f} {:8.2f} {:8.2f}\n", name,
                             n.rps, n.bytes_per_second / 1e9, s.rps, s.bytes_per_second / 1e9,
                             n.rps > 0 ? s.rps / n.rps : 0,
                             n.bytes_per_second > 0 ? s.bytes_per_second / n.bytes_per_second : 0);
  }
  nginx.reset();  // stopped gracefully
  server.Stop(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  return 0;
}
