// The transcoder's decisions without running ffmpeg: the ladder, ffprobe's report, the command,
// -progress parsing and the upload order.
#include "daemon/plugins/transcoder/ladder.h"

#include <algorithm>

#include <catch2/catch.hpp>

namespace sg::plugins::transcoder {
namespace {

std::string ProbeJson(int width, int height, bool audio = true, const std::string& extra = "",
                      const std::string& duration = "\"12.5\"") {
  std::string streams =
      "{\"codec_type\":\"video\",\"codec_name\":\"h264\",\"width\":" + std::to_string(width) +
      ",\"height\":" + std::to_string(height) + ",\"avg_frame_rate\":\"30000/1001\"" + extra + "}";
  if (audio) streams += ",{\"codec_type\":\"audio\",\"codec_name\":\"aac\"}";
  return "{\"streams\":[" + streams +
         "],\"format\":{\"format_name\":\"mov\",\"duration\":" + duration + "}}";
}

bool Has(const std::vector<std::string>& args, const std::string& arg) {
  return std::find(args.begin(), args.end(), arg) != args.end();
}

}  // namespace

TEST_CASE("the ladder parses HEIGHTp:BITRATE rungs, sorted, and refuses bad ones", "[transcoder]") {
  auto ladder = ParseLadder({"720p:2800k", "240p:400k", "1080p:5M", "360p:0.8M"});
  REQUIRE(ladder);
  REQUIRE(ladder->size() == 4);
  CHECK(ladder->front().name == "240p");
  CHECK(ladder->front().bitrate == 400000);
  CHECK((*ladder)[1].bitrate == 800000);
  CHECK(ladder->back().height == 1080);
  CHECK(ladder->back().bitrate == 5000000);
  for (const char* bad :
       {"720:2800k", "720p", "p:100k", "721p:1M", "720p:1x", "720p:10", "99999p:1M", "720p:-1M"}) {
    auto refused = ParseLadder({bad});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::kConfig);
    CHECK_THAT(refused.error().message, Catch::Contains("transcoder.ladder"));
  }
  CHECK_FALSE(ParseLadder({}));
  auto twice = ParseLadder({"720p:1M", "720p:2M"});
  REQUIRE_FALSE(twice);
  CHECK_THAT(twice.error().message, Catch::Contains("720p"));
}

TEST_CASE("ffprobe's report: what a source is, and why one cannot be transcoded", "[transcoder]") {
  auto probe = ParseProbe(ProbeJson(1920, 1080), 8192);
  REQUIRE(probe);
  CHECK(probe->width == 1920);
  CHECK(probe->height == 1080);
  CHECK(probe->fps == Approx(29.97).epsilon(0.001));
  CHECK(probe->duration == Approx(12.5));
  CHECK(probe->has_audio);
  CHECK(probe->video_codec == "h264");

  // A phone video recorded upright: displayed 1080x1920.
  auto rotated =
      ParseProbe(ProbeJson(1920, 1080, false, ",\"side_data_list\":[{\"rotation\":-90}]"), 8192);
  REQUIRE(rotated);
  CHECK(rotated->width == 1080);
  CHECK(rotated->height == 1920);
  CHECK_FALSE(rotated->has_audio);

  auto refused = [](const std::string& json, int max, const std::string& says) {
    auto r = ParseProbe(json, max);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
    CHECK_THAT(r.error().message, Catch::Contains(says));
  };
  refused("not json", 8192, "not JSON");
  refused("{\"streams\":[{\"codec_type\":\"audio\"}],\"format\":{}}", 8192, "no video stream");
  refused("{\"streams\":[],\"format\":{}}", 8192, "no video stream");
  refused(ProbeJson(10000, 10000), 8192, "transcoder.max_dimension");
  refused(ProbeJson(8, 8), 8192, "too small");
  refused(ProbeJson(640, 360, true, "", "\"N/A\""), 8192, "no duration");
  // Cover art is a picture, not the video.
  refused(
      "{\"streams\":[{\"codec_type\":\"video\",\"width\":600,\"height\":600,"
      "\"disposition\":{\"attached_pic\":1}},{\"codec_type\":\"audio\"}],"
      "\"format\":{\"duration\":\"3\"}}",
      8192, "no video stream");
}

TEST_CASE("the plan never upscales, keeps the aspect and even sizes", "[transcoder]") {
  auto ladder = ParseLadder({"240p:400k", "360p:800k", "480p:1400k", "720p:2800k", "1080p:5M"});
  REQUIRE(ladder);
  Probe hd;
  hd.width = 1280;
  hd.height = 720;
  auto outputs = PlanLadder(*ladder, hd);
  REQUIRE(outputs.size() == 4);
  CHECK(outputs.back().name == "720p");
  CHECK(outputs.back().width == 1280);
  CHECK(outputs.front().width == 426);
  for (const auto& o : outputs) {
    CHECK(o.width % 2 == 0);
    CHECK(o.height % 2 == 0);
  }
  Probe tall;  // upright phone video
  tall.width = 1080;
  tall.height = 1920;
  auto upright = PlanLadder(*ladder, tall);
  REQUIRE(upright.size() == 5);
  CHECK(upright.back().width == 608);
  Probe tiny;
  tiny.width = 177;
  tiny.height = 145;
  auto small = PlanLadder(*ladder, tiny);
  REQUIRE(small.size() == 1);
  CHECK(small.front().height == 144);
  CHECK(small.front().width == 176);
  CHECK(small.front().bitrate == 400000);
}

TEST_CASE("one ffmpeg command makes every rendition, keyframes aligned, audio when there is some",
          "[transcoder]") {
  Probe probe;
  probe.width = 1280;
  probe.height = 720;
  probe.fps = 25;
  probe.duration = 10;
  probe.has_audio = true;
  std::vector<Output> outputs = {{"360p", 640, 360, 800000}, {"720p", 1280, 720, 2800000}};
  EncodeSettings settings;
  settings.segment_seconds = 2;
  auto args = FfmpegArgs("/in/source", "/out", outputs, probe, settings, true);
  CHECK(args.front() == "ffmpeg");
  CHECK(std::count(args.begin(), args.end(), "-i") == 1);  // one decode
  CHECK(Has(args,
            "[0:v:0]scale=w=1280:h=720,format=yuv420p,split=2[v1][c1];"
            "[c1]scale=w=640:h=360,format=yuv420p[v0]"));
  CHECK(Has(args, "expr:gte(t,n_forced*2)"));
  CHECK(Has(args, "-sc_threshold"));
  CHECK(Has(args, "50"));  // -g: 25 fps × 2 s
  CHECK(Has(args, "0:a:0"));
  CHECK(Has(args, "id=0,streams=v id=1,streams=a"));
  CHECK(Has(args, "-progress"));
  CHECK(args.back() == "/out/manifest.mpd");
  probe.has_audio = false;
  auto silent = FfmpegArgs("/in/source", "/out", outputs, probe, settings, false);
  CHECK_FALSE(Has(silent, "0:a:0"));
  CHECK_FALSE(Has(silent, "-c:a"));
  CHECK(Has(silent, "id=0,streams=v"));
  CHECK_FALSE(Has(silent, "-progress"));
}

TEST_CASE("the scalers cascade: each rendition from the next larger, whatever the order",
          "[transcoder]") {
  CHECK(ScaleGraph({{"240p", 426, 240, 400000}}) == "[0:v:0]scale=w=426:h=240,format=yuv420p[v0]");
  const std::vector<Output> three = {
      {"480p", 854, 480, 1400000}, {"240p", 426, 240, 400000}, {"1080p", 1920, 1080, 5000000}};
  CHECK(ScaleGraph(three) ==
        "[0:v:0]scale=w=1920:h=1080,format=yuv420p,split=2[v2][c2];"
        "[c2]scale=w=854:h=480,format=yuv420p,split=2[v0][c0];"
        "[c0]scale=w=426:h=240,format=yuv420p[v1]");
}

TEST_CASE("ffmpeg's -progress blocks become reports", "[transcoder]") {
  ProgressParser parser;
  CHECK_FALSE(parser.Feed("frame=120"));
  CHECK_FALSE(parser.Feed("fps=59.5"));
  CHECK_FALSE(parser.Feed("out_time_us=4000000"));
  CHECK_FALSE(parser.Feed("speed=2.5x"));
  auto report = parser.Feed("progress=continue");
  REQUIRE(report);
  CHECK(report->out_seconds == Approx(4));
  CHECK(*report->fps == Approx(59.5));
  CHECK(*report->speed == Approx(2.5));
  CHECK_FALSE(report->end);
  CHECK_FALSE(parser.Feed("speed=N/A"));
  CHECK_FALSE(parser.Feed("garbage without an equals sign"));
  CHECK_FALSE(parser.Feed("out_time_us=-5"));
  auto last = parser.Feed("progress=end");
  REQUIRE(last);
  CHECK(last->end);
  CHECK_FALSE(last->speed);
  CHECK(last->out_seconds == Approx(4));  // kept across blocks
}

TEST_CASE("segments reach storage before the playlists that name them, the master last",
          "[transcoder]") {
  auto order = UploadOrder({"master.m3u8", "media_0.m3u8", "seg-0-00002.m4s", "manifest.mpd",
                            "init-0.m4s", "seg-0-00001.m4s", "media_1.m3u8"});
  REQUIRE(order.size() == 7);
  CHECK(order[0] == "seg-0-00001.m4s");
  CHECK(order[1] == "seg-0-00002.m4s");
  CHECK(order[2] == "init-0.m4s");
  CHECK(order[5] == "manifest.mpd");
  CHECK(order[6] == "master.m3u8");
}

}  // namespace sg::plugins::transcoder
