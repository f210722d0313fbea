// Every protocol error of the upload service, sent by a real curl: the status the tus text names,
// Tus-Resumable on every answer, Tus-Version on 412, Tus-Max-Size on a 413 for the maximum size,
// and the JSON body of the daemon's HTTP errors, {"error": ..., "code": ..., "hint": ...}, that
// says why and what to do next.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/daemon_fixture.h"
#include "tests/support/process.h"
#include "tests/support/tus_peers.h"

namespace sg::test {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxSize = 1024 * 1024;

struct CurlReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string raw;
};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// curl -i's output: the status line, the headers, the body; 1xx answers skipped.
CurlReply Parse(const std::string& out) {
  CurlReply reply;
  reply.raw = out;
  size_t at = 0;
  for (;;) {
    const size_t end = out.find("\r\n\r\n", at);
    const std::string head =
        out.substr(at, end == std::string::npos ? std::string::npos : end - at);
    const size_t space = head.find(' ');
    if (head.rfind("HTTP/", 0) != 0 || space == std::string::npos) return reply;
    reply.status = std::atoi(head.c_str() + space + 1);
    at = end == std::string::npos ? out.size() : end + 4;
    if (reply.status >= 200) {
      size_t line = head.find("\r\n");
      while (line != std::string::npos) {
        const size_t next = head.find("\r\n", line + 2);
        const std::string field =
            head.substr(line + 2, next == std::string::npos ? std::string::npos : next - line - 2);
        const size_t colon = field.find(':');
        if (colon != std::string::npos) {
          std::string value = field.substr(colon + 1);
          value.erase(0, value.find_first_not_of(' '));
          reply.headers[Lower(field.substr(0, colon))] = value;
        }
        line = next;
      }
      reply.body = out.substr(at);
      return reply;
    }
  }
}

class Curl {
 public:
  explicit Curl(std::string base) : base_(std::move(base)), curl_(FindProgram("curl")) {
    SkipUnless(!curl_.empty(), "curl");
  }

  /// curl -i with `args` on `target` (a path on the daemon); `body` goes in with --data-binary.
  CurlReply operator()(const std::string& method, const std::string& target,
                       const std::vector<std::string>& headers, const std::string& body = "",
                       bool with_body = false) {
    std::vector<std::string> argv = {curl_, "-sS", "-i", "--max-time", "20", "-H", "Expect:"};
    if (method == "HEAD") {
      argv.emplace_back("--head");
    } else {
      argv.insert(argv.end(), {"-X", method});
    }
    for (const auto& h : headers) argv.insert(argv.end(), {"-H", h});
    if (with_body || !body.empty()) {
      const std::string file = dir_.Write("body-" + std::to_string(++n_), body);
      argv.insert(argv.end(), {"--data-binary", "@" + file});
    }
    argv.push_back(base_ + target);
    const RunResult run = Run(argv, {}, 30s);
    INFO("curl " << method << " " << target << ": " << run.err);
    REQUIRE(run.exit_code == 0);
    return Parse(run.out);
  }

  /// A new upload of `length` bytes; its path.
  std::string Create(uint64_t length) {
    const CurlReply r =
        (*this)("POST", "/api/v1/uploads",
                {"Tus-Resumable: 1.0.0", "Upload-Length: " + std::to_string(length)});
    INFO(r.raw);
    REQUIRE(r.status == 201);
    REQUIRE(r.headers.count("location") == 1);
    std::string location = r.headers.at("location");
    const size_t path = location.find("/api/v1/uploads/");
    REQUIRE(path != std::string::npos);
    return location.substr(path);
  }

 private:
  std::string base_;
  std::string curl_;
  TempDir dir_;
  int n_ = 0;
};

// The checks every error answer gets; `head` for an answer to HEAD, which has no body.
void CheckError(const CurlReply& r, int status, bool head = false) {
  INFO(r.raw);
  CHECK(r.status == status);
  CHECK(r.headers.count("tus-resumable") == 1);
  if (r.headers.count("tus-resumable") == 1) CHECK(r.headers.at("tus-resumable") == "1.0.0");
  if (status == 412) CHECK(r.headers.count("tus-version") == 1);
  if (head) return;
  CHECK(Lower(r.headers.count("content-type") ? r.headers.at("content-type") : "")
            .rfind("application/json", 0) == 0);
  // The shape of every error of the daemon's HTTP API (the gateway's, the catalogue's): what went
  // wrong in "error", a stable "code", and a "hint" that says what to do next.
  const json body = json::parse(r.body, nullptr, false);
  REQUIRE(body.is_object());
  for (const char* field : {"error", "code", "hint"}) {
    INFO("field " << field);
    CHECK((body.contains(field) && body[field].is_string() &&
           !body[field].get<std::string>().empty()));
  }
}

const std::string kResumable = "Tus-Resumable: 1.0.0";
const std::string kOctets = "Content-Type: application/offset+octet-stream";

}  // namespace

TEST_CASE("curl: every tus error status with its headers and JSON body", "[tus]") {
  TempDir media;
  RunningDaemon d(UploadDaemonSets(media.path(), {"upload.max_size=" + std::to_string(kMaxSize)}));
  Curl curl("http://127.0.0.1:" + std::to_string(d.port));
  const std::string upload = curl.Create(100);

  SECTION("412: no Tus-Resumable, or a version the server does not speak") {
    CheckError(curl("POST", "/api/v1/uploads", {"Upload-Length: 10"}), 412);
    CheckError(curl("POST", "/api/v1/uploads", {"Tus-Resumable: 0.2.2", "Upload-Length: 10"}), 412);
    CheckError(curl("PATCH", upload, {kOctets, "Upload-Offset: 0"}, "0123456789"), 412);
    CheckError(curl("HEAD", upload, {}), 412, true);
    CheckError(curl("DELETE", upload, {}), 412);
  }
  SECTION("415: a PATCH that is not application/offset+octet-stream") {
    CheckError(curl("PATCH", upload, {kResumable, "Content-Type: text/plain", "Upload-Offset: 0"},
                    "0123456789"),
               415);
    // curl's own default for --data-binary, application/x-www-form-urlencoded.
    CheckError(curl("PATCH", upload, {kResumable, "Upload-Offset: 0"}, "0123456789"), 415);
  }
  SECTION("409: a PATCH at the wrong offset") {
    CheckError(curl("PATCH", upload, {kResumable, kOctets, "Upload-Offset: 7"}, "0123456789"), 409);
  }
  SECTION("413: over upload.max_size, early, with Tus-Max-Size") {
    const CurlReply r = curl("POST", "/api/v1/uploads",
                             {kResumable, "Upload-Length: " + std::to_string(kMaxSize + 1)});
    CheckError(r, 413);
    INFO(r.raw);
    CHECK(r.headers.count("tus-max-size") == 1);
    if (r.headers.count("tus-max-size") == 1) {
      CHECK(r.headers.at("tus-max-size") == std::to_string(kMaxSize));
    }
  }
  SECTION("413: a PATCH body past Upload-Length, nothing stored past it") {
    const std::string other = curl.Create(100);
    CheckError(
        curl("PATCH", other, {kResumable, kOctets, "Upload-Offset: 0"}, std::string(150, 'x')),
        413);
    const CurlReply head = curl("HEAD", other, {kResumable});
    INFO(head.raw);
    CHECK(head.status == 200);
    CHECK(std::stoll("0" + (head.headers.count("upload-offset") ? head.headers.at("upload-offset")
                                                                : std::string())) <= 100);
  }
  SECTION("400: malformed creation headers and metadata") {
    CheckError(curl("POST", "/api/v1/uploads", {kResumable}), 400);
    CheckError(curl("POST", "/api/v1/uploads", {kResumable, "Upload-Length: ten"}), 400);
    CheckError(curl("POST", "/api/v1/uploads",
                    {kResumable, "Upload-Length: 10", "Upload-Metadata: filename !!notbase64"}),
               400);
    CheckError(curl("POST", "/api/v1/uploads",
                    {kResumable, "Upload-Length: 10",
                     "Upload-Metadata: visibility " + std::string("d29ybGQ=")}),  // "world"
               400);
    CheckError(curl("PATCH", upload, {kResumable, kOctets, "Upload-Offset: zero"}, "0123456789"),
               400);
  }
  SECTION("404: an id the server never handed out") {
    const std::string unknown = "/api/v1/uploads/01JDZZZZZZZZZZZZZZZZZZZZZZ";
    CheckError(curl("HEAD", unknown, {kResumable}), 404, true);
    CheckError(curl("PATCH", unknown, {kResumable, kOctets, "Upload-Offset: 0"}, "0123"), 404);
    CheckError(curl("DELETE", unknown, {kResumable}), 404);
  }
  SECTION("460: a chunk whose Upload-Checksum does not match") {
    // sha1 of "other", not of the body.
    CheckError(curl("PATCH", upload,
                    {kResumable, kOctets, "Upload-Offset: 0",
                     "Upload-Checksum: sha1 0JQeaNqPOBUf+Gph/Fn3xc+fyqI="},
                    "0123456789"),
               460);
  }
  // Whatever was refused, the upload is where it was.
  const CurlReply head = curl("HEAD", upload, {kResumable});
  INFO(head.raw);
  CHECK(head.status == 200);
  CHECK((head.headers.count("upload-offset") == 1 && head.headers.at("upload-offset") == "0"));
  CHECK(head.headers.count("tus-resumable") == 1);
}

TEST_CASE("curl: a chunked PATCH past Upload-Length is answered 413 while the rest still arrives",
          "[tus]") {
  // The body is read on while a batch is written: the batch that crosses the length is answered
  // while more of the body arrives. What came before the length is kept, nothing after it, and
  // the daemon goes on serving.
  TempDir media;
  RunningDaemon d(UploadDaemonSets(media.path(), {}));
  Curl curl("http://127.0.0.1:" + std::to_string(d.port));
  const long long length = 3 << 20;
  const std::string upload = curl.Create(length);
  CheckError(
      curl("PATCH", upload, {kResumable, kOctets, "Upload-Offset: 0", "Transfer-Encoding: chunked"},
           std::string(8 << 20, 'x')),
      413);
  const CurlReply head = curl("HEAD", upload, {kResumable});
  INFO(head.raw);
  CHECK(head.status == 200);
  REQUIRE(head.headers.count("upload-offset") == 1);
  CHECK(std::stoll(head.headers.at("upload-offset")) <= length);
  const std::string other = curl.Create(10);
  CHECK(curl("PATCH", other, {kResumable, kOctets, "Upload-Offset: 0"}, "0123456789").status ==
        204);
}

}  // namespace sg::test
