// The web page (web/) as the api-gateway serves it from the build tree's share/streamgate/web:
// by hand over HTTP (types, caching, validators, no way out of the folder), and end to end in
// headless chromium (tests/peers/player/web.mjs: upload through the page, progress to ready in
// the library, three seconds played, a reload mid-upload resumed, every page at 360 and 1280 px,
// Sign-In with Ethereum through a stand-in wallet, no console error). Screenshots go to
// build/<preset>/test-artifacts/web. 77, skipped, when ffmpeg, node, chromium or the node modules
// are missing.
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/daemon_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/tools.h"

namespace sg::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

HttpReply Get(uint16_t port, const std::string& target, const std::string& headers = "") {
  HttpConnection c(port);
  auto reply = c.Request("GET", target, headers);
  REQUIRE(reply);
  return *reply;
}

std::string HeaderOf(const HttpReply& reply, const std::string& name) {
  return std::string(reply.headers[name]);
}

}  // namespace

TEST_CASE("the page at / and its hashed assets: types, caching, validators, nothing else",
          "[web]") {
  RunningDaemon d({"plugins.enabled=[api-gateway,cache,monitor]"});
  const auto page = Get(d.port, "/");
  REQUIRE(page.status == 200);
  CHECK(HeaderOf(page, "Content-Type") == "text/html; charset=utf-8");
  CHECK(HeaderOf(page, "Cache-Control") == "no-cache");
  CHECK_FALSE(HeaderOf(page, "ETag").empty());
  CHECK(Contains(HeaderOf(page, "Content-Security-Policy"), "default-src 'self'"));
  // Every asset the page names is ours, hashed, and served for a year; none from elsewhere.
  std::smatch m;
  std::string rest = page.body;
  std::vector<std::string> assets;
  const std::regex ref(R"re((?:src|href)="([^"#]+)")re");
  while (std::regex_search(rest, m, ref)) {
    assets.push_back(m[1]);
    rest = m.suffix();
  }
  REQUIRE(assets.size() >= 5);
  bool saw_tus = false, saw_hls = false;
  for (const auto& a : assets) {
    INFO(a);
    REQUIRE(std::regex_match(a, std::regex(R"(/assets/[A-Za-z0-9_.-]+\.[0-9a-f]{12}\.[a-z]+)")));
    saw_tus = saw_tus || a.starts_with("/assets/tus.min.");
    saw_hls = saw_hls || a.starts_with("/assets/hls.min.");
    const auto got = Get(d.port, a);
    CHECK(got.status == 200);
    CHECK(HeaderOf(got, "Cache-Control") == "public, max-age=31536000, immutable");
    CHECK_FALSE(got.body.empty());
  }
  CHECK(saw_tus);
  CHECK(saw_hls);

  std::string script;
  for (const auto& a : assets)
    if (a.starts_with("/assets/app.") && a.ends_with(".js")) script = a;
  REQUIRE_FALSE(script.empty());
  const auto js = Get(d.port, script);
  CHECK(HeaderOf(js, "Content-Type") == "text/javascript; charset=utf-8");
  const std::string etag = HeaderOf(js, "ETag");
  REQUIRE_FALSE(etag.empty());
  // The modules import each other by their hashed names too.
  CHECK(std::regex_search(js.body, std::regex(R"(from '\./api\.[0-9a-f]{12}\.js')")));
  const auto again = Get(d.port, script, "If-None-Match: " + etag + "\r\n");
  CHECK(again.status == 304);
  CHECK(again.body.empty());
  const auto index_again = Get(d.port, "/", "If-None-Match: " + HeaderOf(page, "ETag") + "\r\n");
  CHECK(index_again.status == 304);

  // Names outside the folder's listing, or not names at all, are 404.
  for (const std::string target :
       {"/assets/../etc/passwd", "/assets/..%2F..%2Fetc%2Fpasswd", "/assets/%2e%2e",
        "/assets/app.css", "/assets/index.html", "/assets/.hidden.js",
        "/assets/nothere.0123456789ab.js", "/assets/app.js.map"}) {
    INFO(target);
    CHECK(Get(d.port, target).status == 404);
  }
}

TEST_CASE("without a page, / says where it would be and the daemon runs on", "[web]") {
  TempDir empty;
  RunningDaemon d(
      {"plugins.enabled=[api-gateway,cache,monitor]", "server.web_root=" + empty.path()});
  const auto page = Get(d.port, "/");
  CHECK(page.status == 404);
  CHECK(Contains(page.body, "server.web_root"));
  CHECK(Get(d.port, "/health").status == 200);
  CHECK(d.LogSays("No web page to serve at /"));
}

TEST_CASE("the web page in headless chromium: upload, progress to ready, play, resume, wallet",
          "[web][browser]") {
  const std::string node = Tool("node");
  const std::string ffmpeg = Tool("ffmpeg");
  const std::string script = std::string(SG_SOURCE_DIR) + "/tests/peers/player/web.mjs";
  TempDir dir;
  const std::string small = dir.path() + "/clip.mp4";
  const std::string large = dir.path() + "/noise.mp4";
  // A 4 s 320x240 clip (three seconds to play), and about 20 MB of noise, losslessly coded.
  REQUIRE(Run({ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i",
               "testsrc2=size=320x240:rate=25:duration=4", "-c:v", "libx264", "-preset",
               "ultrafast", "-pix_fmt", "yuv420p", small},
              {}, 120s)
              .exit_code == 0);
  REQUIRE(Run({ffmpeg,     "-v",        "error", "-y",
               "-f",       "lavfi",     "-i",    "nullsrc=s=640x480:r=25,noise=alls=100:allf=t+u",
               "-t",       "20",        "-c:v",  "libx264",
               "-preset",  "ultrafast", "-qp",   "0",
               "-pix_fmt", "yuv420p",   "-fs",   "20M",
               large},
              {}, 120s)
              .exit_code == 0);
  CHECK(fs::file_size(large) > 16'000'000);

  RunningDaemon d({"transcoder.preset=ultrafast", "transcoder.ladder=[240p:300k]",
                   "transcoder.segment_duration=2s", "storage.path=" + dir.path() + "/media",
                   "transcoder.work_dir=" + dir.path() + "/work"});
  const std::string artifacts = std::string(SG_ARTIFACTS_DIR) + "/web";
  fs::remove_all(artifacts);
  auto ran = Run({node, script, "--url", "http://127.0.0.1:" + std::to_string(d.port), "--small",
                  small, "--large", large, "--artifacts", artifacts, "--timeout", "240"},
                 {}, 300s);
  INFO(ran.out << ran.err << d.daemon->Stderr().substr(0, 6000));
  if (ran.exit_code == 77) {
    std::cerr << "skipped: " << ran.err << '\n';
    std::exit(77);
  }
  // The verdict is the last line on stdout.
  const size_t start = ran.out.rfind("\n{");
  const auto verdict =
      json::parse(start == std::string::npos ? ran.out : ran.out.substr(start + 1));
  CHECK(verdict["ok"] == true);
  CHECK(ran.exit_code == 0);
  CHECK(verdict["console"].empty());
  CHECK(verdict["states"].back() == "ready");
  CHECK(verdict["currentTime"].get<double>() >= 3);
  CHECK(verdict["resume"]["first_offset"].get<int64_t>() > 0);
  CHECK(verdict["resume"]["resumed_at"].get<int64_t>() >=
        verdict["resume"]["first_offset"].get<int64_t>());
  CHECK(verdict["resume"]["source_size"] == verdict["resume"]["size"]);
  // Sign-In with Ethereum through a stand-in wallet (ethers, tests/peers/chain) when it is there.
  const std::string wallet =
      verdict["wallet"].is_string() ? verdict["wallet"].get<std::string>() : "";
  CHECK((wallet == "signed in" || wallet == "skipped"));
  if (wallet == "signed in") {
    CHECK(std::regex_match(verdict["wallet_subject"].get<std::string>(),
                           std::regex("0x[0-9a-fA-F]{40}")));
  }
  for (const char* name : {"library", "upload", "watch", "status"}) {
    for (const char* width : {"360", "1280"}) {
      const fs::path shot = fs::path(artifacts) / (std::string(name) + "-" + width + ".png");
      INFO(shot);
      CHECK(fs::exists(shot));
      if (fs::exists(shot)) CHECK(fs::file_size(shot) > 1000);
    }
  }
}

}  // namespace sg::test
