// The parts of `streamgate upload` that need no server: sizes, media types, the progress display,
// the resume records, URLs and checksums. The upload itself is tested against the real daemon in
// tests/integration/upload_cli_test.cpp.
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include "cli/tus_client.h"
#include "cli/upload_options.h"
#include "cli/upload_progress.h"
#include "cli/upload_records.h"
#include "tests/support/process.h"

namespace sg::cli {
namespace {

using namespace std::chrono_literals;

TEST_CASE("upload sizes take binary units and refuse anything else", "[upload-cli]") {
  CHECK(ParseSize("8MiB") == uint64_t{8} << 20);
  CHECK(ParseSize("8M") == uint64_t{8} << 20);
  CHECK(ParseSize("512k") == uint64_t{512} << 10);
  CHECK(ParseSize("1G") == uint64_t{1} << 30);
  CHECK(ParseSize("1048576") == uint64_t{1048576});
  CHECK(ParseSize("0") == uint64_t{0});

  CHECK_FALSE(ParseSize(""));
  CHECK_FALSE(ParseSize("-1"));
  CHECK_FALSE(ParseSize("1.5M"));
  CHECK_FALSE(ParseSize("8X"));
  CHECK_FALSE(ParseSize("M"));
  CHECK_FALSE(ParseSize("99999999999999999999"));
  CHECK_FALSE(ParseSize("17179869184G"));
}

TEST_CASE("upload guesses the media type from the extension, any case", "[upload-cli]") {
  CHECK(GuessFiletype("a/b/launch.mp4") == "video/mp4");
  CHECK(GuessFiletype("CLIP.MOV") == "video/quicktime");
  CHECK(GuessFiletype("x.webm") == "video/webm");
  CHECK(GuessFiletype("x.mkv") == "video/x-matroska");
  CHECK(GuessFiletype("notes.txt") == "application/octet-stream");
  CHECK(GuessFiletype("noextension") == "application/octet-stream");
}

TEST_CASE("upload progress figures are human", "[upload-cli]") {
  CHECK(HumanBytes(512) == "512 B");
  CHECK(HumanBytes(1536) == "1.5 KiB");
  CHECK(HumanBytes(uint64_t{8} << 20) == "8.0 MiB");
  CHECK(HumanBytes(uint64_t{5} << 29) == "2.50 GiB");
  CHECK(HumanEta(-1) == "-");
  CHECK(HumanEta(42) == "42s");
  CHECK(HumanEta(185) == "3m 05s");
  CHECK(HumanEta(3720) == "1h 02m");
}

TEST_CASE("the terminal bar is redrawn in place with percent, bytes, rate and ETA",
          "[upload-cli]") {
  std::ostringstream out;
  const auto t0 = UploadProgress::Clock::time_point{} + 1h;
  UploadProgress progress(out, UploadProgress::Mode::kTerminal, 100 << 20, 0, t0);

  progress.Update(50 << 20, t0 + 5s);
  progress.Update(60 << 20, t0 + 5s + 1ms);  // too soon: not drawn
  progress.Finish();

  CHECK(out.str() ==
        "\r[############............]  50%  50.0 MiB / 100.0 MiB  10.0 MiB/s  ETA 5s\x1b[K\n");
}

TEST_CASE("off a terminal, progress is a line every 10%", "[upload-cli]") {
  std::ostringstream out;
  const auto t0 = UploadProgress::Clock::time_point{} + 1h;
  UploadProgress progress(out, UploadProgress::Mode::kLines, 1000, 0, t0);

  for (uint64_t b = 0; b <= 1000; b += 50) progress.Update(b, t0 + 1s, true);

  std::istringstream lines(out.str());
  int count = 0;
  for (std::string line; std::getline(lines, line);) {
    CHECK(line.rfind("uploaded ", 0) == 0);
    ++count;
  }
  CHECK(count == 11);  // 0%, 10%, ... 100%
}

TEST_CASE("with --json, progress is JSON lines with bytes, total and rate", "[upload-cli]") {
  std::ostringstream out;
  const auto t0 = UploadProgress::Clock::time_point{} + 1h;
  UploadProgress progress(out, UploadProgress::Mode::kJson, 4000, 1000, t0);

  progress.Update(3000, t0 + 2s);

  const auto json = nlohmann::json::parse(out.str());
  CHECK(json ==
        nlohmann::json{{"event", "progress"}, {"bytes", 3000}, {"total", 4000}, {"rate", 1000}});
}

TEST_CASE("resume records are kept by fingerprint in a private file", "[upload-cli]") {
  test::TempDir dir;
  const UploadRecords records(dir.path() + "/state/uploads.json");
  const UploadFingerprint a{"/videos/a.mp4", 100, 7, "http://127.0.0.1:8080"};
  UploadFingerprint changed = a;
  changed.mtime_ns = 8;
  UploadFingerprint elsewhere = a;
  elsewhere.base_url = "http://127.0.0.1:8081";

  REQUIRE(records.Put(a, "http://127.0.0.1:8080/api/v1/uploads/A"));
  REQUIRE(records.Put(elsewhere, "http://127.0.0.1:8081/api/v1/uploads/B"));

  CHECK(records.Find(a) == "http://127.0.0.1:8080/api/v1/uploads/A");
  CHECK(records.Find(elsewhere) == "http://127.0.0.1:8081/api/v1/uploads/B");
  CHECK_FALSE(records.Find(changed));
  struct stat st {};
  REQUIRE(stat(records.file().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(stat((dir.path() + "/state").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);

  REQUIRE(records.Remove(a));
  CHECK_FALSE(records.Find(a));
  CHECK(records.Find(elsewhere));
  REQUIRE(records.Remove(a));  // already gone: not an error
}

TEST_CASE("a garbled records file counts as empty and is rewritten", "[upload-cli]") {
  test::TempDir dir;
  const std::string file = dir.Write("uploads.json", "{not json");
  const UploadRecords records(file);
  const UploadFingerprint a{"/videos/a.mp4", 100, 7, "http://127.0.0.1:8080"};

  CHECK_FALSE(records.Find(a));
  REQUIRE(records.Put(a, "http://x/api/v1/uploads/A"));
  CHECK(records.Find(a) == "http://x/api/v1/uploads/A");
}

TEST_CASE("a Location is resolved against the creation URL", "[upload-cli]") {
  const std::string endpoint = "http://127.0.0.1:8080/api/v1/uploads";
  CHECK(ResolveUrl(endpoint, "/api/v1/uploads/01J") == "http://127.0.0.1:8080/api/v1/uploads/01J");
  CHECK(ResolveUrl(endpoint, "http://other:1/u/2") == "http://other:1/u/2");
  CHECK(ResolveUrl(endpoint, "uploads/01J") == "http://127.0.0.1:8080/api/v1/uploads/01J");
  CHECK(ResolveUrl("http://h:1", "/x") == "http://h:1/x");
}

TEST_CASE("chunk checksums are sha1 in base64", "[upload-cli]") {
  CHECK(Base64("") == "");
  CHECK(Base64("f") == "Zg==");
  CHECK(Base64("foob") == "Zm9vYg==");
  CHECK(Sha1Checksum("abc") == "sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
}

}  // namespace
}  // namespace sg::cli
