// The transcoder through a real streamgated, the real CLI and Debian's ffmpeg: media made by
// ffmpeg itself (lavfi testsrc2 and sine), uploaded with `streamgate upload`, transcoded, and the
// outputs checked with ffprobe and against the HLS and DASH specs; bad inputs; a cancel; kill -9
// in the middle of a transcode, then a restart.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/stat.h>

#include "common/child_process.h"
#include "tests/support/daemon_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/s3_client.h"
#include "tests/support/tools.h"

namespace sg::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

bool HaveFfmpeg() { return FindProgram("ffmpeg") && FindProgram("ffprobe"); }

#define REQUIRE_FFMPEG()                                                     \
  do {                                                                       \
    if (!HaveFfmpeg()) {                                                     \
      WARN("ffmpeg/ffprobe missing: scripts/install-deps.sh installs them"); \
      std::exit(77);                                                         \
    }                                                                        \
  } while (false)

// A clip made by ffmpeg: `video` is a lavfi testsrc2 size, empty for none; `seconds` long.
void MakeClip(const std::string& path, const std::string& video, double seconds, bool audio,
              int fps = 25) {
  std::vector<std::string> argv = {Tool("ffmpeg"), "-v", "error", "-y"};
  if (!video.empty()) {
    argv.insert(argv.end(), {"-f", "lavfi", "-i",
                             "testsrc2=size=" + video + ":rate=" + std::to_string(fps) +
                                 ":duration=" + std::to_string(seconds)});
  }
  if (audio) {
    argv.insert(argv.end(),
                {"-f", "lavfi", "-i", "sine=frequency=440:duration=" + std::to_string(seconds)});
  }
  if (!video.empty())
    argv.insert(argv.end(), {"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"});
  if (audio) argv.insert(argv.end(), {"-c:a", "aac"});
  argv.push_back(path);
  auto made = Run(argv, {}, 120s);
  REQUIRE(made.exit_code == 0);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Quick settings for small test clips.
std::vector<std::string> QuickLadder() {
  return {"transcoder.segment_duration=2s", "transcoder.preset=ultrafast",
          "transcoder.ladder=[240p:300k, 360p:600k, 720p:1500k, 1080p:3M]",
          "worker.backoff_base=100ms"};
}

// A daemon whose media, catalogue and work folder live in `root` (so that a second daemon can
// take over), with the quick settings.
struct Transcoding {
  explicit Transcoding(const std::string& root, std::vector<std::string> more = {}) {
    std::vector<std::string> sets = QuickLadder();
    sets.insert(sets.end(),
                {"storage.path=" + root + "/media", "metadata.sqlite_path=" + root + "/sg.db",
                 "transcoder.work_dir=" + root + "/work"});
    sets.insert(sets.end(), more.begin(), more.end());
    daemon = std::make_unique<RunningDaemon>(sets);
  }
  explicit Transcoding(std::unique_ptr<RunningDaemon> running) : daemon(std::move(running)) {}
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(daemon->port); }

  // Uploads a file with the CLI; the video's id.
  std::string Upload(const std::string& file) const {
    auto up = daemon->Cli({"upload", file, "--url", Url(), "--json"});
    INFO(up.out << up.err);
    REQUIRE(up.exit_code == 0);
    std::istringstream lines(up.out);
    std::string line;
    std::string id;
    while (std::getline(lines, line)) {
      const auto event = json::parse(line, nullptr, false);
      if (event.is_object() && event.value("event", "") == "done") id = event.value("video", "");
    }
    REQUIRE(id.size() == 26);
    return id;
  }

  json Video(const std::string& id) const {
    HttpConnection c(daemon->port);
    auto reply = c.Request("GET", "/api/v1/videos/" + id);
    if (!reply || reply->status != 200) return json::object();
    return json::parse(reply->body, nullptr, false);
  }

  // Polls until the video is in one of `states`; its record.
  json WaitState(const std::string& id, std::set<std::string> states,
                 std::chrono::milliseconds timeout = 120s) const {
    json last;
    const bool reached = WaitFor(
        [&] {
          last = Video(id);
          return last.is_object() && states.count(last.value("state", "")) != 0;
        },
        timeout);
    INFO(last.dump() << "\n" << daemon->daemon->Stderr().substr(0, 20000));
    REQUIRE(reached);
    return last;
  }

  // The transcode job of a video (its idempotency key starts with the id), from
  // `streamgate jobs list --json`.
  json Job(const std::string& id) const {
    auto listed = daemon->Cli({"--json", "jobs", "list", "--kind", "transcode"});
    const auto reply = json::parse(listed.out, nullptr, false);
    const json jobs = reply.is_object() ? reply.value("jobs", json::array()) : reply;
    if (jobs.is_array()) {
      for (const auto& job : jobs) {
        if (job.value("idempotency_key", "").rfind(id + ":", 0) == 0) return job;
      }
    }
    return json::object();
  }

  std::unique_ptr<RunningDaemon> daemon;
};

// ffprobe's keyframe times of a playlist's first video stream, to a hundredth of a second.
std::vector<long> KeyframeTimes(const std::string& playlist) {
  auto probed = Run({Tool("ffprobe"), "-v", "error", "-skip_frame", "nokey", "-select_streams",
                     "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0", playlist},
                    {}, 60s);
  REQUIRE(probed.exit_code == 0);
  std::vector<long> times;
  std::istringstream lines(probed.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty()) times.push_back(std::lround(std::stod(line) * 100));
  }
  return times;
}

double ProbeDuration(const std::string& file) {
  auto probed = Run(
      {Tool("ffprobe"), "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", file},
      {}, 60s);
  REQUIRE(probed.exit_code == 0);
  return std::stod(probed.out);
}

std::map<std::string, std::string> Attributes(const std::string& list) {
  std::map<std::string, std::string> attributes;
  static const std::regex pair(R"re(([A-Z0-9-]+)=("[^"]*"|[^,]*))re");
  for (std::sregex_iterator it(list.begin(), list.end(), pair), end; it != end; ++it) {
    std::string value = (*it)[2];
    if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
    attributes[(*it)[1]] = value;
  }
  return attributes;
}

// Checks a media playlist against RFC 8216: VOD, ENDLIST, a map, durations within the target,
// every segment present; returns the seconds it lasts.
double CheckMediaPlaylist(const fs::path& path) {
  const std::string text = Slurp(path.string());
  INFO(path.string() << ":\n" << text);
  REQUIRE(text.rfind("#EXTM3U\n", 0) == 0);
  CHECK(Contains(text, "#EXT-X-PLAYLIST-TYPE:VOD"));
  CHECK(Contains(text, "#EXT-X-ENDLIST"));
  CHECK_FALSE(Contains(text, "#EXT-X-PROGRAM-DATE-TIME"));
  std::smatch m;
  REQUIRE(std::regex_search(text, m, std::regex(R"(#EXT-X-TARGETDURATION:(\d+))")));
  const int target = std::stoi(m[1]);
  REQUIRE(std::regex_search(text, m, std::regex(R"re(#EXT-X-MAP:URI="([^"]+)")re")));
  CHECK(fs::exists(path.parent_path() / std::string(m[1])));
  double total = 0;
  int segments = 0;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("#EXTINF:", 0) == 0) {
      const double d = std::stod(line.substr(8));
      CHECK(std::lround(d) <= target);  // RFC 8216 4.3.3.1
      total += d;
    } else if (!line.empty() && line[0] != '#') {
      CHECK(fs::exists(path.parent_path() / line));
      ++segments;
    }
  }
  CHECK(segments > 0);
  return total;
}

}  // namespace

TEST_CASE("an uploaded video with sound becomes HLS and DASH: ladder, keyframes, playlists",
          "[transcoder]") {
  REQUIRE_FFMPEG();
  TempDir root;
  const std::string clip = root.path() + "/clip.mp4";
  MakeClip(clip, "1280x720", 5, true);
  Transcoding t(root.path());
  const std::string id = t.Upload(clip);
  const json video = t.WaitState(id, {"ready", "failed"});
  INFO(video.dump(2));
  REQUIRE(video["state"] == "ready");
  CHECK(video["duration"].get<double>() == Approx(5).margin(0.1));
  // The transcoder's health names the ffmpeg it checked at start (its banner, one run).
  const auto report = json::parse(t.daemon->Cli({"--json", "health"}).out, nullptr, false);
  std::string transcoder_health;
  for (const auto& p : report.value("plugins", json::array())) {
    if (p.value("name", "") == "transcoder") transcoder_health = p.value("message", "");
  }
  CHECK_THAT(transcoder_health, Catch::Contains("ffmpeg version "));
  CHECK_THAT(transcoder_health, !Catch::Contains("Copyright"));
  // Never upscaled: 1080p is left out of a 720p source.
  REQUIRE(video["renditions"].size() == 3);
  std::vector<std::string> names;
  for (const auto& r : video["renditions"]) {
    names.push_back(r["name"]);
    CHECK(r["width"].get<int>() % 2 == 0);
    CHECK(r["codec"].get<std::string>().rfind("avc1.", 0) == 0);
  }
  CHECK(names == std::vector<std::string>{"240p", "360p", "720p"});
  CHECK(video["renditions"][0]["width"] == 426);
  CHECK(video["renditions"][2]["width"] == 1280);

  const fs::path dir = fs::path(root.path()) / "media" / "videos" / id / "stream";
  // The master playlist (RFC 8216 4.3.4.2): every variant with its attributes, the audio group.
  const std::string master = Slurp((dir / "master.m3u8").string());
  INFO(master);
  REQUIRE(master.rfind("#EXTM3U\n", 0) == 0);
  CHECK(Contains(master, "#EXT-X-INDEPENDENT-SEGMENTS"));
  std::smatch media;
  REQUIRE(std::regex_search(master, media, std::regex(R"(#EXT-X-MEDIA:([^\n]+))")));
  const auto audio = Attributes(media[1]);
  CHECK(audio.at("TYPE") == "AUDIO");
  const std::string group = audio.at("GROUP-ID");
  CHECK(CheckMediaPlaylist(dir / audio.at("URI")) == Approx(5).margin(2));
  std::istringstream lines(master);
  std::string line;
  std::vector<std::vector<long>> keyframes;
  int variants = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("#EXT-X-STREAM-INF:", 0) != 0) continue;
    const auto a = Attributes(line.substr(18));
    std::string uri;
    REQUIRE(std::getline(lines, uri));
    const auto& r = video["renditions"][variants];
    ++variants;
    CHECK(std::stol(a.at("AVERAGE-BANDWIDTH")) <= std::stol(a.at("BANDWIDTH")));
    CHECK(std::stol(a.at("BANDWIDTH")) > 0);
    CHECK(a.at("RESOLUTION") ==
          std::to_string(r["width"].get<int>()) + "x" + std::to_string(r["height"].get<int>()));
    CHECK(a.at("CODECS") == r["codec"].get<std::string>() + ",mp4a.40.2");
    CHECK(a.at("FRAME-RATE") == "25.000");
    CHECK(a.at("AUDIO") == group);
    CHECK("videos/" + id + "/stream/" + uri == r["playlist"].get<std::string>());
    // Each rendition as ffprobe sees it: its size, H.264, the whole duration within a segment.
    CHECK(CheckMediaPlaylist(dir / uri) == Approx(5).margin(2));
    auto probed = Run({Tool("ffprobe"), "-v", "error", "-select_streams", "v:0", "-show_entries",
                       "stream=codec_name,width,height", "-of", "json", (dir / uri).string()},
                      {}, 60s);
    REQUIRE(probed.exit_code == 0);
    const auto stream = json::parse(probed.out)["streams"][0];
    CHECK(stream["codec_name"] == "h264");
    CHECK(stream["width"] == r["width"]);
    CHECK(stream["height"] == r["height"]);
    CHECK(ProbeDuration((dir / uri).string()) == Approx(5).margin(2));
    keyframes.push_back(KeyframeTimes((dir / uri).string()));
  }
  REQUIRE(variants == 3);
  // Keyframes at the same times in every rendition, one at least every segment.
  for (const auto& k : keyframes) CHECK(k == keyframes.front());
  CHECK(keyframes.front().size() >= 3);

  // The DASH manifest (ISO/IEC 23009-1): static, with the duration, and a representation per
  // rendition plus audio whose timeline covers the video and whose segments are there.
  const std::string mpd = Slurp((dir / "manifest.mpd").string());
  INFO(mpd);
  CHECK(Contains(mpd, "xmlns=\"urn:mpeg:dash:schema:mpd:2011\""));
  CHECK(Contains(mpd, "type=\"static\""));
  CHECK(std::regex_search(mpd, std::regex(R"re(mediaPresentationDuration="PT5(\.\d+)?S")re")));
  static const std::regex representation(
      R"re(<Representation id="(\d+)"[^>]*codecs="([^"]+)"[^>]*bandwidth="(\d+)"[\s\S]*?timescale="(\d+)"[\s\S]*?</SegmentTimeline>)re");
  int representations = 0;
  for (std::sregex_iterator it(mpd.begin(), mpd.end(), representation), end; it != end; ++it) {
    ++representations;
    const std::string rep = (*it)[1];
    const std::string body = (*it)[0];
    const double timescale = std::stod((*it)[4]);
    CHECK(fs::exists(dir / ("init-" + rep + ".m4s")));
    double covered = 0;
    int number = 1;
    static const std::regex s(R"re(<S (?:t="(\d+)" )?d="(\d+)"(?: r="(\d+)")? />)re");
    for (std::sregex_iterator si(body.begin(), body.end(), s), send; si != send; ++si) {
      const int repeat = (*si)[3].matched ? std::stoi((*si)[3]) : 0;
      for (int i = 0; i <= repeat; ++i) {
        covered += std::stod((*si)[2]) / timescale;
        char name[64];
        std::snprintf(name, sizeof name, "seg-%s-%05d.m4s", rep.c_str(), number++);
        CHECK(fs::exists(dir / name));
      }
    }
    CHECK(covered == Approx(5).margin(0.2));
  }
  CHECK(representations == 4);
  CHECK(Contains(mpd, "contentType=\"audio\""));

  // The poster, and what the job and the metrics say.
  const fs::path poster = fs::path(root.path()) / "media" / "videos" / id / "poster.jpg";
  CHECK(video["poster"] == "videos/" + id + "/poster.jpg");
  auto probed_poster = Run({Tool("ffprobe"), "-v", "error", "-show_entries",
                            "stream=codec_name,height", "-of", "csv=p=0", poster.string()});
  CHECK(probed_poster.out == "mjpeg,720\n");
  const json job = t.Job(id);
  CHECK(job.value("state", "") == "succeeded");
  CHECK(job.value("attempts", 0) == 1);
  HttpConnection c(t.daemon->metrics_port);
  auto metrics = c.Request("GET", "/metrics");
  REQUIRE(metrics);
  CHECK(Contains(metrics->body, "streamgate_transcoder_succeeded_total 1"));
  CHECK(Contains(metrics->body, "streamgate_transcoder_renditions_total 3"));
  CHECK(Contains(metrics->body, "streamgate_transcoder_failures_total{reason=\"corrupt\"} 0"));
  CHECK(t.daemon->LogSays("Video ready"));
  auto health = t.daemon->Cli({"health"});
  CHECK(health.exit_code == 0);
  CHECK(Contains(health.out, "transcoder"));
}

TEST_CASE("a video with no sound is transcoded too, and a small one gets one rendition",
          "[transcoder]") {
  REQUIRE_FFMPEG();
  TempDir root;
  const std::string clip = root.path() + "/silent.mp4";
  MakeClip(clip, "320x180", 3, false, 30);
  Transcoding t(root.path());
  const std::string id = t.Upload(clip);
  const json video = t.WaitState(id, {"ready", "failed"});
  INFO(video.dump(2));
  REQUIRE(video["state"] == "ready");
  REQUIRE(video["renditions"].size() == 1);  // 180 is below the lowest rung: its own size
  CHECK(video["renditions"][0]["height"] == 180);
  const fs::path dir = fs::path(root.path()) / "media" / "videos" / id / "stream";
  const std::string master = Slurp((dir / "master.m3u8").string());
  CHECK_FALSE(Contains(master, "#EXT-X-MEDIA"));
  CHECK_FALSE(Contains(master, "AUDIO="));
  CHECK(Contains(master, "FRAME-RATE=30.000"));
  CHECK(CheckMediaPlaylist(dir / "media_0.m3u8") == Approx(3).margin(2));
  CHECK_FALSE(Contains(Slurp((dir / "manifest.mpd").string()), "contentType=\"audio\""));
}

TEST_CASE("bad inputs fail their video at once with a reason a person can read", "[transcoder]") {
  REQUIRE_FFMPEG();
  TempDir root;
  const std::string ok = root.path() + "/ok.mp4";
  MakeClip(ok, "320x240", 2, true);
  const std::string sound = root.path() + "/sound.m4a";
  MakeClip(sound, "", 2, true);
  const std::string big = root.path() + "/big.mp4";
  MakeClip(big, "640x480", 1, false);
  // The first 40% of a file whose index comes last: truncated.
  const std::string truncated = root.path() + "/truncated.mp4";
  {
    const std::string whole = Slurp(ok);
    std::ofstream(truncated, std::ios::binary) << whole.substr(0, whole.size() * 2 / 5);
  }
  const std::string garbage = root.path() + "/garbage.mp4";
  {
    std::string bytes(65536, '\0');
    uint32_t x = 2463534242U;
    for (auto& b : bytes) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      b = static_cast<char>(x);
    }
    std::ofstream(garbage, std::ios::binary) << bytes;
  }
  const std::string empty = root.path() + "/empty.mp4";
  std::ofstream(empty).close();

  Transcoding t(root.path(), {"transcoder.max_dimension=400"});
  const std::vector<std::pair<std::string, std::string>> cases = {
      {sound, "no video stream"},          {big, "larger than transcoder.max_dimension"},
      {truncated, "truncated or corrupt"}, {garbage, "not a video ffmpeg can read"},
      {empty, "empty (0 bytes)"},
  };
  std::vector<std::string> ids;
  for (const auto& [file, reason] : cases) ids.push_back(t.Upload(file));
  for (size_t i = 0; i < cases.size(); ++i) {
    const json video = t.WaitState(ids[i], {"ready", "failed"});
    INFO(cases[i].first << ": " << video.dump());
    CHECK(video["state"] == "failed");
    CHECK_THAT(video.value("failure_reason", ""), Catch::Contains(cases[i].second));
    // Bad input is not retried.
    json job;
    REQUIRE(WaitFor(
        [&] {
          job = t.Job(ids[i]);
          return job.value("state", "") == "dead" || job.value("state", "") == "succeeded";
        },
        30s));
    CHECK(job.value("attempts", 0) == 1);
  }
  // The daemon keeps serving: a good one after them all.
  const std::string id = t.Upload(ok);
  CHECK(t.WaitState(id, {"ready", "failed"})["state"] == "ready");
  HttpConnection c(t.daemon->metrics_port);
  auto metrics = c.Request("GET", "/metrics");
  REQUIRE(metrics);
  CHECK(Contains(metrics->body, "streamgate_transcoder_failures_total{reason=\"no_video\"} 2"));
  CHECK(Contains(metrics->body, "streamgate_transcoder_failures_total{reason=\"dimensions\"} 1"));
  CHECK(Contains(metrics->body, "streamgate_transcoder_failures_total{reason=\"corrupt\"} 2"));
}

namespace {

// ffmpeg processes working in `work` (their command lines name it).
bool EncoderRunsIn(const std::string& work) {
  return Run({Tool("pgrep"), "-f", "ffmpeg.*" + work}).exit_code == 0;
}

// Waits until the video's transcode has started encoding; its job.
json WaitEncoding(const Transcoding& t, const std::string& id, const std::string& work) {
  json job;
  const bool running = WaitFor(
      [&] {
        job = t.Job(id);
        return job.value("state", "") == "running" && EncoderRunsIn(work);
      },
      120s);
  INFO(job.dump() << t.daemon->daemon->Stderr().substr(0, 20000));
  REQUIRE(running);
  return job;
}

}  // namespace

TEST_CASE("a cancel ends ffmpeg and fails the video, saying how to run it again", "[transcoder]") {
  REQUIRE_FFMPEG();
  TempDir root;
  const std::string clip = root.path() + "/long.mp4";
  MakeClip(clip, "640x360", 120, false);
  // Slow on purpose: the transcode must still run when the cancel comes.
  Transcoding t(root.path(), {"transcoder.preset=veryslow"});
  const std::string id = t.Upload(clip);
  const json job = WaitEncoding(t, id, root.path() + "/work");
  auto cancelled = t.daemon->Cli({"jobs", "cancel", job.value("id", "")});
  INFO(cancelled.out << cancelled.err);
  REQUIRE(cancelled.exit_code == 0);
  const json video = t.WaitState(id, {"failed", "ready"}, 30s);
  CHECK(video["state"] == "failed");
  CHECK_THAT(video.value("failure_reason", ""), Catch::Contains("cancelled"));
  CHECK_THAT(video.value("failure_reason", ""), Catch::Contains("streamgate jobs retry"));
  CHECK(WaitFor([&] { return !EncoderRunsIn(root.path() + "/work"); }, 10s));
  CHECK(WaitFor([&] { return t.Job(id).value("state", "") == "cancelled"; }, 10s));
}

TEST_CASE(
    "kill -9 in the middle of a transcode: ffmpeg dies with the daemon, and the next "
    "daemon finishes the video",
    "[transcoder]") {
  REQUIRE_FFMPEG();
  TempDir root;
  const std::string clip = root.path() + "/long.mp4";
  MakeClip(clip, "640x360", 40, true);
  std::string id;
  {
    Transcoding first(root.path(), {"transcoder.preset=veryslow", "worker.lease=2s"});
    id = first.Upload(clip);
    (void)WaitEncoding(first, id, root.path() + "/work");
    first.daemon->daemon->Signal(SIGKILL);
    REQUIRE(first.daemon->daemon->Wait(10s));
    CHECK(WaitFor([&] { return !EncoderRunsIn(root.path() + "/work"); }, 10s));
  }
  Transcoding second(root.path(), {"worker.lease=2s"});
  const json video = second.WaitState(id, {"ready", "failed"}, 180s);
  INFO(video.dump(2));
  CHECK(video["state"] == "ready");
  CHECK(video["duration"].get<double>() == Approx(40).margin(0.2));
  const json job = second.Job(id);
  CHECK(job.value("attempts", 0) == 2);
  const fs::path dir = fs::path(root.path()) / "media" / "videos" / id / "stream";
  CHECK(CheckMediaPlaylist(dir / "media_0.m3u8") == Approx(40).margin(2));
}

TEST_CASE("on S3 (s3rver) the streams land in the bucket, the master playlist last",
          "[transcoder][s3]") {
  REQUIRE_FFMPEG();
  TempDir root;
  S3rver s3(root, SG_S3RVER_BIN);
  const std::string clip = root.path() + "/clip.mp4";
  MakeClip(clip, "640x360", 3, true);
  std::vector<std::string> sets = QuickLadder();
  for (auto& set : S3Sets(s3)) sets.push_back(set);
  sets.insert(sets.end(), {"metadata.sqlite_path=" + root.path() + "/sg.db",
                           "transcoder.work_dir=" + root.path() + "/work"});
  Transcoding t(std::make_unique<RunningDaemon>(sets));
  const std::string id = t.Upload(clip);
  const json video = t.WaitState(id, {"ready", "failed"});
  INFO(video.dump(2));
  REQUIRE(video["state"] == "ready");
  REQUIRE(video["renditions"].size() == 2);

  auto client = S3Client(s3);
  auto read = [&](const std::string& key) { return ReadObject(*client, key); };
  const std::string prefix = "videos/" + id + "/stream/";
  std::set<std::string> keys;
  std::map<std::string, std::chrono::system_clock::time_point> written;
  const auto listed = client->List(prefix);
  REQUIRE(listed);
  for (const auto& info : *listed) {
    keys.insert(info.key);
    written[info.key] = info.modified;
  }
  // Every name a playlist gives is in the bucket.
  for (const auto& r : video["renditions"]) {
    const std::string playlist = read(r["playlist"].get<std::string>());
    std::istringstream lines(playlist);
    std::string line;
    while (std::getline(lines, line)) {
      if (!line.empty() && line[0] != '#') CHECK(keys.count(prefix + line) == 1);
    }
  }
  CHECK(Contains(read(prefix + "master.m3u8"), "#EXT-X-STREAM-INF"));
  CHECK(Contains(read(prefix + "manifest.mpd"), "</MPD>"));
  for (const auto& [key, when] : written) CHECK(when <= written.at(prefix + "master.m3u8"));
  CHECK(client->Stat("videos/" + id + "/poster.jpg"));
}

}  // namespace sg::test

namespace sg::test {

TEST_CASE("a real SSE client (curl -N) sees the transcode's progress, then the video ready",
          "[transcoder][sse]") {
  REQUIRE_FFMPEG();
  TempDir root;
  const std::string clip = root.path() + "/clip.mp4";
  MakeClip(clip, "640x360", 30, true);
  // Slow enough that the encoding lasts a few seconds: several progress events, two a second.
  Transcoding t(root.path(), {"transcoder.preset=medium"});
  const std::string id = t.Upload(clip);
  Process curl({Tool("curl"), "-sS", "-N", t.Url() + "/api/v1/videos/" + id + "/events"}, root);
  const bool ended = curl.Wait(180s).has_value();
  const std::string events = curl.Stdout();
  INFO(events.substr(0, 4000));
  REQUIRE(ended);  // the stream ends once the video is ready
  CHECK(Contains(events, "event: progress"));
  CHECK(Contains(events, "\"stage\":\"encoding\""));
  CHECK(Contains(events, "\"rendition\":\"240p,360p\""));
  CHECK(Contains(events, "\"eta_seconds\""));
  CHECK(Contains(events, "\"state\":\"processing\""));
  const auto last_state = events.rfind("event: state");
  REQUIRE(last_state != std::string::npos);
  CHECK(Contains(events.substr(last_state), "\"state\":\"ready\""));
  // The record keeps the last progress: 100% once ready.
  const json video = t.Video(id);
  CHECK(video["progress"]["percent"] == 100);
}

}  // namespace sg::test
