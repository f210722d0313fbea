// tus-js-client, the tus project's own client, in node (tests/peers/tus/client-scenarios.mjs)
// against a real streamgated: a plain upload, an abort in the middle of a PATCH then a resume
// from the stored URL, a parallel upload (concatenation) and checksums added by the client. Each
// upload must land byte for byte as its video's source object in storage, and the video must be
// in the catalogue as "uploaded".
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/daemon_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/tus_peers.h"

namespace sg::test {
namespace {

using nlohmann::json;

json Get(uint16_t port, const std::string& target) {
  HttpConnection c(port);
  const auto reply = c.Request("GET", target);
  if (!reply || reply->status != 200) return json();
  return json::parse(reply->body, nullptr, false);
}

// A string field of a scenario's result, "" when it is absent or null.
std::string Field(const json& s, const std::string& key) {
  return s.contains(key) && s[key].is_string() ? s[key].get<std::string>() : "";
}

// The daemon's log is long; its end says what went wrong.
std::string Tail(const std::string& text, size_t n = 4000) {
  return text.size() <= n ? text : text.substr(text.size() - n);
}

// Runs one scenario of client-scenarios.mjs against a fresh daemon and checks what it stored.
// Returns the scenario's JSON result for checks of its own.
json RunScenario(const std::string& name) {
  TempDir media_dir;
  const std::string media = media_dir.path() + "/media";
  std::filesystem::create_directories(media);
  RunningDaemon d(UploadDaemonSets(media));
  TempDir out;
  const RunResult run = RunTusScript(
      "client-scenarios.mjs", {"--endpoint", UploadsUrl(d), "--out", out.path(), "--only", name},
      std::chrono::minutes(4));
  INFO("client-scenarios.mjs said:\n" << run.out << run.err);
  INFO("streamgated's log ends with:\n" << Tail(d.daemon->Stderr()));
  const json report = json::parse(run.out, nullptr, false);
  REQUIRE(report.is_object());
  REQUIRE(report["scenarios"].size() == 1);
  const json s = report["scenarios"][0];
  CHECK(run.exit_code == 0);
  CHECK(s.value("ok", false));
  REQUIRE(s.contains("id"));
  const std::string id = s["id"];
  CHECK(id.size() == 26);

  // The finished upload is the video's source object, byte for byte.
  const std::string source = media + "/videos/" + id + "/source";
  CHECK(WaitFor([&] { return std::filesystem::exists(source); }, 10s));
  const std::string sent = ReadFile(Field(s, "file"));
  const std::string stored = ReadFile(source);
  CHECK(stored.size() == sent.size());
  CHECK((stored == sent));

  // ... and a video in the catalogue, moved to "uploaded".
  json video;
  const bool uploaded = WaitFor(
      [&] {
        video = Get(d.port, "/api/v1/videos/" + id);
        return video.is_object() && video.value("state", "") == "uploaded";
      },
      10s);
  INFO("GET /api/v1/videos/" << id << ": " << video.dump());
  CHECK(uploaded);
  if (name == "parallel") {
    // The partial uploads are not videos: the catalogue has the final one only.
    const json all = Get(d.port, "/api/v1/videos");
    INFO("GET /api/v1/videos: " << all.dump());
    REQUIRE(all.contains("videos"));
    CHECK(all["videos"].size() == 1);
  }
  return s;
}

}  // namespace

TEST_CASE("tus-js-client: a plain upload lands as the video's source", "[tus]") {
  RunScenario("plain");
}

TEST_CASE("tus-js-client: aborted mid-PATCH, resumed from the stored URL, lands whole", "[tus]") {
  const json s = RunScenario("abort-resume");
  INFO(s.dump(1));
  // The resume started where the server was, past the first acknowledged chunk, at the URL the
  // first Upload was given.
  CHECK(std::stoll("0" + Field(s, "resumed_from")) >= 8 * 1024 * 1024);
  CHECK(s.value("same_url", false));
}

TEST_CASE("tus-js-client: a parallel upload is concatenated into one video", "[tus]") {
  const json s = RunScenario("parallel");
  CHECK(s.value("partial_uploads", 0) == 3);
}

TEST_CASE("tus-js-client: a wrong Upload-Checksum gets 460, the chunk is sent again", "[tus]") {
  const json s = RunScenario("checksum");
  INFO(s.dump(1));
  CHECK(s.value("refused_with_460", 0) == 1);
  CHECK(Field(s, "offset_after_460") == "1048576");
}

}  // namespace sg::test
