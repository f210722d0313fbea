// Request bodies taken as they arrive, on the real HTTP server with real clients: a 2 GiB
// upload by curl with the process's memory flat, backpressure when the handler does not ask for
// more, the route's own limit, an early answer, `Expect: 100-continue`, and a client that leaves
// mid-body.
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <fstream>
#include <future>
#include <mutex>

#include <arpa/inet.h>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/http_client.h"
#include "tests/support/http_test_server.h"
#include "tests/support/process.h"

namespace sg::http {
namespace {

using namespace std::chrono_literals;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// What a handler saw of a body: its bytes counted and hashed (FNV-1a), and how it ended.
struct BodyTally {
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> chunks{0};
  uint64_t hash = 14695981039346656037ull;  // touched by one thread at a time
  std::promise<Error> failed;

  void Add(std::string_view data) {
    bytes += data.size();
    ++chunks;
    for (unsigned char c : data) hash = (hash ^ c) * 1099511628211ull;
  }
};

uint64_t Fnv(std::string_view data) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : data) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Reads the body to its end on a worker thread (as a plugin's blocking pool would), asking for
// the next piece only once the last one is handled; answers with what it counted.
void ReadAll(std::shared_ptr<HttpBodyReader> body, std::shared_ptr<HttpResponder> responder,
             std::shared_ptr<BodyTally> tally, boost::asio::thread_pool& pool, bool hash = true) {
  body->Read([body, responder, tally, &pool, hash](Result<HttpBodyChunk> chunk) {
    if (!chunk) {
      tally->failed.set_value(chunk.error());
      return;
    }
    boost::asio::post(
        pool, [body, responder, tally, &pool, hash, piece = std::move(chunk).value()]() mutable {
          if (hash) {
            tally->Add(piece.data);
          } else {
            tally->bytes += piece.data.size();
            ++tally->chunks;
          }
          if (!piece.last) return ReadAll(body, responder, tally, pool, hash);
          HttpResponse res;
          res.body = "{\"bytes\":" + std::to_string(tally->bytes.load()) +
                     ",\"hash\":" + std::to_string(tally->hash) + "}";
          responder->Send(std::move(res));
        });
  });
}

long PeakRssKib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Resets the peak RSS to the current RSS; false where the kernel does not allow it.
bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return out.good();
}

// A client on a non-blocking socket, to see when the server stops taking bytes.
class RawClient {
 public:
  explicit RawClient(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::fcntl(fd_, F_SETFL, O_NONBLOCK) == 0);
  }
  ~RawClient() { ::close(fd_); }
  void WriteAll(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else {
        REQUIRE(errno == EAGAIN);
        REQUIRE(WaitWritable(10s));
      }
    }
  }
  /// Sends up to `limit` bytes of `block` without blocking; false when the kernel took none.
  bool WriteSome(const std::string& block, uint64_t limit, uint64_t* sent = nullptr) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(block.size(), limit));
    if (want == 0) return false;
    const ssize_t n = ::send(fd_, block.data(), want, MSG_NOSIGNAL);
    if (n <= 0) {
      REQUIRE((n < 0 && errno == EAGAIN));
      return false;
    }
    if (sent != nullptr) *sent += static_cast<uint64_t>(n);
    return true;
  }
  bool WaitWritable(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLOUT, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
  }
  /// The status of the response's first line, or 0 when none came before the deadline.
  unsigned ReadStatus(std::chrono::milliseconds timeout) {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (got.find("\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      char buf[512];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    if (got.rfind("HTTP/1.1 ", 0) != 0) return 0;
    return static_cast<unsigned>(std::stoul(got.substr(9, 3)));
  }

 private:
  int fd_;
};

struct StreamingServer : test::HttpTestServer {
  ~StreamingServer() {
    if (server) server->Stop(std::chrono::steady_clock::now() + 5s);
    pool.join();
  }
  boost::asio::thread_pool pool{1};
};

}  // namespace

TEST_CASE("a 2 GiB body streams through a route with memory flat", "[http][streaming][slow]") {
  StreamingServer s;
  auto tally = std::make_shared<BodyTally>();
  std::optional<uint64_t> announced;
  REQUIRE(s.routes.AddStreamingRoute("PUT", "/upload/{name}", uint64_t{4} << 30,
                                     [&](const HttpRequest&, std::shared_ptr<HttpBodyReader> body,
                                         std::shared_ptr<HttpResponder> responder) {
                                       announced = body->ContentLength();
                                       ReadAll(body, responder, tally, s.pool, /*hash=*/false);
                                     }));
  s.Start();

  // A sparse file: 2 GiB to send, no disk spent. Under a sanitizer, 512 MiB keeps it quick.
  const uint64_t size = kSanitized ? uint64_t{512} << 20 : uint64_t{2} << 30;
  test::TempDir dir;
  const std::string file = dir.Write("big", "");
  REQUIRE(::truncate(file.c_str(), static_cast<off_t>(size)) == 0);

  const bool peak_resettable = ResetPeakRss();
  const long before = test::RssKib(::getpid());
  // curl sends Content-Length and `Expect: 100-continue`, as upload tools do.
  auto run = test::Run({"/usr/bin/curl", "-sS", "-T", file, "-o", "-", "-w", "\n%{http_code}",
                        s.base() + "/upload/big"},
                       {}, 300s);
  REQUIRE(run.exit_code == 0);
  CHECK(run.out.substr(run.out.rfind('\n') + 1) == "200");
  CHECK(run.out.find("\"bytes\":" + std::to_string(size)) != std::string::npos);
  CHECK(tally->bytes == size);
  REQUIRE(announced.has_value());
  CHECK(*announced == size);
  // Pieces of at most 64 KiB: many of them, none of them the whole.
  CHECK(tally->chunks >= size / 65536);

  const long grown = (peak_resettable ? PeakRssKib() : test::RssKib(::getpid())) - before;
  INFO("peak RSS grew by " << grown << " KiB while " << size / 1024 << " KiB went through");
  if (kSanitized) {
    // ASan keeps up to 256 MiB of freed pieces in quarantine and shadows every allocation, so
    // its RSS says nothing of ours: the dev build checks the bound.
    WARN("peak RSS not checked under a sanitizer (grew by " << grown << " KiB)");
  } else {
    CHECK(grown < 64 * 1024);
  }
}

TEST_CASE("a streamed body arrives whole and in order, chunked or not", "[http][streaming]") {
  StreamingServer s;
  auto tally = std::make_shared<BodyTally>();
  REQUIRE(s.routes.AddStreamingRoute(
      "POST", "/in", uint64_t{64} << 20,
      [&](const HttpRequest&, std::shared_ptr<HttpBodyReader> body,
          std::shared_ptr<HttpResponder> responder) { ReadAll(body, responder, tally, s.pool); }));
  s.Start();
  std::string data(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 2654435761u) >> 13);
  test::TempDir dir;
  const std::string file = dir.Write("data", data);

  SECTION("with Content-Length") {
    auto run = test::Run({"/usr/bin/curl", "-sS", "--data-binary", "@" + file, s.base() + "/in"});
    REQUIRE(run.exit_code == 0);
    CHECK(run.out == "{\"bytes\":" + std::to_string(data.size()) +
                         ",\"hash\":" + std::to_string(Fnv(data)) + "}");
  }
  SECTION("chunked") {
    auto run = test::Run({"/usr/bin/curl", "-sS", "-H", "Transfer-Encoding: chunked",
                          "--data-binary", "@" + file, s.base() + "/in"});
    REQUIRE(run.exit_code == 0);
    CHECK(run.out == "{\"bytes\":" + std::to_string(data.size()) +
                         ",\"hash\":" + std::to_string(Fnv(data)) + "}");
  }
  SECTION("empty") {
    auto run = test::Run({"/usr/bin/curl", "-sS", "-X", "POST", s.base() + "/in"});
    REQUIRE(run.exit_code == 0);
    CHECK(run.out == "{\"bytes\":0,\"hash\":" + std::to_string(Fnv("")) + "}");
  }
}

TEST_CASE("a handler that does not ask for more holds the client back", "[http][streaming]") {
  StreamingServer s;
  std::mutex mu;
  std::shared_ptr<HttpBodyReader> held;
  std::shared_ptr<HttpResponder> held_responder;
  auto tally = std::make_shared<BodyTally>();
  REQUIRE(s.routes.AddStreamingRoute("PUT", "/slow", uint64_t{1} << 30,
                                     [&](const HttpRequest&, std::shared_ptr<HttpBodyReader> body,
                                         std::shared_ptr<HttpResponder> responder) {
                                       // One piece, then nothing until the test lets go.
                                       body->Read(
                                           [&, body, responder](Result<HttpBodyChunk> chunk) {
                                             REQUIRE(chunk);
                                             tally->Add(chunk->data);
                                             std::lock_guard lock(mu);
                                             held = body;
                                             held_responder = responder;
                                           });
                                     }));
  s.Start([](ServerSettings& settings) { settings.write_timeout = 30s; });

  // A raw non-blocking socket: write until the kernel takes no more.
  const uint64_t size = uint64_t{256} << 20;
  RawClient c(s.port());
  c.WriteAll("PUT /slow HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(size) +
             "\r\n\r\n");
  const std::string block(1 << 20, 'x');
  uint64_t sent = 0;
  REQUIRE(test::WaitFor(
      [&] {
        c.WriteSome(block, size - sent, &sent);
        std::lock_guard lock(mu);
        return held != nullptr;
      },
      10s));
  // Keep writing until the socket buffers are full and stay full.
  while (c.WriteSome(block, size - sent, &sent) || c.WaitWritable(500ms)) {
  }
  INFO(sent << " bytes taken by the kernel while the handler held back");
  // The handler has one piece; nothing more was read. The socket buffers took a few MiB, the
  // server's memory none of it: without backpressure all 256 MiB would have gone.
  CHECK(tally->chunks == 1);
  CHECK(tally->bytes <= 65536);
  CHECK(sent < size / 4);

  // Let it go: read the rest (what was sent, then the remainder), and answer.
  std::shared_ptr<HttpBodyReader> body;
  std::shared_ptr<HttpResponder> responder;
  {
    std::lock_guard lock(mu);
    body = held;
    responder = held_responder;
  }
  ReadAll(body, responder, tally, s.pool);
  while (sent < size) {
    if (!c.WriteSome(block, size - sent, &sent)) REQUIRE(c.WaitWritable(10s));
  }
  CHECK(c.ReadStatus(30s) == 200);
  CHECK(tally->bytes == size);
}

TEST_CASE("a streaming route's own limit is kept", "[http][streaming]") {
  StreamingServer s;
  auto tally = std::make_shared<BodyTally>();
  std::atomic<int> calls{0};
  REQUIRE(s.routes.AddStreamingRoute("POST", "/small", 1000,
                                     [&](const HttpRequest&, std::shared_ptr<HttpBodyReader> body,
                                         std::shared_ptr<HttpResponder> responder) {
                                       ++calls;
                                       ReadAll(body, responder, tally, s.pool);
                                     }));
  s.Start([](ServerSettings& settings) { settings.max_body_bytes = 100; });

  SECTION("Content-Length over the limit is refused before the handler runs") {
    test::HttpConnection c(s.port());
    c.Send("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
    auto reply = c.Read();
    REQUIRE(reply);
    CHECK(reply->status == 413);
    CHECK(calls == 0);
  }
  SECTION("a chunked body that grows past it is cut off, and the handler told") {
    test::HttpConnection c(s.port());
    c.Send("POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.Send("3e8\r\n" + std::string(1000, 'a') + "\r\n");
    c.Send("10\r\n" + std::string(16, 'b') + "\r\n0\r\n\r\n");
    auto reply = c.Read();
    REQUIRE(reply);
    CHECK(reply->status == 413);
    auto status = tally->failed.get_future();
    REQUIRE(status.wait_for(5s) == std::future_status::ready);
    CHECK(status.get().code == ErrorCode::kInvalidArgument);
  }
  SECTION("the server-wide limit does not apply to it") {
    // server.max_body_size is 100 bytes here; the route's own 1000 is what counts.
    auto run = test::Run({"/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                          "--data-binary", std::string(999, 'z'), s.base() + "/small"});
    CHECK(run.out == "200");
  }
}

TEST_CASE("an answer before the body closes the connection after it", "[http][streaming]") {
  StreamingServer s;
  REQUIRE(s.routes.AddStreamingRoute("PUT", "/locked", uint64_t{1} << 30,
                                     [](const HttpRequest&, std::shared_ptr<HttpBodyReader>,
                                        std::shared_ptr<HttpResponder> responder) {
                                       HttpResponse res;
                                       res.status = 401;
                                       res.body = R"({"error":"sign in first"})";
                                       responder->Send(std::move(res));
                                     }));
  s.Start();

  SECTION("without Expect: the unread body ends the connection") {
    test::HttpConnection c(s.port());
    c.Send("PUT /locked HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n" +
           std::string(1000, 'x'));
    auto reply = c.Read();
    REQUIRE(reply);
    CHECK(reply->status == 401);
    CHECK_FALSE(reply->keep_alive);
    CHECK(c.WaitClosed(5s));
  }
  SECTION("with Expect: 100-continue, no 100 is sent and no body read") {
    // curl waits for 100 Continue, gets the 401 instead, and sends nothing more.
    test::TempDir dir;
    const std::string file = dir.Write("big", "");
    REQUIRE(::truncate(file.c_str(), off_t{1} << 30) == 0);
    auto run = test::Run({"/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                          "Expect: 100-continue", "-T", file, s.base() + "/locked"},
                         {}, 30s);
    CHECK(run.out == "401");
  }
}

TEST_CASE("Expect: 100-continue is answered when the handler reads", "[http][streaming]") {
  StreamingServer s;
  auto tally = std::make_shared<BodyTally>();
  REQUIRE(s.routes.AddStreamingRoute(
      "PUT", "/in", 1 << 20,
      [&](const HttpRequest&, std::shared_ptr<HttpBodyReader> body,
          std::shared_ptr<HttpResponder> responder) { ReadAll(body, responder, tally, s.pool); }));
  REQUIRE(s.routes.AddRoute("POST", "/whole", [](const HttpRequest& req, HttpResponse& res) {
    res.body = std::to_string(req.body.size());
  }));
  s.Start();
  for (const std::string path : {"/in", "/whole"}) {
    INFO(path);
    test::HttpConnection c(s.port());
    c.Send((path == "/in" ? "PUT " : "POST ") + path +
           " HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    auto interim = c.Read();
    REQUIRE(interim);
    CHECK(interim->status == 100);
    c.Send("hello");
    auto reply = c.Read();
    REQUIRE(reply);
    CHECK(reply->status == 200);
    CHECK(reply->keep_alive);
  }
}

TEST_CASE("a client that leaves mid-body is reported to the handler", "[http][streaming]") {
  StreamingServer s;
  auto tally = std::make_shared<BodyTally>();
  REQUIRE(s.routes.AddStreamingRoute(
      "PUT", "/in", uint64_t{1} << 30,
      [&](const HttpRequest&, std::shared_ptr<HttpBodyReader> body,
          std::shared_ptr<HttpResponder> responder) { ReadAll(body, responder, tally, s.pool); }));
  s.Start();
  auto failed = tally->failed.get_future();
  {
    test::HttpConnection c(s.port());
    c.Send("PUT /in HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" +
           std::string(200000, 'x'));
    REQUIRE(test::WaitFor([&] { return tally->bytes >= 200000; }, 10s));
  }  // closes the connection, 800 kB short
  REQUIRE(failed.wait_for(10s) == std::future_status::ready);
  CHECK(failed.get().code == ErrorCode::kUnavailable);
  // The server goes on.
  test::HttpConnection next(s.port());
  next.Send("PUT /in HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  auto reply = next.Read();
  REQUIRE(reply);
  CHECK(reply->status == 200);
}

}  // namespace sg::http
