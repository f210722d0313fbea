// The events of one video through a real streamgated: GET /api/v1/videos/{id}/events read by
// `curl -N` and by `streamgate videos watch`, on a video made by a tus upload with curl. Finishing
// the upload moves the video to uploaded (a video.state event), DELETE to deleted (the end of the
// stream); the catalogue opened beside the daemon drives a video to ready, which the stream learns
// by reading the video again, since no bus message tells it.
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/sql.h"
#include "daemon/plugins/metadata/sql_catalogue.h"
#include "tests/support/daemon_fixture.h"
#include "tests/support/process.h"

namespace sg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kExitNotFound = 5;
constexpr int kExitInterrupted = 130;

struct MediaDir {
  TempDir media;
};

// A daemon with its media in a folder of the test's.
struct EventsDaemon : MediaDir, RunningDaemon {
  // No transcoder: the tests move the video through its states themselves.
  EventsDaemon() : RunningDaemon({"storage.path=" + media.path(), kNoTranscoder}) {}
  std::string Url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }
  // A tus upload of `length` bytes made with curl: its video's id.
  std::string CreateUpload(size_t length) const {
    const RunResult r =
        Run({"/usr/bin/curl", "-sS", "-i", "-X", "POST", "-H", "Tus-Resumable: 1.0.0", "-H",
             "Upload-Length: " + std::to_string(length), "-H",
             "Upload-Metadata: filename Y2xpcC5tcDQ=", Url("/api/v1/uploads")});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    const size_t at = r.out.find("/api/v1/uploads/");
    REQUIRE(at != std::string::npos);
    const size_t start = at + 16;
    return r.out.substr(start, r.out.find_first_of("\r\n", start) - start);
  }
  // Sends the whole body: the upload ends and its video becomes uploaded.
  void FinishUpload(const std::string& id, const std::string& bytes) const {
    const RunResult r = Run({"/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X",
                             "PATCH", "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Offset: 0", "-H",
                             "Content-Type: application/offset+octet-stream", "--data-binary",
                             bytes, Url("/api/v1/uploads/" + id)});
    INFO(r.err);
    REQUIRE(r.out == "204");
  }
  void DeleteVideo(const std::string& id) const {
    const RunResult r = Run({"/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X",
                             "DELETE", Url("/api/v1/videos/" + id)});
    REQUIRE(r.out == "200");
  }
  std::unique_ptr<Process> Background(std::vector<std::string> argv) const {
    return std::make_unique<Process>(argv, dir, env);
  }
  std::unique_ptr<Process> Watch(std::vector<std::string> args) const {
    args.insert(args.begin(), {SG_CLI_BIN, "videos", "watch"});
    return Background(args);
  }
};

// The states in the SSE text, in order.
std::vector<std::string> StatesIn(const std::string& text) {
  std::vector<std::string> out;
  const std::string marker = "event: state\ndata: ";
  for (size_t at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1)) {
    const size_t start = at + marker.size();
    const json video = json::parse(text.substr(start, text.find('\n', start) - start));
    out.push_back(video["state"]);
  }
  return out;
}

std::vector<json> JsonLines(const std::string& out) {
  std::vector<json> events;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    auto event = json::parse(line, nullptr, false);
    INFO(line);
    REQUIRE(event.is_object());
    events.push_back(std::move(event));
  }
  return events;
}

}  // namespace

TEST_CASE("the events stream sends the state, its changes, and ends once the video is deleted",
          "[video-events]") {
  EventsDaemon d;
  const std::string id = d.CreateUpload(4);
  auto curl =
      d.Background({"/usr/bin/curl", "-sS", "-N", d.Url("/api/v1/videos/" + id + "/events")});
  REQUIRE(WaitFor([&] { return StatesIn(curl->Stdout()).size() == 1; }, 10s));
  CHECK(StatesIn(curl->Stdout()).front() == "uploading");
  CHECK(Contains(curl->Stdout(), "id: 1\nevent: state\ndata: {"));

  d.FinishUpload(id, "abcd");
  INFO(curl->Stdout());
  REQUIRE(WaitFor([&] { return StatesIn(curl->Stdout()).size() == 2; }, 10s));
  CHECK(StatesIn(curl->Stdout()).back() == "uploaded");
  CHECK(Contains(curl->Stdout(), "id: 2\nevent: state\n"));
  CHECK(curl->Running());

  d.DeleteVideo(id);
  const auto code = curl->Wait(10s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);  // the server ended the stream
  CHECK(StatesIn(curl->Stdout()).back() == "deleted");

  // The gauge counted the stream and forgot it.
  const RunResult metrics = Run(
      {"/usr/bin/curl", "-sS", "http://127.0.0.1:" + std::to_string(d.metrics_port) + "/metrics"});
  CHECK(Contains(metrics.out, "streamgate_metadata_event_streams{engine=\"sqlite\"} 0"));
}

TEST_CASE("the events of an unknown video are 404 in the API's error shape", "[video-events]") {
  EventsDaemon d;
  const RunResult r = Run({"/usr/bin/curl", "-sS", "-w", "\n%{http_code}",
                           d.Url("/api/v1/videos/" + plugins::NewVideoId(1) + "/events")});
  INFO(r.out);
  CHECK(r.out.ends_with("\n404"));
  const json body = json::parse(r.out.substr(0, r.out.rfind('\n')));
  CHECK(body["code"] == "not_found");
  CHECK(body["field"] == "id");

  const RunResult watch = d.Cli({"videos", "watch", plugins::NewVideoId(1)});
  INFO(watch.out << watch.err);
  CHECK(watch.exit_code == kExitNotFound);
  CHECK(Contains(watch.err, "is not in the catalogue"));
}

TEST_CASE("videos watch follows a video until it is deleted (exit 1), in JSON", "[video-events]") {
  EventsDaemon d;
  const std::string id = d.CreateUpload(4);
  auto watch = d.Watch({id, "--json"});
  REQUIRE(WaitFor([&] { return Contains(watch->Stdout(), "\"uploading\""); }, 10s));
  d.FinishUpload(id, "abcd");
  REQUIRE(WaitFor([&] { return Contains(watch->Stdout(), "\"uploaded\""); }, 10s));
  d.DeleteVideo(id);

  const auto code = watch->Wait(10s);
  INFO(watch->Stdout() << watch->Stderr());
  REQUIRE(code.has_value());
  CHECK(*code == 1);
  const auto events = JsonLines(watch->Stdout());
  REQUIRE(events.size() == 4);
  CHECK(events[0] == json{{"event", "state"}, {"video", id}, {"state", "uploading"}});
  CHECK(events[1]["state"] == "uploaded");
  CHECK(events[2]["state"] == "deleted");
  CHECK(events[3]["event"] == "error");
  CHECK(events[3]["exit_code"] == 1);
  CHECK(Contains(watch->Stderr(), "was deleted"));
}

TEST_CASE("videos watch exits 0 once ready, learning it without a bus message", "[video-events]") {
  EventsDaemon d;
  const std::string id = d.CreateUpload(4);
  d.FinishUpload(id, "abcd");
  auto watch = d.Watch({id});
  REQUIRE(WaitFor([&] { return Contains(watch->Stdout(), "state: uploaded"); }, 10s));

  // Another process of the same catalogue (as a transcoder in another process would be, with
  // its bus message lost): the stream reads the video again every few seconds.
  auto db = OpenSqlite({d.dir.path() + "/streamgate.db"});
  REQUIRE(db.has_value());
  auto catalogue = plugins::MakeSqlCatalogue(*db);
  for (VideoState s : {VideoState::kQueued, VideoState::kProcessing, VideoState::kReady}) {
    VideoTransition t;
    t.to = s;
    REQUIRE(catalogue->Transition(id, t));
  }

  const auto code = watch->Wait(20s);
  INFO(watch->Stdout() << watch->Stderr());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(Contains(watch->Stdout(), "state: ready"));
  // Not a terminal: progress as lines, and the last is 100%.
  CHECK(Contains(watch->Stderr(), "100.0%"));
}

TEST_CASE("videos watch gives up at its timeout, and Ctrl-C exits 130", "[video-events]") {
  EventsDaemon d;
  const std::string id = d.CreateUpload(4);

  const RunResult timed_out = d.Cli({"videos", "watch", id, "--timeout", "1"});
  INFO(timed_out.out << timed_out.err);
  CHECK(timed_out.exit_code == 1);
  CHECK(Contains(timed_out.out, "state: uploading"));
  CHECK(Contains(timed_out.err, "is still 'uploading' after 1s (--timeout)"));
  CHECK(Contains(timed_out.err, "longer --timeout"));

  auto watch = d.Watch({id});
  REQUIRE(WaitFor([&] { return Contains(watch->Stdout(), "state: uploading"); }, 10s));
  watch->Signal(SIGINT);
  const auto code = watch->Wait(10s);
  INFO(watch->Stderr());
  REQUIRE(code.has_value());
  CHECK(*code == kExitInterrupted);
  CHECK(Contains(watch->Stderr(), "stopped watching"));
}

TEST_CASE("upload --wait follows the video through its events", "[video-events]") {
  EventsDaemon d;
  const std::string file = d.dir.Write("clip.mp4", std::string(64 * 1024, 'x'));
  d.env.env["STATE_DIRECTORY"] = d.dir.path() + "/cli-state";
  auto upload = d.Background({SG_CLI_BIN, "--json", "upload", file, "--wait"});
  REQUIRE(WaitFor([&] { return Contains(upload->Stdout(), "\"state\":\"uploaded\""); }, 20s));
  const auto events = JsonLines(upload->Stdout());
  std::string id;
  for (const auto& e : events) {
    if (e["event"] == "done") id = e["video"];
  }
  REQUIRE(!id.empty());
  d.DeleteVideo(id);
  const auto code = upload->Wait(10s);
  INFO(upload->Stdout() << upload->Stderr());
  REQUIRE(code.has_value());
  CHECK(*code == 1);
  CHECK(Contains(upload->Stdout(), "\"state\":\"deleted\""));
}

}  // namespace sg::test
