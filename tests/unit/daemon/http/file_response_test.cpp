// File responses: the pure planning of validators, conditionals and ranges, then the real HTTP
// server sending files with sendfile to curl.
#include "daemon/http/file_response.h"

#include <fstream>
#include <random>

#include <catch2/catch.hpp>
#include <spdlog/sinks/null_sink.h>

#include "tests/support/http_test_server.h"
#include "tests/support/process.h"

namespace sg::http {
namespace {

const FileMeta kMeta{1000, 42, int64_t{1'700'000'000} * 1'000'000'000 + 5};

FilePlan Plan(FileRequestHeaders h) { return PlanFileResponse(h, kMeta); }

}  // namespace

TEST_CASE("a plain GET of a file is 200 with the whole file", "[http][file]") {
  const FilePlan p = Plan({});
  CHECK(p.status == 200);
  CHECK(p.range.first == 0);
  CHECK(p.range.count == 1000);
}

TEST_CASE("single byte ranges: 206 for what fits, 416 for what does not", "[http][file]") {
  auto range = [](std::string_view r) { return Plan({.range = r}); };
  CHECK(range("bytes=0-99").status == 206);
  CHECK(range("bytes=0-99").range.count == 100);
  CHECK(range("bytes=990-").range.first == 990);
  CHECK(range("bytes=990-").range.count == 10);
  CHECK(range("bytes=-10").range.first == 990);
  CHECK(range("bytes=-5000").range.count == 1000);    // a suffix longer than the file: all of it
  CHECK(range("bytes=900-5000").range.count == 100);  // clipped to the end
  CHECK(range("bytes=1000-").status == 416);
  CHECK(range("bytes=-0").status == 416);
  // Not understood, several ranges, or backwards: ignored, the whole file (RFC 9110 14.2).
  CHECK(range("bytes=5-1").status == 200);
  CHECK(range("bytes=0-1,5-6").status == 200);
  CHECK(range("items=0-1").status == 200);
  CHECK(range("bytes=x-1").status == 200);
  // A range is for GET and HEAD only.
  CHECK(Plan({.range = "bytes=0-1", .get_or_head = false}).status == 200);
}

TEST_CASE("conditional requests: the ETag and Last-Modified the server gave answer 304",
          "[http][file]") {
  const std::string etag = StrongETag(kMeta);
  CHECK(Plan({.if_none_match = etag}).status == 304);
  CHECK(Plan({.if_none_match = "\"other\", " + etag}).status == 304);
  CHECK(Plan({.if_none_match = "W/" + etag}).status == 304);  // weak comparison
  CHECK(Plan({.if_none_match = "*"}).status == 304);
  CHECK(Plan({.if_none_match = "\"other\""}).status == 200);
  const std::string modified = HttpDate(1'700'000'000);
  CHECK(Plan({.if_modified_since = modified}).status == 304);
  CHECK(Plan({.if_modified_since = HttpDate(1'600'000'000)}).status == 200);
  CHECK(Plan({.if_modified_since = "yesterday"}).status == 200);
  // If-None-Match wins over If-Modified-Since.
  CHECK(Plan({.if_none_match = "\"other\"", .if_modified_since = modified}).status == 200);
  // If-Range: the range only when the client's copy is current.
  CHECK(Plan({.range = "bytes=0-9", .if_range = etag}).status == 206);
  CHECK(Plan({.range = "bytes=0-9", .if_range = "\"old\""}).status == 200);
  CHECK(Plan({.range = "bytes=0-9", .if_range = modified}).status == 206);
}

TEST_CASE("HTTP dates round-trip", "[http][file]") {
  CHECK(HttpDate(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT") == std::time_t{784111777});
  CHECK_FALSE(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"));
}

TEST_CASE("the server sends files to curl: whole, ranged, conditional, HEAD, missing",
          "[http][file]") {
  test::TempDir dir;
  // 3 MiB of random bytes: more than one sendfile call and more than a socket buffer.
  std::string content(3 * 1024 * 1024, '\0');
  std::mt19937 rng(7);
  for (auto& c : content) c = static_cast<char>(rng());
  const std::string path = dir.Write("video.bin", content);

  test::HttpTestServer t;
  REQUIRE(t.routes.AddRoute("GET", "/files/{name}", [&](const HttpRequest& req, HttpResponse& res) {
    res.content_type = "application/octet-stream";
    res.file = dir.path() + "/" + std::string(req.Param("name"));
  }));
  t.Start([](ServerSettings& s) { s.io_threads = 2; });
  const std::string url = t.base() + "/files/";

  // The whole file, byte for byte.
  const std::string out = dir.path() + "/out.bin";
  auto whole =
      test::Run({"/usr/bin/curl", "-sS", "-o", out, "-w", "%{http_code}", url + "video.bin"});
  CHECK(whole.out == "200");
  CHECK(test::ReadFile(out) == content);

  // Headers: validators and Accept-Ranges.
  auto head = test::Run({"/usr/bin/curl", "-sS", "-I", url + "video.bin"});
  INFO(head.out);
  CHECK(head.out.find("HTTP/1.1 200") != std::string::npos);
  CHECK(head.out.find("Content-Length: 3145728") != std::string::npos);
  CHECK(head.out.find("Accept-Ranges: bytes") != std::string::npos);
  CHECK(head.out.find("Last-Modified: ") != std::string::npos);
  const size_t at = head.out.find("ETag: ");
  REQUIRE(at != std::string::npos);
  const std::string etag = head.out.substr(at + 6, head.out.find('\r', at) - at - 6);

  // A range, as players ask for segments.
  auto ranged = test::Run(
      {"/usr/bin/curl", "-sS", "-r", "1048576-1048675", "-D", "-", "-o", out, url + "video.bin"});
  CHECK(ranged.out.find("HTTP/1.1 206") != std::string::npos);
  CHECK(ranged.out.find("Content-Range: bytes 1048576-1048675/3145728") != std::string::npos);
  CHECK(test::ReadFile(out) == content.substr(1048576, 100));

  auto beyond = test::Run({"/usr/bin/curl", "-sS", "-r", "4000000-", "-o", "/dev/null", "-w",
                           "%{http_code}", url + "video.bin"});
  CHECK(beyond.out == "416");

  // Revalidation: the ETag it gave answers 304 with no body.
  auto cached = test::Run({"/usr/bin/curl", "-sS", "-H", "If-None-Match: " + etag, "-D", "-", "-o",
                           "/dev/null", "-w", "%{size_download}", url + "video.bin"});
  CHECK(cached.out.find("HTTP/1.1 304") != std::string::npos);
  CHECK(cached.out.find("Content-Length") == std::string::npos);
  CHECK(cached.out.ends_with("\r\n0"));  // no body

  auto missing = test::Run(
      {"/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", url + "nothing.bin"});
  CHECK(missing.out == "404");

  // Keep-alive survives a file: two files on one connection.
  auto twice = test::Run({"/usr/bin/curl", "-sS", "-o", "/dev/null", "-o", "/dev/null", "-w",
                          "%{http_code}%{num_connects} ", url + "video.bin", url + "video.bin"});
  CHECK(twice.out == "2001 2000 ");
}

}  // namespace sg::http
