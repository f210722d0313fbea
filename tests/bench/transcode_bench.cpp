// The transcoder's wall time for the whole default ladder of a 1080p clip made by ffmpeg (lavfi
// testsrc2 and sine), side by side on this machine:
//   - by hand: the very ffmpeg command the plugin runs (ladder.h's FfmpegArgs), run directly;
//   - naive: one ffmpeg run per rendition, each decoding the source again (how a script does it);
//   - StreamGate: the real streamgated, the clip uploaded with the real CLI, the transcode job's
//     wall time from the daemon's own histogram (probe, encode, poster, playlists, storage).
// Aims: StreamGate ≤ 1.05× by hand; naive ≥ 1.5× StreamGate.
//
//   bench_transcode [SECONDS] [RUNS]     (defaults 60 1)
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/child_process.h"
#include "daemon/plugins/transcoder/ladder.h"
#include "tests/support/bench_daemon.h"
#include "tests/support/bench_stats.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
namespace tx = sg::plugins::transcoder;

// The plugin's defaults (transcoder_config.cpp).
const std::vector<std::string> kLadder = {"240p:400k", "360p:800k", "480p:1400k", "720p:2800k",
                                          "1080p:5000k"};

std::string Tool(const std::string& name) {
  auto found = sg::FindProgram(name);
  return found ? *found : name;
}

// Runs argv to its end; its wall seconds, or a negative number when it failed.
double Timed(std::vector<std::string> argv, std::string* out = nullptr) {
  argv.front() = Tool(argv.front());
  const auto start = Clock::now();
  auto ran = sg::test::Run(argv, {}, std::chrono::hours(2));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (out != nullptr) *out = ran.out;
  if (ran.exit_code != 0) {
    std::fprintf(stderr, "bench_transcode: %s failed (%d): %s\n", argv.front().c_str(),
                 ran.exit_code, ran.err.substr(0, 2000).c_str());
    return -1;
  }
  return seconds;
}

// The naive way: one ffmpeg per rendition, same encoder settings and output format.
std::vector<std::string> NaiveArgs(const std::string& input, const std::string& out_dir,
                                   const tx::Output& o, const tx::Probe& probe,
                                   const tx::EncodeSettings& settings) {
  std::vector<std::string> a = {"ffmpeg",
                                "-hide_banner",
                                "-nostdin",
                                "-y",
                                "-v",
                                "error",
                                "-i",
                                input,
                                "-vf",
                                fmt::format("scale=w={}:h={},format=yuv420p", o.width, o.height),
                                "-c:v",
                                settings.encoder,
                                "-preset",
                                settings.preset,
                                "-b:v",
                                std::to_string(o.bitrate),
                                "-maxrate",
                                std::to_string(o.bitrate * 11 / 10),
                                "-bufsize",
                                std::to_string(o.bitrate * 2),
                                "-sc_threshold",
                                "0",
                                "-force_key_frames",
                                fmt::format("expr:gte(t,n_forced*{})", settings.segment_seconds)};
  if (probe.has_audio) {
    a.insert(a.end(), {"-c:a", "aac", "-b:a", std::to_string(settings.audio_bitrate), "-ac", "2"});
  }
  a.insert(a.end(), {"-f", "dash", "-seg_duration", fmt::format("{}", settings.segment_seconds),
                     "-hls_playlist", "1", (fs::path(out_dir) / "manifest.mpd").string()});
  return a;
}

// The transcode job's wall time from /metrics: the histogram's sum once its count is `count`.
double JobSeconds(uint16_t metrics_port, int count) {
  double seconds = -1;
  sg::test::WaitFor(
      [&] {
        try {
          sg::test::HttpConnection c(metrics_port);
          auto reply = c.Request("GET", "/metrics");
          if (!reply) return false;
          std::smatch n;
          std::smatch sum;
          if (!std::regex_search(reply->body, n,
                                 std::regex(R"(streamgate_transcoder_succeeded_total (\d+))")) ||
              std::stoi(n[1]) < count) {
            return false;
          }
          if (!std::regex_search(
                  reply->body, sum,
                  std::regex(R"(streamgate_transcoder_job_duration_seconds_sum ([0-9.e+]+))"))) {
            return false;
          }
          seconds = std::stod(sum[1]);
          return true;
        } catch (const std::exception&) {
          return false;
        }
      },
      std::chrono::hours(2));
  return seconds;
}

int Bench(int argc, char** argv) {
  const int clip_seconds = argc > 1 ? std::max(5, std::atoi(argv[1])) : 60;
  const int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 1;
  sg::test::TempDir dir;
  const std::string clip = dir.path() + "/clip.mp4";
  std::printf("Making a %d s 1920x1080 30 fps clip with sound (lavfi testsrc2 + sine)...\n",
              clip_seconds);
  if (Timed({"ffmpeg",   "-v",
             "error",    "-y",
             "-f",       "lavfi",
             "-i",       fmt::format("testsrc2=size=1920x1080:rate=30:duration={}", clip_seconds),
             "-f",       "lavfi",
             "-i",       fmt::format("sine=frequency=440:duration={}", clip_seconds),
             "-c:v",     "libx264",
             "-preset",  "ultrafast",
             "-pix_fmt", "yuv420p",
             "-c:a",     "aac",
             clip}) < 0) {
    return 1;
  }
  std::string report;
  if (Timed(tx::ProbeArgs("ffprobe", clip), &report) < 0) return 1;
  auto probe = tx::ParseProbe(report, 8192);
  auto ladder = tx::ParseLadder(kLadder);
  if (!probe || !ladder) return 1;
  const auto outputs = tx::PlanLadder(*ladder, *probe);
  tx::EncodeSettings settings;  // the plugin's defaults: libx264 veryfast, 128k audio, 4 s
  std::printf("Ladder: %zu renditions, libx264 %s, %g s segments, %u cores\n\n", outputs.size(),
              settings.preset.c_str(), settings.segment_seconds,
              std::thread::hardware_concurrency());

  std::vector<double> by_hand;
  std::vector<double> naive;
  std::vector<double> ours;
  for (int run = 0; run < runs; ++run) {
    const std::string out = fmt::format("{}/hand{}", dir.path(), run);
    fs::create_directories(out);
    auto args = tx::FfmpegArgs(clip, out, outputs, *probe, settings, false);
    const double hand = Timed(args);
    if (hand < 0) return 1;
    by_hand.push_back(hand);

    double total = 0;
    for (size_t i = 0; i < outputs.size(); ++i) {
      const std::string each = fmt::format("{}/naive{}-{}", dir.path(), run, i);
      fs::create_directories(each);
      const double t = Timed(NaiveArgs(clip, each, outputs[i], *probe, settings));
      if (t < 0) return 1;
      total += t;
    }
    naive.push_back(total);

    sg::test::TempDir run_dir;
    sg::test::BenchDaemon daemon(
        run_dir, {"storage.path=" + run_dir.path() + "/media",
                  "metadata.sqlite_path=" + run_dir.path() + "/streamgate.db",
                  "transcoder.work_dir=" + run_dir.path() + "/work", "transcoder.nice=0"});
    const uint16_t port = daemon.WaitReady();
    if (port == 0) return 1;
    auto up =
        sg::test::Run({SG_CLI_BIN, "upload", clip, "--url",
                       fmt::format("http://127.0.0.1:{}", port), "--wait", "--timeout", "7200"},
                      daemon.env(), std::chrono::hours(2));
    if (up.exit_code != 0) {
      std::fprintf(stderr, "bench_transcode: the upload or transcode failed: %s\n%s\n",
                   up.err.c_str(), daemon.Stderr().substr(0, 4000).c_str());
      return 1;
    }
    const double job = JobSeconds(daemon.metrics_port, 1);
    if (job < 0) return 1;
    ours.push_back(job);
    std::printf("run %d: by hand %.1f s, naive %.1f s, StreamGate job %.1f s\n", run + 1, hand,
                total, job);
  }
  auto median = [](const std::vector<double>& v) { return sg::test::Percentile(v, 0.5); };
  const double hand = median(by_hand);
  const double slow = median(naive);
  const double sg_job = median(ours);
  std::printf("\n%-44s %10s\n", "median of runs", "seconds");
  std::printf("%-44s %10.1f\n", "ffmpeg, the plugin's command, by hand", hand);
  std::printf("%-44s %10.1f\n", "ffmpeg, one run per rendition (naive)", slow);
  std::printf("%-44s %10.1f\n", "StreamGate transcode job (probe..ready)", sg_job);
  std::printf("\nStreamGate / by hand: %.3fx (aim <= 1.05x)\n", sg_job / hand);
  std::printf("naive / StreamGate:   %.2fx (aim >= 1.5x)\n", slow / sg_job);
  std::printf("media speed: %.2fx real time for the whole ladder\n", clip_seconds / sg_job);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Bench(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_transcode: %s\n", e.what());
    return 1;
  }
}
