// The upload plugin through a real streamgated over real sockets: crash-safe resume (kill -9 in
// the middle of a PATCH), a client that stalls, two PATCHes at once, the per-client limit,
// expiry, deferred length, creation-with-upload and concatenation. Raw HTTP, so that a test can
// send half a body and stop. The tus protocol's parsers are checked at the end.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "daemon/plugins/upload/tus.h"
#include "daemon/storage/s3_storage.h"
#include "tests/support/daemon_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/nats_server.h"
#include "tests/support/notify_socket.h"
#include "tests/support/process.h"
#include "tests/support/s3_client.h"

namespace sg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;
namespace tus = plugins::tus;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

std::string Sha256(std::string_view bytes) {
  unsigned char digest[32];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &n, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(digest), n);
}

const std::string kTus = "Tus-Resumable: 1.0.0\r\n";

// One request on a fresh connection.
HttpReply Ask(uint16_t port, const std::string& method, const std::string& target,
              const std::string& headers = "", const std::string& body = "") {
  HttpConnection c(port);
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: t\r\n" + headers;
  if (!body.empty() || method == "PATCH" || method == "POST") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "Connection: close\r\n\r\n" + body;
  c.Send(req);
  auto reply = c.Read(30s, method == "HEAD");
  REQUIRE(reply);
  return *reply;
}

std::string Header(const HttpReply& r, const char* name) {
  const auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : std::string(it->value());
}

// Creates an upload; its id.
std::string Create(uint16_t port, const std::string& headers) {
  auto r = Ask(port, "POST", "/api/v1/uploads", kTus + headers);
  INFO(r.body);
  REQUIRE(r.status == 201);
  const std::string location = Header(r, "Location");
  REQUIRE(location.starts_with("/api/v1/uploads/"));
  return location.substr(16);
}

HttpReply Patch(uint16_t port, const std::string& id, uint64_t offset, const std::string& bytes,
                const std::string& extra = "") {
  return Ask(port, "PATCH", "/api/v1/uploads/" + id,
             kTus + "Upload-Offset: " + std::to_string(offset) +
                 "\r\nContent-Type: application/offset+octet-stream\r\n" + extra,
             bytes);
}

// The offset HEAD reports; -1 when it answers otherwise.
int64_t Offset(uint16_t port, const std::string& id) {
  auto r = Ask(port, "HEAD", "/api/v1/uploads/" + id, kTus);
  if (r.status != 200) return -1;
  return std::stoll(Header(r, "Upload-Offset"));
}

// The offset synced so far, as GET reports it at once while a PATCH writes (HEAD waits for the
// PATCH to end, up to upload.lock_wait); -1 when it answers otherwise.
int64_t Synced(uint16_t port, const std::string& id) {
  auto r = Ask(port, "GET", "/api/v1/uploads/" + id);
  if (r.status != 200) return -1;
  return json::parse(r.body).value("offset", int64_t{-1});
}

// True while a PATCH writes the upload: GET says a body is arriving.
bool Receiving(uint16_t port, const std::string& id) {
  auto r = Ask(port, "GET", "/api/v1/uploads/" + id);
  return r.status == 200 && json::parse(r.body).value("receiving", false);
}

// A gauge or counter of the daemon's /metrics, summed over its labels; -1 when it is missing.
double Metric(uint16_t metrics_port, const std::string& name) {
  HttpConnection c(metrics_port);
  auto reply = c.Request("GET", "/metrics");
  if (!reply) return -1;
  double sum = -1;
  std::istringstream lines(reply->body);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with(name) || line.size() <= name.size()) continue;
    if (line[name.size()] != ' ' && line[name.size()] != '{') continue;
    sum = std::max(sum, 0.0) + std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

// Waits until `n` requests wait for an upload another request holds (the daemon's gauge).
bool LockWaiting(const RunningDaemon& d, double n) {
  return WaitFor([&] { return Metric(d.metrics_port, "streamgate_upload_lock_waiting") == n; },
                 10s);
}

json Video(uint16_t port, const std::string& id) {
  auto r = Ask(port, "GET", "/api/v1/videos/" + id);
  REQUIRE(r.status == 200);
  return json::parse(r.body);
}

// A PATCH whose header and first `sent` bytes went out; the rest never comes.
struct OpenPatch {
  OpenPatch(uint16_t port, const std::string& id, uint64_t offset, uint64_t length,
            std::string_view first)
      : conn(port) {
    conn.Send("PATCH /api/v1/uploads/" + id + " HTTP/1.1\r\nHost: t\r\n" + kTus +
              "Upload-Offset: " + std::to_string(offset) +
              "\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: " +
              std::to_string(length) + "\r\n\r\n");
    if (!first.empty()) conn.Send(std::string(first));
  }
  HttpConnection conn;
};

// A daemon on a media folder and catalogue of the test's, so that a second one finds them.
struct Store {
  TempDir dir;
  std::string media() const { return dir.path() + "/media"; }
  std::vector<std::string> Sets(std::vector<std::string> more = {}) const {
    more.push_back("storage.path=" + media());
    more.push_back(kNoTranscoder);
    more.push_back("metadata.sqlite_path=" + dir.path() + "/streamgate.db");
    return more;
  }
};

}  // namespace

// Sends `sent` bytes of a PATCH of `source`, waits until HEAD reports at least `synced`, kills
// the daemon with SIGKILL, starts another on the same store, and resumes from HEAD's offset; the
// stored source object (read by `read`) must be byte-identical.
void KillNineAndResume(const std::vector<std::string>& sets, const std::string& source,
                       uint64_t sent, uint64_t synced,
                       const std::function<std::string(const std::string& key)>& read) {
  std::string id;
  {
    RunningDaemon d(sets);
    id = Create(d.port, "Upload-Length: " + std::to_string(source.size()) +
                            "\r\nUpload-Metadata: filename Y2xpcC5tcDQ=\r\n");
    OpenPatch patch(d.port, id, 0, source.size(), std::string_view(source).substr(0, sent));
    REQUIRE(WaitFor([&] { return Synced(d.port, id) >= static_cast<int64_t>(synced); }, 30s));
    d.daemon->Signal(SIGKILL);
    REQUIRE(d.daemon->Wait(10s));
  }
  RunningDaemon d(sets);
  // The new daemon answers HEAD once it reads the store again (s3rver under load may be slow to
  // answer its first request): poll, with a deadline.
  int64_t offset = -1;
  const auto head = [&] { return Ask(d.port, "HEAD", "/api/v1/uploads/" + id, kTus); };
  CHECK(WaitFor(
      [&] {
        offset = Offset(d.port, id);
        return offset >= 0;
      },
      30s));
  INFO("offset after the restart: " << offset << "; HEAD answers " << head().status);
  REQUIRE(offset >= static_cast<int64_t>(synced));
  REQUIRE(offset <= static_cast<int64_t>(sent));
  const auto kept = static_cast<uint64_t>(offset);
  CHECK(Video(d.port, id)["state"] == "uploading");
  // A stale offset is refused; the right one finishes the file.
  CHECK(Patch(d.port, id, 0, "x").status == 409);
  auto done = Patch(d.port, id, kept, source.substr(kept));
  INFO(done.body);
  REQUIRE(done.status == 204);
  CHECK(Header(done, "Upload-Offset") == std::to_string(source.size()));
  const std::string stored = read("videos/" + id + "/source");
  CHECK(stored.size() == source.size());
  CHECK(Sha256(stored) == Sha256(source));
  const json video = Video(d.port, id);
  CHECK(video["state"] == "uploaded");
  CHECK(video["source_size"] == source.size());
  CHECK(video["title"] == "clip.mp4");
  CHECK(Offset(d.port, id) == static_cast<int64_t>(source.size()));
  // A write to the whole upload is refused.
  CHECK(Patch(d.port, id, source.size(), "x").status == 403);
}

TEST_CASE(
    "kill -9 in the middle of a PATCH, then a restart: the client resumes from HEAD's "
    "offset and the file is byte-identical",
    "[upload]") {
  Store store;
  const std::string source = RandomBytes(6 << 20, 7);
  // 2.5 MiB of a 6 MiB body, then nothing: at least two syncs have happened.
  KillNineAndResume(store.Sets({"upload.sync_every=1MiB"}), source, 5 << 19, 2 << 20,
                    [&](const std::string& key) { return ReadFile(store.media() + "/" + key); });
  CHECK(fs::is_empty(store.media() + "/.sg-staging"));
}

TEST_CASE(
    "kill -9 in the middle of a PATCH on S3 (s3rver): the parts and the saved tail resume "
    "byte-identical, with no local file",
    "[upload][s3]") {
  TempDir dir;
  S3rver s3(dir, SG_S3RVER_BIN);
  std::vector<std::string> sets = S3Sets(s3);
  sets.insert(sets.end(), {"upload.sync_every=1MiB",
                           "metadata.sqlite_path=" + dir.path() + "/streamgate.db", kNoTranscoder});
  // 20 MiB: two full 8 MiB parts and a tail; the kill comes after the first part went out.
  const std::string source = RandomBytes(20 << 20, 9);
  auto client = S3Client(s3);
  KillNineAndResume(sets, source, 12 << 20, 9 << 20,
                    [&](const std::string& key) { return ReadObject(*client, key); });
  CHECK(client->ListStaged().value().empty());
}

TEST_CASE("a client that stalls mid-PATCH is cut at the read timeout and its bytes are kept",
          "[upload]") {
  Store store;
  RunningDaemon d(store.Sets({"server.read_timeout=1s"}));
  const std::string source = RandomBytes(3 << 20, 11);
  const std::string id = Create(d.port, "Upload-Length: " + std::to_string(source.size()) + "\r\n");
  {
    OpenPatch patch(d.port, id, 0, source.size(), std::string_view(source).substr(0, 1500000));
    REQUIRE(patch.conn.WaitClosed(15s));
  }
  REQUIRE(WaitFor([&] { return Offset(d.port, id) == 1500000; }, 10s));
  REQUIRE(Patch(d.port, id, 1500000, source.substr(1500000)).status == 204);
  CHECK(Video(d.port, id)["state"] == "uploaded");
  CHECK(
      WaitFor([&] { return d.LogSays("the client stopped sending; what arrived is kept"); }, 10s));
}

TEST_CASE("a second PATCH to an upload being written is refused with 423 and writes nothing",
          "[upload]") {
  Store store;
  RunningDaemon d(store.Sets({"upload.max_concurrent_per_client=1", "upload.lock_wait=300ms"}));
  const std::string source = RandomBytes(1 << 20, 3);
  const std::string id = Create(d.port, "Upload-Length: " + std::to_string(source.size()) + "\r\n");
  const std::string other = Create(d.port, "Upload-Length: 10\r\n");
  {
    OpenPatch first(d.port, id, 0, source.size(), std::string_view(source).substr(0, 1000));
    // Wait until the first PATCH holds the upload.
    REQUIRE(WaitFor([&] { return Receiving(d.port, id); }, 10s));
    auto second = Patch(d.port, id, 0, source);
    CHECK(second.status == 423);
    CHECK(Header(second, "Tus-Resumable") == "1.0.0");
    CHECK(json::parse(second.body)["code"] == "locked");
    CHECK(Contains(json::parse(second.body)["error"].get<std::string>(), "upload.lock_wait"));
    // HEAD waits for the writer as long, then answers the offset synced so far.
    auto head = Ask(d.port, "HEAD", "/api/v1/uploads/" + id, kTus);
    CHECK(head.status == 200);
    CHECK(Header(head, "Upload-Offset") == "0");
    // The same client's second upload at once breaks upload.max_concurrent_per_client = 1.
    auto third = Patch(d.port, other, 0, "0123456789");
    CHECK(third.status == 429);
    CHECK(Header(third, "Retry-After") == "1");
    // Termination waits for the writer too.
    CHECK(Ask(d.port, "DELETE", "/api/v1/uploads/" + id, kTus).status == 423);
    first.conn.Send(source.substr(1000));
    auto reply = first.conn.Read(20s);
    REQUIRE(reply);
    CHECK(reply->status == 204);
  }
  CHECK(Sha256(ReadFile(store.media() + "/videos/" + id + "/source")) == Sha256(source));
}

TEST_CASE("a PATCH and a HEAD that come while the last PATCH ends wait for it, not 423",
          "[upload]") {
  // A client that lost its connection resumes at once (a reloaded page): HEAD must give the
  // offset the daemon keeps once it sees the old connection close, and the PATCH must get in.
  Store store;
  RunningDaemon d(store.Sets({"upload.lock_wait=60s"}));
  const std::string source = RandomBytes(1 << 20, 9);
  const std::string id = Create(d.port, "Upload-Length: " + std::to_string(source.size()) + "\r\n");
  // HEAD, while a PATCH has sent 1000 bytes and waits: it waits (on a thread of its own) ...
  auto first = std::make_unique<OpenPatch>(d.port, id, 0, source.size(),
                                           std::string_view(source).substr(0, 1000));
  REQUIRE(WaitFor([&] { return Receiving(d.port, id); }, 10s));
  auto head = std::async(std::launch::async,
                         [&] { return Ask(d.port, "HEAD", "/api/v1/uploads/" + id, kTus); });
  REQUIRE(LockWaiting(d, 1));
  first.reset();  // ... the connection closes, the 1000 bytes are kept, and HEAD says so
  const HttpReply headed = head.get();
  CHECK(headed.status == 200);
  CHECK(Header(headed, "Upload-Offset") == "1000");
  // A PATCH, while another has sent 1000 more bytes: it waits, and gets in once that one ends.
  auto held = std::make_unique<OpenPatch>(d.port, id, 1000, source.size() - 1000,
                                          std::string_view(source).substr(1000, 1000));
  REQUIRE(WaitFor([&] { return Receiving(d.port, id); }, 10s));
  OpenPatch second(d.port, id, 2000, source.size() - 2000, "");
  REQUIRE(LockWaiting(d, 1));
  held.reset();
  second.conn.Send(source.substr(2000));
  auto reply = second.conn.Read(20s);
  REQUIRE(reply);
  INFO(reply->body);
  CHECK(reply->status == 204);
  CHECK(Header(*reply, "Upload-Offset") == std::to_string(source.size()));
  CHECK(Sha256(ReadFile(store.media() + "/videos/" + id + "/source")) == Sha256(source));
  CHECK(Metric(d.metrics_port, "streamgate_upload_lock_waiting") == 0);
  CHECK(Metric(d.metrics_port, "streamgate_upload_failures_total{reason=\"locked\"}") == 0);
}

TEST_CASE("a request that waits for an upload and whose client leaves is dropped at once",
          "[upload]") {
  Store store;
  RunningDaemon d(store.Sets({"upload.lock_wait=60s"}));
  const std::string source = RandomBytes(1 << 20, 10);
  const std::string id = Create(d.port, "Upload-Length: " + std::to_string(source.size()) + "\r\n");
  OpenPatch holder(d.port, id, 0, source.size(), std::string_view(source).substr(0, 1000));
  REQUIRE(WaitFor([&] { return Receiving(d.port, id); }, 10s));
  // A DELETE waits for the PATCH; its client gives up long before upload.lock_wait.
  auto terminate = std::make_unique<HttpConnection>(d.port);
  terminate->Send("DELETE /api/v1/uploads/" + id + " HTTP/1.1\r\nHost: t\r\n" + kTus + "\r\n");
  REQUIRE(LockWaiting(d, 1));
  terminate.reset();
  CHECK(LockWaiting(d, 0));  // dropped when the client left, not at the end of the wait
  holder.conn.Send(source.substr(1000));
  auto reply = holder.conn.Read(20s);
  REQUIRE(reply);
  CHECK(reply->status == 204);
  // The DELETE whose client left deleted nothing.
  CHECK(Ask(d.port, "HEAD", "/api/v1/uploads/" + id, kTus).status == 200);
  CHECK(Sha256(ReadFile(store.media() + "/videos/" + id + "/source")) == Sha256(source));
}

TEST_CASE("an upload past upload.expiry answers 410 and the worker's job removes its bytes",
          "[upload]") {
  Store store;
  RunningDaemon d(store.Sets({"upload.expiry=1s", "worker.gc_interval=1s"}));
  const std::string id = Create(d.port, "Upload-Length: 100\r\n");
  auto first = Patch(d.port, id, 0, std::string(10, 'a'));
  REQUIRE(first.status == 204);
  CHECK_FALSE(Header(first, "Upload-Expires").empty());
  // The periodic job removes the staged bytes, then the upload is gone and its video deleted.
  REQUIRE(WaitFor([&] { return fs::is_empty(store.media() + "/.sg-staging"); }, 20s));
  auto head = Ask(d.port, "HEAD", "/api/v1/uploads/" + id, kTus);
  CHECK(head.status == 410);
  const json video = Video(d.port, id);
  CHECK(video["state"] == "deleted");
  CHECK(Patch(d.port, id, 10, "b").status == 410);
}

TEST_CASE("an upload committed while the catalogue is away is marked uploaded when it is back",
          "[upload]") {
  Store store;
  RunningDaemon d(store.Sets());
  const std::string id = Create(d.port, "Upload-Length: 11\r\n");
  REQUIRE(Patch(d.port, id, 0, "hello ").status == 204);
  // The last bytes arrive while the catalogue is stopped: they are committed, the 204 says so,
  // and the client, done, never asks again.
  REQUIRE(d.Cli({"plugins", "stop", "metadata"}).exit_code == 0);
  auto last = Patch(d.port, id, 6, "world");
  INFO(last.body);
  REQUIRE(last.status == 204);
  CHECK(WaitFor([&] { return d.LogSays("not marked uploaded yet"); }, 10s));
  REQUIRE(d.Cli({"plugins", "start", "metadata"}).exit_code == 0);
  // The upload service's sweep (every 10 s) finds the video still "uploading" with its source
  // in the store, and finishes the step.
  CHECK(WaitFor(
      [&] {
        auto r = Ask(d.port, "GET", "/api/v1/videos/" + id);
        return r.status == 200 && json::parse(r.body).value("state", "") == "uploaded";
      },
      30s));
  // The sweep logs once it has gone through every video, after this one's state was visible.
  CHECK(WaitFor([&] { return d.LogSays("Marked uploaded the videos whose upload was committed"); },
                10s));
  CHECK(ReadFile(store.media() + "/videos/" + id + "/source") == "hello world");
}

TEST_CASE("deferred length, creation-with-upload and termination", "[upload]") {
  Store store;
  RunningDaemon d(store.Sets());
  // Deferred: the length comes with a later PATCH.
  const std::string id = Create(d.port, "Upload-Defer-Length: 1\r\n");
  auto head = Ask(d.port, "HEAD", "/api/v1/uploads/" + id, kTus);
  CHECK(Header(head, "Upload-Defer-Length") == "1");
  REQUIRE(Patch(d.port, id, 0, "hello ").status == 204);
  auto last = Patch(d.port, id, 6, "world", "Upload-Length: 11\r\n");
  INFO(last.body);
  REQUIRE(last.status == 204);
  CHECK(Video(d.port, id)["state"] == "uploaded");
  CHECK(ReadFile(store.media() + "/videos/" + id + "/source") == "hello world");

  // creation-with-upload: the POST's body is the first chunk.
  auto created =
      Ask(d.port, "POST", "/api/v1/uploads",
          kTus + "Upload-Length: 8\r\nContent-Type: application/offset+octet-stream\r\n", "abcd");
  REQUIRE(created.status == 201);
  CHECK(Header(created, "Upload-Offset") == "4");
  const std::string second = Header(created, "Location").substr(16);
  CHECK(Offset(d.port, second) == 4);

  // Termination: the upload goes, and its video is deleted.
  CHECK(Ask(d.port, "DELETE", "/api/v1/uploads/" + second, kTus).status == 204);
  CHECK(Ask(d.port, "HEAD", "/api/v1/uploads/" + second, kTus).status == 410);
  CHECK(Video(d.port, second)["state"] == "deleted");
  CHECK(Ask(d.port, "DELETE", "/api/v1/uploads/NOPE", kTus).status == 404);
}

TEST_CASE(
    "partial uploads in parallel, then a final one: the video's source is their bytes in "
    "order",
    "[upload]") {
  Store store;
  RunningDaemon d(store.Sets());
  const std::string a = RandomBytes(700000, 1);
  const std::string b = RandomBytes(300001, 2);
  const std::string pa = Create(
      d.port, "Upload-Concat: partial\r\nUpload-Length: " + std::to_string(a.size()) + "\r\n");
  const std::string pb = Create(
      d.port, "Upload-Concat: partial\r\nUpload-Length: " + std::to_string(b.size()) + "\r\n");
  REQUIRE(Patch(d.port, pb, 0, b).status == 204);
  // A final upload of an unfinished part is refused.
  auto early =
      Ask(d.port, "POST", "/api/v1/uploads",
          kTus + "Upload-Concat: final;/api/v1/uploads/" + pa + " /api/v1/uploads/" + pb + "\r\n");
  CHECK(early.status == 400);
  REQUIRE(Patch(d.port, pa, 0, a,
                "Upload-Checksum: crc32 " + tus::Base64Encode(std::string("\0\0\0\0", 4)) + "\r\n")
              .status == 460);
  REQUIRE(Patch(d.port, pa, 0, a).status == 204);
  auto head = Ask(d.port, "HEAD", "/api/v1/uploads/" + pa, kTus);
  CHECK(Header(head, "Upload-Concat") == "partial");
  auto final =
      Ask(d.port, "POST", "/api/v1/uploads",
          kTus + "Upload-Concat: final;http://t/api/v1/uploads/" + pa +
              " http://t/api/v1/uploads/" + pb + "\r\nUpload-Metadata: title Qm90aA==\r\n");
  INFO(final.body);
  REQUIRE(final.status == 201);
  const std::string id = Header(final, "Location").substr(16);
  CHECK(Offset(d.port, id) == static_cast<int64_t>(a.size() + b.size()));
  const json video = Video(d.port, id);
  CHECK(video["state"] == "uploaded");
  CHECK(video["title"] == "Both");
  CHECK(ReadFile(store.media() + "/videos/" + id + "/source") == a + b);
  // The parts are spent.
  CHECK(Ask(d.port, "HEAD", "/api/v1/uploads/" + pa, kTus).status == 404);
}

TEST_CASE("browsers may upload: CORS preflight and exposed tus headers; OPTIONS discovery",
          "[upload]") {
  Store store;
  RunningDaemon d(store.Sets());
  auto preflight = Ask(d.port, "OPTIONS", "/api/v1/uploads/X",
                       "Origin: https://app.example\r\nAccess-Control-Request-Method: PATCH\r\n"
                       "Access-Control-Request-Headers: upload-offset, tus-resumable\r\n");
  CHECK(preflight.status == 204);
  CHECK(Header(preflight, "Access-Control-Allow-Origin") == "*");
  CHECK(Contains(Header(preflight, "Access-Control-Allow-Methods"), "PATCH"));
  CHECK(Contains(Header(preflight, "Access-Control-Allow-Headers"), "Upload-Offset"));
  // tus discovery, without a preflight's headers.
  auto options = Ask(d.port, "OPTIONS", "/api/v1/uploads");
  CHECK(options.status == 204);
  CHECK(Header(options, "Tus-Version") == "1.0.0");
  CHECK(Contains(Header(options, "Tus-Extension"), "concatenation"));
  CHECK(Header(options, "Tus-Max-Size") == std::to_string(uint64_t{16} << 30));
  CHECK(Header(options, "Tus-Checksum-Algorithm") == "sha1,md5,crc32,sha256");
  auto created = Ask(d.port, "POST", "/api/v1/uploads",
                     kTus + "Origin: https://app.example\r\nUpload-Length: 1\r\n");
  CHECK(created.status == 201);
  CHECK(Header(created, "Access-Control-Allow-Origin") == "*");
  CHECK(Contains(Header(created, "Access-Control-Expose-Headers"), "Location"));
  CHECK(Contains(Header(created, "Access-Control-Expose-Headers"), "Upload-Offset"));
}

TEST_CASE("the upload metrics count bytes, uploads and failures by reason", "[upload]") {
  Store store;
  RunningDaemon d(store.Sets());
  const std::string id = Create(d.port, "Upload-Length: 3\r\n");
  REQUIRE(Patch(d.port, id, 1, "abc").status == 409);
  REQUIRE(Patch(d.port, id, 0, "abc").status == 204);
  HttpConnection c(d.metrics_port);
  auto metrics = c.Request("GET", "/metrics");
  REQUIRE(metrics);
  CHECK(Contains(metrics->body, "streamgate_upload_bytes_total 3"));
  CHECK(Contains(metrics->body, "streamgate_upload_completed_total 1"));
  CHECK(Contains(metrics->body, "streamgate_upload_failures_total{reason=\"offset\"} 1"));
  CHECK(Contains(metrics->body,
                 "streamgate_upload_responses_total{method=\"PATCH\",status=\"204\"} 1"));
  CHECK(d.Cli({"health"}).exit_code == 0);
}

// A microservice-mode process with a runtime folder of its own (two instances of one service
// must not share a control socket), on a shared NATS.
struct MicroService {
  MicroService(const std::string& service, const std::string& nats_url,
               const std::vector<std::string>& sets) {
    env.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT"};
    env.env["STREAMGATE_AUTH_REQUIRED"] = "false";
    env.env["XDG_RUNTIME_DIR"] = dir.path();
    env.env["NOTIFY_SOCKET"] = notify.path();
    env.cwd = dir.path();
    std::vector<std::string> argv = {SG_DAEMON_BIN,
                                     "--mode",
                                     "microservice",
                                     "--service",
                                     service,
                                     "--set",
                                     "nats.url=" + nats_url,
                                     "--set",
                                     "nats.reconnect_wait=100ms",
                                     "--set",
                                     "server.host=127.0.0.1",
                                     "--set",
                                     "server.port=0",
                                     "--set",
                                     "monitoring.prometheus_port=0"};
    for (const auto& set : sets) argv.insert(argv.end(), {"--set", set});
    process = std::make_unique<Process>(argv, dir, env);
    INFO(process->Stderr());
    REQUIRE(notify.WaitFor("READY=1", 15s));
    const std::string status = Run({SG_CLI_BIN, "--service", service, "--json", "status"}, env).out;
    port = ListenerPort(status, "http");
    metrics_port = ListenerPort(status, "metrics");
  }
  ~MicroService() {
    process->Signal(SIGTERM);
    process->Wait(30s);
  }
  TempDir dir;
  NotifySocket notify{dir.path() + "/notify"};
  SpawnOptions env;
  std::unique_ptr<Process> process;
  uint16_t port = 0;
  uint16_t metrics_port = 0;
};

TEST_CASE("microservice mode: two upload instances on one store never write one upload at once",
          "[upload][microservice]") {
  NatsServer nats(true);
  Store store;
  MicroService metadata("metadata", nats.Url(),
                        {"metadata.sqlite_path=" + store.dir.path() + "/streamgate.db"});
  const std::vector<std::string> sets = {"storage.path=" + store.media()};
  MicroService a("upload", nats.Url(), sets);
  // B waits for the other instance's hold (20 s, long enough for a slow build), C does not wait
  // at all (upload.lock_wait=0).
  std::vector<std::string> long_wait = sets;
  long_wait.push_back("upload.lock_wait=20s");
  MicroService b("upload", nats.Url(), long_wait);
  std::vector<std::string> no_wait = sets;
  no_wait.push_back("upload.lock_wait=0");
  MicroService c("upload", nats.Url(), no_wait);
  REQUIRE(a.port != 0);
  REQUIRE(b.port != 0);
  REQUIRE(c.port != 0);
  REQUIRE(a.port != b.port);
  REQUIRE(b.metrics_port != 0);
  const std::string source = RandomBytes(1 << 20, 5);
  // The instances reach the catalogue over NATS once their buses are up.
  std::string id;
  REQUIRE(WaitFor(
      [&] {
        auto r = Ask(a.port, "POST", "/api/v1/uploads",
                     kTus + "Upload-Length: " + std::to_string(source.size()) + "\r\n");
        if (r.status != 201) return false;
        id = Header(r, "Location").substr(16);
        return true;
      },
      20s));
  {
    OpenPatch writing(a.port, id, 0, source.size(), std::string_view(source).substr(0, 1000));
    REQUIRE(WaitFor([&] { return Receiving(a.port, id); }, 10s));
    // The other instances see the hold through NATS: no second writer, no termination.
    auto second = Patch(c.port, id, 0, source);
    INFO(second.body);
    CHECK(second.status == 423);
    CHECK(Contains(second.body, "another upload instance"));
    CHECK(Ask(c.port, "DELETE", "/api/v1/uploads/" + id, kTus).status == 423);
    CHECK(Offset(c.port, id) == 0);
    auto b_waiting = [&](double n) {
      return WaitFor([&] { return Metric(b.metrics_port, "streamgate_upload_lock_waiting") == n; },
                     10s);
    };
    // A DELETE to B waits for A's hold of another upload; its client leaves: it is dropped (off
    // the gauge), and nothing is deleted once A lets go.
    const std::string small = Create(a.port, "Upload-Length: 2000\r\n");
    {
      OpenPatch holding(a.port, small, 0, 2000, std::string(1000, 's'));
      REQUIRE(WaitFor([&] { return Receiving(a.port, small); }, 10s));
      auto terminate = std::make_unique<HttpConnection>(b.port);
      terminate->Send("DELETE /api/v1/uploads/" + small + " HTTP/1.1\r\nHost: t\r\n" + kTus +
                      "\r\n");
      REQUIRE(b_waiting(1));
      terminate.reset();
      CHECK(b_waiting(0));
      holding.conn.Send(std::string(1000, 's'));
      auto whole = holding.conn.Read(20s);
      REQUIRE(whole);
      CHECK(whole->status == 204);
      CHECK(ReadFile(store.media() + "/videos/" + small + "/source") == std::string(2000, 's'));
    }
    // A PATCH to B waits for A's hold to go (the gauge shows it waiting), and then finds what
    // A left: the upload complete, so its offset is wrong (409), not 423.
    OpenPatch waiting(b.port, id, 0, source.size(), "");
    REQUIRE(b_waiting(1));
    writing.conn.Send(source.substr(1000));
    auto done = writing.conn.Read(20s);
    REQUIRE(done);
    CHECK(done->status == 204);
    auto late = waiting.conn.Read(30s);
    REQUIRE(late);
    INFO(late->body);
    CHECK(late->status == 409);
    CHECK(Contains(late->body, "complete"));
    CHECK(b_waiting(0));
    CHECK(Metric(b.metrics_port, "streamgate_upload_failures_total{reason=\"locked\"}") == 0);
  }
  // Complete, as either instance says; the bytes are the source's.
  CHECK(Offset(b.port, id) == static_cast<int64_t>(source.size()));
  CHECK(Sha256(ReadFile(store.media() + "/videos/" + id + "/source")) == Sha256(source));
  // The hold went with the request: B writes an upload of its own at once.
  const std::string other = Create(b.port, "Upload-Length: 5\r\n");
  CHECK(Patch(b.port, other, 0, "hello").status == 204);
  CHECK(Patch(a.port, other, 5, "x").status == 403);
}

TEST_CASE("tus headers parse strictly", "[upload][tus]") {
  using namespace plugins::tus;
  auto meta = ParseMetadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential");
  REQUIRE(meta);
  CHECK(Find(*meta, "filename") == "world_domination_plan.pdf");
  CHECK(Find(*meta, "is_confidential") == "");
  CHECK_FALSE(ParseMetadata("a !!!!"));
  CHECK_FALSE(ParseMetadata("a YQ==,a YQ=="));
  CHECK_FALSE(ParseMetadata("a YQ==,,b YQ=="));
  CHECK_FALSE(ParseMetadata("a YQ==,"));
  CHECK_FALSE(ParseMetadata("a Y"));
  CHECK_FALSE(ParseMetadata(std::string(200, 'k')));
  CHECK(Base64Decode("") == "");
  CHECK(Base64Decode("YWI=") == "ab");
  CHECK_FALSE(Base64Decode("Y=Fi"));
  CHECK(Base64Encode("ab") == "YWI=");
  CHECK(ParseCount("0") == 0U);
  CHECK_FALSE(ParseCount("-1"));
  CHECK_FALSE(ParseCount("1 "));
  CHECK_FALSE(ParseCount("99999999999999999999"));
  auto sum = ParseChecksum("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=");
  REQUIRE(sum);
  sum->digest->Update("hello world");
  CHECK(sum->digest->Final() == sum->expected);
  auto crc = ParseChecksum("crc32 DUoRhQ==");  // crc32("hello world") = 0x0d4a1185
  REQUIRE(crc);
  crc->digest->Update("hello world");
  CHECK(crc->digest->Final() == crc->expected);
  CHECK_FALSE(ParseChecksum("sha512 AAAA"));
  CHECK_FALSE(ParseChecksum("sha1 AAAA"));  // wrong length
  auto concat = ParseConcat("final;/api/v1/uploads/A http://x/api/v1/uploads/B/");
  REQUIRE(concat);
  CHECK(concat->parts == std::vector<std::string>{"A", "B"});
  CHECK_FALSE(ParseConcat("final;"));
  CHECK_FALSE(ParseConcat("whole"));
  CHECK(HttpDate(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
}

}  // namespace sg::test
