// The streaming plugin through a real streamgated: a clip made by ffmpeg (lavfi), uploaded with the
// real CLI and transcoded, then read back over HTTP by real clients (ffprobe and ffmpeg on the HLS
// and DASH URLs, hls.js and dash.js in headless chromium) and by hand for what players and CDNs
// expect (types, validators, ranges, caching, CORS) and for bad input; and from S3 (s3rver) through
// the cache, where many viewers cost one fetch.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/child_process.h"
#include "daemon/plugin_api/shared_bytes.h"
#include "tests/support/daemon_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/s3_client.h"
#include "tests/support/s3rver.h"
#include "tests/support/tools.h"

namespace sg::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

const std::vector<std::string> kQuick = {
    "transcoder.segment_duration=2s", "transcoder.preset=ultrafast",
    "transcoder.ladder=[180p:200k, 360p:600k, 720p:1500k]", "streaming.state_ttl=0s"};

// A daemon with a ready video: a 6 s 640x360 25 fps clip with sound, transcoded.
struct Ready {
  explicit Ready(std::vector<std::string> more = {}, bool local = true) {
    const std::string clip = dir.path() + "/clip.mp4";
    REQUIRE(LavfiClip(clip, "640x360", 6));
    std::vector<std::string> sets = kQuick;
    if (local) sets.push_back("storage.path=" + dir.path() + "/media");
    sets.push_back("transcoder.work_dir=" + dir.path() + "/work");
    sets.insert(sets.end(), more.begin(), more.end());
    daemon = std::make_unique<RunningDaemon>(sets);
    auto up = daemon->Cli({"upload", clip, "--url", Base(), "--wait", "--json"});
    INFO(up.out << up.err << daemon->daemon->Stderr().substr(0, 10000));
    REQUIRE(up.exit_code == 0);
    std::smatch m;
    REQUIRE(std::regex_search(up.out, m, std::regex(R"re("video":"([0-9A-Z]{26})")re")));
    id = m[1];
  }
  std::string Base() const { return "http://127.0.0.1:" + std::to_string(daemon->port); }
  std::string Url(const std::string& file) const { return Base() + Path(file); }
  std::string Path(const std::string& file) const { return "/videos/" + id + "/" + file; }
  HttpReply Get(const std::string& target, const std::string& headers = "",
                const std::string& method = "GET") const {
    HttpConnection c(daemon->port);
    auto reply = c.Request(method, target, headers);
    REQUIRE(reply);
    return *reply;
  }

  TempDir dir;
  std::unique_ptr<RunningDaemon> daemon;
  std::string id;
};

std::string HeaderOf(const HttpReply& reply, const std::string& name) {
  return std::string(reply.headers[name]);
}

// ffprobe's count of decoded video frames and the duration, of a URL's first video stream.
std::pair<int, double> FramesAndDuration(const std::string& url) {
  auto probed = Run({Tool("ffprobe"), "-v", "error", "-count_frames", "-select_streams", "v:0",
                     "-show_entries", "stream=nb_read_frames:format=duration", "-of", "json", url},
                    {}, 120s);
  INFO(url << ": " << probed.err);
  REQUIRE(probed.exit_code == 0);
  const auto j = json::parse(probed.out);
  return {std::stoi(j["streams"][0]["nb_read_frames"].get<std::string>()),
          std::stod(j["format"]["duration"].get<std::string>())};
}

}  // namespace

TEST_CASE("ffprobe and ffmpeg read the HLS and DASH URLs end to end", "[streaming]") {
  Ready r;
  for (const std::string file : {"master.m3u8", "media_0.m3u8", "manifest.mpd"}) {
    const auto [frames, duration] = FramesAndDuration(r.Url(file));
    INFO(file);
    CHECK(frames == 150);  // 6 s at 25 fps, every frame there
    CHECK(duration == Approx(6).margin(0.1));
  }
  // ffmpeg copies the whole HLS presentation's best rendition and its sound.
  const std::string copy = r.dir.path() + "/copy.mp4";
  auto copied = Run({Tool("ffmpeg"), "-v", "error", "-y", "-i", r.Url("master.m3u8"), "-map",
                     "0:v:0", "-map", "0:a:0", "-c", "copy", copy},
                    {}, 120s);
  INFO(copied.err);
  REQUIRE(copied.exit_code == 0);
  CHECK(FramesAndDuration(copy).first == 150);
}

TEST_CASE("what players and CDNs expect: types, validators, ranges, caching, CORS, HEAD",
          "[streaming]") {
  Ready r;
  const auto master = r.Get(r.Path("master.m3u8"));
  CHECK(master.status == 200);
  CHECK(HeaderOf(master, "Content-Type") == "application/vnd.apple.mpegurl");
  CHECK(HeaderOf(master, "Cache-Control") == "public, max-age=10");
  CHECK(HeaderOf(r.Get(r.Path("manifest.mpd")), "Content-Type") == "application/dash+xml");
  CHECK(HeaderOf(r.Get(r.Path("init-0.m4s")), "Content-Type") == "video/mp4");
  CHECK(HeaderOf(r.Get(r.Path("poster.jpg")), "Content-Type") == "image/jpeg");
  const auto segment = r.Get(r.Path("seg-0-00001.m4s"));
  REQUIRE(segment.status == 200);
  CHECK(HeaderOf(segment, "Content-Type") == "video/iso.segment");
  CHECK(HeaderOf(segment, "Cache-Control") == "public, max-age=31536000, immutable");
  const std::string etag = HeaderOf(segment, "ETag");
  CHECK(etag.size() > 2);
  CHECK(etag.front() == '"');  // strong
  CHECK_FALSE(HeaderOf(segment, "Last-Modified").empty());
  CHECK(HeaderOf(segment, "Accept-Ranges") == "bytes");
  // Nothing varies per viewer: no cookie, no Vary on anything a viewer sends.
  CHECK(HeaderOf(segment, "Set-Cookie").empty());
  const size_t size = segment.body.size();

  CHECK(r.Get(r.Path("seg-0-00001.m4s"), "If-None-Match: " + etag + "\r\n").status == 304);
  const auto part = r.Get(r.Path("seg-0-00001.m4s"), "Range: bytes=10-19\r\n");
  CHECK(part.status == 206);
  CHECK(part.body == segment.body.substr(10, 10));
  CHECK(HeaderOf(part, "Content-Range") == "bytes 10-19/" + std::to_string(size));
  const auto tail = r.Get(r.Path("seg-0-00001.m4s"), "Range: bytes=-5\r\n");
  CHECK(tail.status == 206);
  CHECK(tail.body == segment.body.substr(size - 5));
  // Bad ranges: past the end is 416; inverted, several, huge or negative are ignored (200).
  const auto past =
      r.Get(r.Path("seg-0-00001.m4s"), "Range: bytes=" + std::to_string(size) + "-\r\n");
  CHECK(past.status == 416);
  CHECK(HeaderOf(past, "Content-Range") == "bytes */" + std::to_string(size));
  for (const std::string bad :
       {"bytes=20-10", "bytes=0-1,5-6", "bytes=-", "bytes=--5", "bytes=99999999999999999999999-",
        "bytes=-99999999999999999999999", "items=0-5", "bytes=abc-def"}) {
    const auto reply = r.Get(r.Path("seg-0-00001.m4s"), "Range: " + bad + "\r\n");
    INFO(bad);
    CHECK((reply.status == 200 || reply.status == 416));
    if (reply.status == 200) CHECK(reply.body.size() == size);
  }
  const auto head = r.Get(r.Path("seg-0-00001.m4s"), "", "HEAD");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(HeaderOf(head, "Content-Length") == std::to_string(size));
  const auto cors = r.Get(r.Path("master.m3u8"), "Origin: https://player.example\r\n");
  CHECK(HeaderOf(cors, "Access-Control-Allow-Origin") == "*");
}

TEST_CASE("bad input: unknown ids, bad paths, traversal, states that do not play, a segment gone",
          "[streaming]") {
  Ready r;
  CHECK(r.Get("/videos/01ARZ3NDEKTSV4RRFFQ69G5FAV/master.m3u8").status == 404);
  const auto bad_id = r.Get("/videos/not-an-id/master.m3u8");
  CHECK(bad_id.status == 404);
  CHECK(Contains(bad_id.body, "\"hint\""));
  for (const std::string& path : std::vector<std::string>{
           "/videos/" + r.id + "/source", "/videos/" + r.id + "/..%2F..%2Fsg.db",
           "/videos/" + r.id + "/%2e%2e/source", "/videos/../etc/passwd",
           "/videos/" + r.id + "/seg-0-1.m4s/../../source", "/videos/" + r.id + "/media_0.m3u8%00",
           "/videos/" + r.id + "/init-0.m4s.tmp", "/videos/%2e%2e/" + r.id + "/master.m3u8"}) {
    INFO(path);
    CHECK(r.Get(path).status == 404);
  }
  // A playlist is answered from memory, checked against the file on every request: the same
  // validators as a file answer, and a playlist written anew is served new at once.
  {
    const fs::path file =
        fs::path(r.dir.path()) / "media" / "videos" / r.id / "stream" / "master.m3u8";
    const auto first = r.Get(r.Path("master.m3u8"));
    REQUIRE(first.status == 200);
    std::ifstream in(file, std::ios::binary);
    CHECK(first.body == std::string((std::istreambuf_iterator<char>(in)), {}));
    const std::string tag = HeaderOf(first, "ETag");
    CHECK(tag.front() == '"');
    CHECK(r.Get(r.Path("master.m3u8")).body == first.body);
    CHECK(HeaderOf(r.Get(r.Path("master.m3u8")), "ETag") == tag);
    CHECK(r.Get(r.Path("master.m3u8"), "If-None-Match: " + tag + "\r\n").status == 304);
    const auto part = r.Get(r.Path("master.m3u8"), "Range: bytes=0-6\r\n");
    CHECK(part.status == 206);
    CHECK(part.body == "#EXTM3U");
    CHECK(r.Get(r.Path("master.m3u8"), "", "HEAD").body.empty());
    // Written anew under a new inode, as the transcoder does (a rename over the old one).
    const fs::path next = file.string() + ".new";
    std::ofstream(next, std::ios::binary) << first.body << "# again\n";
    fs::rename(next, file);
    const auto again = r.Get(r.Path("master.m3u8"));
    CHECK(again.body == first.body + "# again\n");
    CHECK(HeaderOf(again, "ETag") != tag);
    CHECK(r.Get(r.Path("master.m3u8"), "If-None-Match: " + tag + "\r\n").status == 200);
  }
  // A segment deleted from storage under a viewer: 404, and the daemon keeps serving.
  fs::remove(fs::path(r.dir.path()) / "media" / "videos" / r.id / "stream" / "seg-0-00002.m4s");
  CHECK(r.Get(r.Path("seg-0-00002.m4s")).status == 404);
  CHECK(r.Get(r.Path("seg-0-00001.m4s")).status == 200);
  // Viewers that leave in the middle of a large file (the daemon's sendfile meets a reset
  // connection: EPIPE, never a SIGPIPE that kills it).
  const fs::path big =
      fs::path(r.dir.path()) / "media" / "videos" / r.id / "stream" / "seg-9-00001.m4s";
  std::ofstream(big, std::ios::binary) << std::string(16 << 20, 'x');
  for (int i = 0; i < 20; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(r.daemon->port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    const std::string request = "GET " + r.Path("seg-9-00001.m4s") + " HTTP/1.1\r\nHost: x\r\n\r\n";
    REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size()));
    char head[256];
    CHECK(::recv(fd, head, sizeof head, 0) > 0);
    linger reset{1, 0};  // close with a reset, unread bytes and all
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(fd);
  }
  CHECK(r.daemon->daemon->Running());
  CHECK(r.Get(r.Path("seg-0-00001.m4s")).status == 200);

  // Deleted: 410.
  HttpConnection c(r.daemon->port);
  auto deleted = c.Request("DELETE", "/api/v1/videos/" + r.id);
  REQUIRE(deleted);
  CHECK(deleted->status < 300);
  CHECK(WaitFor([&] { return r.Get(r.Path("master.m3u8")).status == 410; }, 10s));
  HttpConnection metrics(r.daemon->metrics_port);
  auto m = metrics.Request("GET", "/metrics");
  REQUIRE(m);
  CHECK(Contains(m->body, "streamgate_streaming_failures_total{reason=\"gone\"}"));
  CHECK(Contains(m->body, "streamgate_streaming_responses_total{kind=\"segment\",code=\"2xx\"}"));
}

TEST_CASE("a private video plays only from its capability URL, which players follow",
          "[streaming][auth]") {
  Ready r;
  {
    HttpConnection c(r.daemon->port);
    const std::string body = R"({"visibility":"private"})";
    c.Send("PATCH /api/v1/videos/" + r.id +
           " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body);
    auto patched = c.Read(10s);
    REQUIRE(patched);
    REQUIRE(patched->status == 200);
  }
  const auto refused = r.Get(r.Path("master.m3u8"));
  CHECK(refused.status == 403);
  CHECK(Contains(refused.body, "/playback"));
  // Anyone else: the video does not exist. Its owner (the operator here): the URLs to play.
  CHECK(r.Get("/api/v1/videos/" + r.id + "/playback").status == 404);
  auto token = r.daemon->Cli({"auth", "token"});
  REQUIRE(token.exit_code == 0);
  const std::string bearer =
      "Authorization: Bearer " + token.out.substr(0, token.out.find('\n')) + "\r\n";
  const auto playback = r.Get("/api/v1/videos/" + r.id + "/playback", bearer);
  INFO(playback.body);
  REQUIRE(playback.status == 200);
  const json urls = json::parse(playback.body);
  const std::string hls = urls.at("hls");
  REQUIRE(hls.starts_with("/p/"));
  CHECK(urls.at("expires_at").is_string());
  // The playlists' relative URIs keep the capability: ffprobe reads every frame through it.
  const auto [frames, duration] = FramesAndDuration(r.Base() + hls);
  CHECK(frames >= 140);
  CHECK(duration > 5.5);
  const std::string dash = urls.at("dash");
  CHECK(r.Get(dash).status == 200);
  // Tampered, or for another video: 403 saying what to do.
  std::string tampered = hls;
  tampered[5] = tampered[5] == 'A' ? 'B' : 'A';
  const auto bad = r.Get(tampered);
  CHECK(bad.status == 403);
  CHECK(Contains(bad.body, "bad_capability"));
  const std::string cap = hls.substr(3, hls.find("/videos/") - 3);
  CHECK(r.Get("/p/" + cap + "/videos/01ARZ3NDEKTSV4RRFFQ69G5FAV/master.m3u8").status == 403);
  HttpConnection metrics(r.daemon->metrics_port);
  auto m = metrics.Request("GET", "/metrics");
  REQUIRE(m);
  CHECK(Contains(m->body, "streamgate_streaming_failures_total{reason=\"capability\"} 2"));
}

TEST_CASE("a video that is not ready yet answers 409 with what to do", "[streaming]") {
  TempDir dir;
  const std::string clip = dir.path() + "/clip.mp4";
  std::ofstream(clip) << "not a video, and no transcoder runs";
  RunningDaemon d({"storage.path=" + dir.path() + "/media",
                   "plugins.enabled=[api-gateway,monitor,metadata,worker,upload,streaming]"});
  auto up =
      d.Cli({"upload", clip, "--url", "http://127.0.0.1:" + std::to_string(d.port), "--json"});
  REQUIRE(up.exit_code == 0);
  std::smatch m;
  REQUIRE(std::regex_search(up.out, m, std::regex(R"re("video":"([0-9A-Z]{26})")re")));
  HttpConnection c(d.port);
  auto reply = c.Request("GET", "/videos/" + std::string(m[1]) + "/master.m3u8");
  REQUIRE(reply);
  CHECK(reply->status == 409);
  CHECK(Contains(reply->body, "uploaded, not ready to play"));
  CHECK(Contains(reply->body, "/events"));
}

namespace {

// The player's error events that fail the test: all of them, except that under a sanitizer (the
// daemon several times slower, other tests beside it) hls.js may report a non-fatal
// bufferStalledError, the buffer running dry for a moment, which it recovers from by itself.
json UnexpectedPlayerErrors(const json& errors) {
  json unexpected = json::array();
  for (const auto& e : errors) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    if (e.value("fatal", true) == false && e.value("details", "") == "bufferStalledError") continue;
#endif
    unexpected.push_back(e);
  }
  return unexpected;
}

}  // namespace

TEST_CASE("hls.js and dash.js play the video in headless chromium", "[streaming][browser]") {
  const std::string player = std::string(SG_SOURCE_DIR) + "/tests/peers/player/play.mjs";
  const std::string node = Tool("node");
  Ready r;
  const std::string artifacts = std::string(SG_ARTIFACTS_DIR);
  fs::create_directories(artifacts);
  for (const auto& [flag, file] : std::vector<std::pair<std::string, std::string>>{
           {"--hls", "master.m3u8"}, {"--dash", "manifest.mpd"}}) {
    const std::string shot = artifacts + "/streaming" + flag.substr(1) + ".png";
    auto played =
        Run({node, player, flag, r.Url(file), "--seconds", "3", "--screenshot", shot}, {}, 120s);
    INFO(flag << ": " << played.out << played.err);
    if (played.exit_code == 77) {
      std::cerr << "skipped: " << played.out << played.err << '\n';
      std::exit(77);
    }
    REQUIRE(played.exit_code == 0);
    // The verdict is the last line (play.mjs prints one JSON line); an error's message inside it
    // may hold braces of its own, so the line, not the last '{'.
    std::string out = played.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    const auto verdict = json::parse(out.substr(out.rfind('\n') + 1));
    CHECK(verdict["ok"] == true);
    CHECK(verdict["currentTime"].get<double>() >= 3);
    CHECK(UnexpectedPlayerErrors(verdict["errors"]).empty());
    CHECK(verdict["levels"] == 2);
    CHECK(fs::file_size(shot) > 1000);
  }
}

TEST_CASE("from S3 (s3rver): ffprobe reads it, and a hundred viewers of a segment cost one fetch",
          "[streaming][s3]") {
  TempDir s3dir;
  S3rver s3(s3dir, SG_S3RVER_BIN);
  Ready r({"storage.type=s3", "storage.endpoint=" + s3.endpoint(), "storage.bucket=streamgate",
           "storage.region=us-east-1", "storage.accesskey=S3RVER", "storage.secretkey=S3RVER"},
          false);
  const auto [frames, duration] = FramesAndDuration(r.Url("master.m3u8"));
  CHECK(frames == 150);
  CHECK(duration == Approx(6).margin(0.1));
  // A hundred requests for one segment at once: one load from the store.
  std::vector<std::thread> viewers;
  std::atomic<int> ok{0};
  for (int i = 0; i < 100; ++i) {
    viewers.emplace_back([&] {
      HttpConnection c(r.daemon->port);
      auto reply = c.Request("GET", r.Path("seg-1-00002.m4s"));
      if (reply && reply->status == 200 && reply->body.size() > 100) ++ok;
    });
  }
  for (auto& v : viewers) v.join();
  CHECK(ok == 100);
  const auto segment = r.Get(r.Path("seg-1-00002.m4s"));
  // A cached segment this large lives in a file of its own and goes out by sendfile from it: the
  // bytes must be those the store holds, whole and in ranges (offsets past a page included).
  REQUIRE(segment.body.size() > sg::SharedBytes::kFileThreshold);
  const auto direct = sg::test::S3Client(s3);
  CHECK(segment.body ==
        sg::test::ReadObject(*direct, "videos/" + r.id + "/stream/seg-1-00002.m4s"));
  // An unnamed file of the state folder's cache/ (or a memfd where that folder is not ours).
  // Its bytes start on a page, so that sendfile moves whole pages (from the header's end each
  // page went out in two pieces).
  bool in_file = false;
  size_t body_offset = std::string::npos;
  for (const auto& fd :
       fs::directory_iterator("/proc/" + std::to_string(r.daemon->daemon->pid()) + "/fd")) {
    std::error_code ec;
    const std::string target = fs::read_symlink(fd.path(), ec).string();
    if (!std::regex_search(target, std::regex(R"(/cache/#\d+|memfd:streamgate-cache)"))) continue;
    in_file = true;
    std::ifstream held(fd.path(), std::ios::binary);
    const std::string value((std::istreambuf_iterator<char>(held)), {});
    if (value.size() > segment.body.size() &&
        value.compare(value.size() - segment.body.size(), std::string::npos, segment.body) == 0) {
      body_offset = value.size() - segment.body.size();
    }
  }
  CHECK(in_file);
  REQUIRE(body_offset != std::string::npos);
  CHECK(body_offset % 4096 == 0);
  const auto deep = r.Get(r.Path("seg-1-00002.m4s"), "Range: bytes=5000-30000\r\n");
  CHECK(deep.status == 206);
  CHECK(deep.body == segment.body.substr(5000, 25001));
  const auto part = r.Get(r.Path("seg-1-00002.m4s"), "Range: bytes=4-11\r\n");
  CHECK(part.status == 206);
  CHECK(part.body == segment.body.substr(4, 8));
  CHECK(HeaderOf(part, "Content-Range") == "bytes 4-11/" + std::to_string(segment.body.size()));
  CHECK(r.Get(r.Path("seg-1-00002.m4s"), "If-None-Match: " + HeaderOf(segment, "ETag") + "\r\n")
            .status == 304);
  // Answered from the cached copy on the I/O thread: HEAD, a range past the end, a playlist.
  const auto headed = r.Get(r.Path("seg-1-00002.m4s"), "", "HEAD");
  CHECK(headed.status == 200);
  CHECK(headed.body.empty());
  CHECK(HeaderOf(headed, "Content-Length") == std::to_string(segment.body.size()));
  CHECK(r.Get(r.Path("seg-1-00002.m4s"),
              "Range: bytes=" + std::to_string(segment.body.size()) + "-\r\n")
            .status == 416);
  const auto master = r.Get(r.Path("master.m3u8"));
  CHECK(master.status == 200);
  CHECK(master.body.rfind("#EXTM3U", 0) == 0);
  CHECK(r.Get(r.Path("master.m3u8")).body == master.body);
  HttpConnection metrics(r.daemon->metrics_port);
  auto m = metrics.Request("GET", "/metrics");
  REQUIRE(m);
  std::smatch loads;
  REQUIRE(std::regex_search(m->body, loads,
                            std::regex(R"(streamgate_streaming_object_cache_loads_total (\d+))")));
  // The probe above loaded each file once; the hundred viewers and the ranges added nothing.
  std::smatch requests;
  REQUIRE(std::regex_search(
      m->body, requests, std::regex(R"(streamgate_streaming_object_cache_requests_total (\d+))")));
  CHECK(std::stoi(requests[1]) - std::stoi(loads[1]) >= 102);
}

}  // namespace sg::test
