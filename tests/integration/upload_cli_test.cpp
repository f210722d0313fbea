// `streamgate upload`: the real CLI against a real streamgated (the upload plugin on local disk,
// the metadata plugin on a SQLite file), both in a temporary folder. Uploads random bytes (the
// upload does not look at them), interrupts one with SIGINT and resumes it, and checks the stored
// source object byte for byte.
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "tests/support/daemon_fixture.h"
#include "tests/support/process.h"

namespace sg::test {
namespace {

constexpr int kExitUnreachable = 3;
constexpr int kExitNoInput = 66;
constexpr int kExitInterrupted = 130;
constexpr uint64_t kSize = 20 << 20;

// The media folder, made before the daemon that stores into it (a base class comes first).
struct MediaDir {
  TempDir media;
};

// A daemon whose media and whose CLI's state folder (the resume records) are in temp folders.
struct UploadDaemon : MediaDir, RunningDaemon {
  explicit UploadDaemon(std::vector<std::string> sets = {})
      : RunningDaemon(WithStorage(std::move(sets), media.path())) {
    env.env["STATE_DIRECTORY"] = dir.path() + "/cli-state";
  }
  static std::vector<std::string> WithStorage(std::vector<std::string> sets,
                                              const std::string& path) {
    sets.push_back("storage.path=" + path);
    sets.push_back(kNoTranscoder);
    return sets;
  }
  std::string Source(const std::string& id) const {
    return media.path() + "/videos/" + id + "/source";
  }
  std::string Records() const { return ReadFile(dir.path() + "/cli-state/uploads.json"); }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

// `size` random bytes in a file under `dir`.
std::string RandomFile(const TempDir& dir, const std::string& name, uint64_t size) {
  std::mt19937_64 random(size);
  std::string bytes(size, '\0');
  for (uint64_t i = 0; i + 8 <= size; i += 8) {
    const uint64_t r = random();
    std::memcpy(bytes.data() + i, &r, 8);
  }
  return dir.Write(name, bytes);
}

std::string Sha256(const std::string& path) {
  const RunResult r = Run({"/usr/bin/sha256sum", path});
  REQUIRE(r.exit_code == 0);
  return r.out.substr(0, 64);
}

// Each line of `out` as JSON; fails the test on a line that is not.
std::vector<nlohmann::json> JsonLines(const std::string& out) {
  std::vector<nlohmann::json> events;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    auto event = nlohmann::json::parse(line, nullptr, false);
    INFO(line);
    REQUIRE(event.is_object());
    events.push_back(std::move(event));
  }
  return events;
}

std::string VideoState(const UploadDaemon& d, const std::string& id) {
  const RunResult r = d.Cli({"--json", "videos", "show", id});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out)["video"].value("state", "");
}

TEST_CASE("upload stores the file byte for byte as an uploaded video", "[upload-cli]") {
  UploadDaemon d;
  const std::string file = RandomFile(d.dir, "clip.mp4", kSize);

  const RunResult r = d.Cli({"upload", file, "--title", "Launch day"});

  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  std::smatch id;
  REQUIRE(std::regex_search(r.out, id, std::regex("^video ([0-9A-Z]{26}) uploaded")));
  CHECK(Contains(r.out, d.Url() + "/api/v1/videos/" + id[1].str()));
  CHECK(Sha256(d.Source(id[1])) == Sha256(file));
  CHECK(VideoState(d, id[1]) == "uploaded");
  CHECK_FALSE(Contains(d.Records(), file));  // the resume record is gone once it is done
}

TEST_CASE("upload --json prints start, progress and done events", "[upload-cli]") {
  UploadDaemon d;
  const std::string file = RandomFile(d.dir, "clip.webm", kSize);

  const RunResult r = d.Cli({"--json", "upload", file, "--chunk-size", "2MiB"});

  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const auto events = JsonLines(r.out);
  REQUIRE(events.size() >= 3);
  const auto& start = events.front();
  CHECK(start["event"] == "start");
  CHECK(start["offset"] == 0);
  CHECK(start["total"] == kSize);
  CHECK(start["resumed"] == false);
  CHECK(start["video"].get<std::string>().size() == 26);
  uint64_t last = 0;
  int progress = 0;
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    INFO(events[i].dump());
    if (events[i]["event"] == "retry") {
      // The server may refuse a PATCH for a moment (423 while it lets go of the last one):
      // retried, and said so.
      CHECK(events[i]["message"].is_string());
      CHECK(events[i]["attempt"].is_number());
      continue;
    }
    REQUIRE(events[i]["event"] == "progress");
    CHECK(events[i]["total"] == kSize);
    CHECK(events[i]["rate"].is_number());
    CHECK(events[i]["bytes"].get<uint64_t>() >= last);
    last = events[i]["bytes"].get<uint64_t>();
    ++progress;
  }
  CHECK(progress >= 10);  // at least one a chunk
  CHECK(last == kSize);
  const auto& done = events.back();
  CHECK(done["event"] == "done");
  CHECK(done["video"] == start["video"]);
  CHECK(done["url"] == d.Url() + "/api/v1/videos/" + start["video"].get<std::string>());
}

TEST_CASE("an upload stopped by Ctrl-C resumes from the server's offset", "[upload-cli]") {
  UploadDaemon d;
  const std::string file = RandomFile(d.dir, "clip.mov", kSize);

  // Slowed down, so that it is still running when the test sees 30%.
  Process slow({SG_CLI_BIN, "--json", "upload", file, "--chunk-size", "1MiB", "--limit-rate", "4M"},
               d.dir, d.env);
  const auto past_30_percent = [&] {
    for (const auto& line : JsonLines(slow.Stdout())) {
      if (line["event"] == "progress" && line["bytes"].get<uint64_t>() * 10 > kSize * 3) {
        return true;
      }
    }
    return false;
  };
  REQUIRE(WaitFor(past_30_percent, 60s));
  slow.Signal(SIGINT);
  const auto rc = slow.Wait(30s);

  INFO(slow.Stdout() << slow.Stderr());
  REQUIRE(rc == kExitInterrupted);
  CHECK(Contains(slow.Stderr(), "run the same command again to resume"));
  CHECK(JsonLines(slow.Stdout()).back()["event"] == "interrupted");
  CHECK(Contains(d.Records(), file));

  const RunResult again = d.Cli({"--json", "upload", file, "--chunk-size", "1MiB"});

  INFO(again.out << again.err);
  REQUIRE(again.exit_code == 0);
  const auto events = JsonLines(again.out);
  CHECK(events.front()["event"] == "start");
  CHECK(events.front()["resumed"] == true);
  CHECK(events.front()["offset"].get<uint64_t>() > 0);
  CHECK(events.front()["video"] == JsonLines(slow.Stdout()).front()["video"]);
  const std::string id = events.back()["video"];
  CHECK(Sha256(d.Source(id)) == Sha256(file));
  CHECK(VideoState(d, id) == "uploaded");
  CHECK_FALSE(Contains(d.Records(), file));
}

TEST_CASE("upload --no-resume starts afresh after an interrupted upload", "[upload-cli]") {
  UploadDaemon d;
  const std::string file = RandomFile(d.dir, "clip.mkv", kSize);
  Process slow({SG_CLI_BIN, "--json", "upload", file, "--chunk-size", "1MiB", "--limit-rate", "4M"},
               d.dir, d.env);
  REQUIRE(WaitFor([&] { return Contains(slow.Stdout(), "\"progress\""); }, 60s));
  slow.Signal(SIGINT);
  REQUIRE(slow.Wait(30s) == kExitInterrupted);

  const RunResult r = d.Cli({"--json", "upload", file, "--no-resume"});

  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const auto events = JsonLines(r.out);
  CHECK(events.front()["resumed"] == false);
  CHECK(events.front()["offset"] == 0);
  CHECK(events.front()["video"] != JsonLines(slow.Stdout()).front()["video"]);
  CHECK(Sha256(d.Source(events.back()["video"])) == Sha256(file));
}

TEST_CASE("an upload the server no longer has is started afresh, saying so", "[upload-cli]") {
  UploadDaemon d;
  const std::string file = RandomFile(d.dir, "clip.mp4", kSize);
  Process slow({SG_CLI_BIN, "--json", "upload", file, "--chunk-size", "1MiB", "--limit-rate", "4M"},
               d.dir, d.env);
  REQUIRE(WaitFor([&] { return Contains(slow.Stdout(), "\"progress\""); }, 60s));
  slow.Signal(SIGINT);
  REQUIRE(slow.Wait(30s) == kExitInterrupted);
  const std::string upload = JsonLines(slow.Stdout()).front()["upload"];
  // Terminated by someone else (or expired): the server answers 404 for it from now on.
  const RunResult deleted = Run({"/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                 "-X", "DELETE", "-H", "Tus-Resumable: 1.0.0", upload});
  REQUIRE(deleted.out == "204");

  const RunResult r = d.Cli({"--json", "upload", file});

  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.err, "is gone from the server"));
  CHECK(Contains(r.err, "starting afresh"));
  const auto events = JsonLines(r.out);
  CHECK(events.front()["resumed"] == false);
  CHECK(events.front()["upload"] != upload);
  CHECK(Sha256(d.Source(events.back()["video"])) == Sha256(file));
}

TEST_CASE("upload --wait reports the state and gives up at its timeout", "[upload-cli]") {
  // No transcoder yet: the video stays "uploaded", so --wait can only time out.
  UploadDaemon d;
  const std::string file = RandomFile(d.dir, "clip.mp4", 1 << 20);

  const RunResult r = d.Cli({"upload", file, "--wait", "--timeout", "1"});

  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.out, "state: uploaded"));
  CHECK(Contains(r.err, "is still 'uploaded' after 1s (--timeout)"));
  CHECK(Contains(r.err, "streamgate videos show"));
}

TEST_CASE("upload refuses a file over upload.max_size, naming the key to raise", "[upload-cli]") {
  UploadDaemon d({"upload.max_size=1MiB"});
  const std::string file = RandomFile(d.dir, "big.mp4", 2 << 20);

  const RunResult r = d.Cli({"upload", file});

  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.err, "raise upload.max_size"));
  CHECK(Contains(r.err, "1048576 bytes"));
}

TEST_CASE("upload of a missing file says so and exits 66", "[upload-cli]") {
  UploadDaemon d;

  const RunResult r = d.Cli({"upload", d.dir.path() + "/no-such.mp4"});

  CHECK(r.exit_code == kExitNoInput);
  CHECK(Contains(r.err, "cannot read " + d.dir.path() + "/no-such.mp4: No such file"));
}

TEST_CASE("upload with no daemon running names the remedy and exits 3", "[upload-cli]") {
  TempDir dir;
  const std::string file = RandomFile(dir, "clip.mp4", 1024);
  SpawnOptions env;
  env.unset_env = {"STREAMGATE_CONFIG"};
  env.env["XDG_RUNTIME_DIR"] = dir.path();
  env.env["STATE_DIRECTORY"] = dir.path() + "/state";
  env.env["STREAMGATE_ENDPOINT"] = "ipc://" + dir.path() + "/nothing.sock";

  const RunResult r = Run({SG_CLI_BIN, "upload", file}, env);

  CHECK(r.exit_code == kExitUnreachable);
  CHECK(Contains(r.err, "streamgate start"));

  const RunResult direct = Run({SG_CLI_BIN, "upload", file, "--url", "http://127.0.0.1:1"}, env);

  CHECK(direct.exit_code == kExitUnreachable);
  CHECK(Contains(direct.err, "is streamgated running"));
}

}  // namespace
}  // namespace sg::test
