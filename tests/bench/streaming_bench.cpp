// HLS delivery: the real streamgated's streaming plugin beside nginx (`sendfile on`) serving the
// same files, wrk with the same connections against each in turn (--latency for p99): a 1 MiB
// segment, a 188 kB one, and the master playlist of a ready video, once each and then in short
// alternating pairs for the ratio. Then the same requests to a second streamgated whose store is
// S3 (s3rver) with a warm cache, against the local figure.
//
//   bench_streaming [SECONDS] [CONNECTIONS]     (defaults 8 32)
#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "common/child_process.h"
#include "daemon/plugin_api/access.h"
#include "daemon/storage/s3_storage.h"
#include "tests/support/bench_daemon.h"
#include "tests/support/bench_stats.h"
#include "tests/support/http_client.h"
#include "tests/support/nginx.h"
#include "tests/support/process.h"
#include "tests/support/tools.h"
#include "tests/support/wrk.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using sg::test::Run;

using Figures = sg::test::WrkFigures;
using sg::test::Wrk;

std::string Tool(const std::string& name) {
  auto found = sg::FindProgram(name);
  return found ? *found : name;
}

// Two URLs measured in short rounds, each a pair run back to back in alternating order (a first,
// then b first): the medians of each side and of the pairs' ratios (b over a), and the ratios'
// spread. Short pairs see less of the machine's drift between their halves.
struct Paired {
  double a_rps = 0, a_p99 = 0, b_rps = 0, b_p99 = 0, ratio = 0, low = 0, high = 0;
};

Paired InPairs(const std::string& a_url, const std::string& b_url, int connections, int rounds,
               int seconds) {
  std::vector<double> a_rps, a_p99, b_rps, b_p99, ratios;
  for (int round = 0; round < rounds; ++round) {
    Figures a;
    Figures b;
    if (round % 2 == 0) {
      a = Wrk(a_url, connections, seconds);
      b = Wrk(b_url, connections, seconds);
    } else {
      b = Wrk(b_url, connections, seconds);
      a = Wrk(a_url, connections, seconds);
    }
    a_rps.push_back(a.rps);
    a_p99.push_back(a.p99_ms);
    b_rps.push_back(b.rps);
    b_p99.push_back(b.p99_ms);
    ratios.push_back(a.rps > 0 ? b.rps / a.rps : 0);
  }
  auto median = [](const std::vector<double>& v) { return sg::test::Percentile(v, 0.5); };
  const auto [low, high] = std::minmax_element(ratios.begin(), ratios.end());
  return {median(a_rps), median(a_p99), median(b_rps), median(b_p99), median(ratios), *low, *high};
}

// The heading and the rows of a table of pairs (InPairs).
void PairTable(const std::string& what, int rounds, int seconds, const char* a, const char* b) {
  std::cout << fmt::format("\n{} ({} rounds of {} s, each a pair in alternating order; medians):\n",
                           what, rounds, seconds);
  std::cout << fmt::format("  {:16} {:>11} {:>8} {:>11} {:>8} {:>7} {:>11}\n", "file", a, "p99 ms",
                           b, "p99 ms", "req x", "pair ratios");
}
void PairRow(const std::string& label, const Paired& p, double aim) {
  std::cout << fmt::format(
      "  {:16} {:11.0f} {:8.2f} {:11.0f} {:8.2f} {:7.2f} {:5.2f}-{:<5.2f} (aim >= {})\n", label,
      p.a_rps, p.a_p99, p.b_rps, p.b_p99, p.ratio, p.low, p.high, aim);
}

int Bench(int argc, char** argv) {
  const int seconds = argc > 1 ? std::stoi(argv[1]) : 8;
  const int connections = argc > 2 ? std::stoi(argv[2]) : 32;
  sg::test::TempDir dir;
  const std::string media = dir.path() + "/media";
  const std::string clip = dir.path() + "/clip.mp4";
  if (!sg::test::LavfiClip(clip, "640x360", 4)) {
    std::cerr << "bench_streaming: ffmpeg could not make the clip\n";
    return 1;
  }
  const std::vector<std::string> common = {
      "metadata.sqlite_path=" + dir.path() + "/streamgate.db",
      "transcoder.work_dir=" + dir.path() + "/work",
      "transcoder.preset=ultrafast",
      "transcoder.ladder=[360p:600k]",
      "streaming.state_ttl=1h",
      "plugins.enabled=[api-gateway,cache,monitor,metadata,worker,upload,transcoder,streaming]"};
  std::vector<std::string> local = common;
  local.push_back("storage.path=" + media);
  sg::test::TempDir run_dir;
  sg::test::BenchDaemon daemon(run_dir, local);
  const uint16_t port = daemon.WaitReady();
  if (port == 0) return 1;
  const std::string id = daemon.UploadReady(clip, port);
  if (id.empty()) return 1;
  // Two segments of the sizes asked for, beside the real ones, under names the plugin serves.
  const fs::path stream = fs::path(media) / "videos" / id / "stream";
  std::ofstream(stream / "seg-9-00001.m4s", std::ios::binary) << std::string(1 << 20, 'v');
  std::ofstream(stream / "seg-9-00002.m4s", std::ios::binary) << std::string(188 * 1024, 's');
  const std::vector<std::pair<std::string, std::string>> files = {
      {"1 MiB segment", "seg-9-00001.m4s"},
      {"188 kB segment", "seg-9-00002.m4s"},
      {"master playlist", "master.m3u8"}};

  const uint16_t nginx_port = sg::test::FreePort();
  auto nginx =
      sg::test::StartNginx(dir, 2,
                           fmt::format("  sendfile on;\n  tcp_nopush on;\n"
                                       "  server {{\n    listen 127.0.0.1:{0} reuseport;\n"
                                       "    location /videos/ {{ alias {1}/videos/; }}\n  }}\n",
                                       nginx_port, media),
                           nginx_port);
  if (nginx == nullptr) return 1;
  // nginx serves the folder as stored (videos/ID/stream/FILE); StreamGate as /videos/ID/FILE.
  auto nginx_url = [&](const std::string& file) {
    return fmt::format("http://127.0.0.1:{}/videos/{}/stream/{}", nginx_port, id, file);
  };
  auto our_url = [&](uint16_t p, const std::string& file) {
    return fmt::format("http://127.0.0.1:{}/videos/{}/{}", p, id, file);
  };

  std::cout << fmt::format(
      "HLS delivery, wrk -t2 -c{} -d{}s --latency, nginx 2 workers with sendfile, StreamGate's "
      "streaming plugin (local store, zero-copy), access logs: nginx off, StreamGate at warn\n",
      connections, seconds);
  std::cout << fmt::format("  {:16} {:>11} {:>9} {:>8} {:>11} {:>9} {:>8} {:>7} {:>8}\n", "file",
                           "nginx req/s", "GB/s", "p99 ms", "ours req/s", "GB/s", "p99 ms", "req x",
                           "p99 x");
  for (const auto& [label, file] : files) {
    const Figures n = Wrk(nginx_url(file), connections, seconds);
    const Figures s = Wrk(our_url(port, file), connections, seconds);
    std::cout << fmt::format(
        "  {:16} {:11.0f} {:9.2f} {:8.2f} {:11.0f} {:9.2f} {:8.2f} {:7.2f} {:8.2f}\n", label, n.rps,
        n.bytes_per_second / 1e9, n.p99_ms, s.rps, s.bytes_per_second / 1e9, s.p99_ms,
        n.rps > 0 ? s.rps / n.rps : 0, n.p99_ms > 0 ? s.p99_ms / n.p99_ms : 0);
  }
  // The same in short pairs, alternating which goes first: one run each drifts with the machine
  // by more than the difference between the two (single runs of the 188 kB ratio: 0.93-1.05).
  constexpr int kNginxRounds = 5;
  const int nginx_seconds = std::max(2, seconds / 2);
  PairTable("StreamGate beside nginx, the same files", kNginxRounds, nginx_seconds, "nginx req/s",
            "ours req/s");
  for (const auto& [label, file] : files) {
    PairRow(label,
            InPairs(nginx_url(file), our_url(port, file), connections, kNginxRounds, nginx_seconds),
            1.0);
  }
  nginx.reset();  // stopped gracefully

  // The same segments behind a playback capability (/p/CAP/videos/...), as private and gated
  // videos are served: the check is an HMAC on the I/O thread. Signed here with the daemon's own
  // keys file.
  {
    std::ifstream in(dir.path() + "/auth-keys.json");
    const auto keys = nlohmann::json::parse(in, nullptr, false);
    std::vector<sg::AccessKey> ring;
    if (keys.is_object()) {
      for (const auto& k : keys.value("keys", nlohmann::json::array())) {
        ring.push_back({k.value("id", ""),
                        sg::Base64UrlDecode(k.value("secret", "")).value_or(std::string())});
      }
    }
    sg::Capability cap{id, "play", static_cast<int64_t>(std::time(nullptr)) + 3600, "bench"};
    auto token = sg::SignCapability(sg::KeyRing(ring), cap);
    if (!token) {
      std::cerr << "bench_streaming: no capability: " << token.error().message << '\n';
      return 1;
    }
    // The difference is a fraction of a microsecond a request, far below the machine's drift
    // from one wrk run to the next: nine short pairs, and the median of the pairs' ratios.
    constexpr int kRounds = 9;
    const int pair_seconds = std::max(2, seconds / 2);
    PairTable("With a playback capability in the path beside without, the same daemon", kRounds,
              pair_seconds, "plain req/s", "cap req/s");
    for (size_t i = 0; i < 2; ++i) {
      const auto& [label, file] = files[i];
      const Paired p =
          InPairs(our_url(port, file),
                  fmt::format("http://127.0.0.1:{}/p/{}/videos/{}/{}", port, *token, id, file),
                  connections, kRounds, pair_seconds);
      PairRow(label, p, 0.95);
    }
  }

  // The same files from S3 (s3rver): a second daemon on the same catalogue, the objects copied in.
  const std::string s3rver_js = SG_S3RVER_BIN;
  const std::string node = Tool("node");
  if (!fs::exists(s3rver_js) || node == "node") {
    std::cout << "\n(S3 figures skipped: node or tests/peers/s3rver missing)\n";
    return 0;
  }
  fs::create_directories(dir.path() + "/s3");
  sg::test::Process s3({node, s3rver_js, "-d", dir.path() + "/s3", "-a", "127.0.0.1", "-p", "0",
                        "-s", "--configure-bucket", "streamgate"},
                       dir);
  int s3_port = 0;
  sg::test::WaitFor(
      [&] {
        std::smatch p;
        const std::string out = s3.Stdout();
        if (!std::regex_search(out, p, std::regex(R"(listening on 127\.0\.0\.1:(\d+))"))) {
          return false;
        }
        s3_port = std::stoi(p[1]);
        return true;
      },
      30s);
  if (s3_port == 0) return 1;
  sg::storage::S3Settings settings;
  settings.endpoint = fmt::format("127.0.0.1:{}", s3_port);
  settings.bucket = "streamgate";
  settings.region = "us-east-1";
  settings.access_key = "S3RVER";
  settings.secret_key = "S3RVER";
  auto client = sg::storage::S3Storage::Create(settings);
  if (!client) return 1;
  for (const auto& entry : fs::directory_iterator(stream)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    auto writer =
        (*client)->Put("videos/" + id + "/stream/" + entry.path().filename().string()).value();
    if (!writer->Write(bytes) || !writer->Commit()) return 1;
  }
  std::vector<std::string> remote = common;
  remote.insert(remote.end(), {"storage.type=s3", "storage.endpoint=" + settings.endpoint,
                               "storage.bucket=streamgate", "storage.region=us-east-1",
                               "storage.accesskey=S3RVER", "storage.secretkey=S3RVER"});
  sg::test::TempDir s3_run;
  sg::test::BenchDaemon from_s3(s3_run, remote);
  const uint16_t s3_http = from_s3.WaitReady();
  if (s3_http == 0) return 1;
  // Beside the local daemon in alternating pairs, as above: the two run at the same time, so the
  // ratio does not carry the drift of the minutes between the first table and this one.
  constexpr int kS3Rounds = 5;
  const int s3_seconds = std::max(2, seconds / 2);
  PairTable("From S3 (s3rver) with a warm cache beside the local store", kS3Rounds, s3_seconds,
            "local req/s", "S3 req/s");
  for (const auto& [label, file] : files) {
    (void)Wrk(our_url(s3_http, file), 4, 1);  // warm the cache
    const Paired p =
        InPairs(our_url(port, file), our_url(s3_http, file), connections, kS3Rounds, s3_seconds);
    PairRow(label, p, 0.9);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Bench(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "bench_streaming: " << e.what() << '\n';
    return 1;
  }
}
