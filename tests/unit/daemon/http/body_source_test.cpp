// Response bodies from a source (an object in storage, say), on the real HTTP server with curl
// and a raw client: with and without Content-Length, HEAD, a slow client holding the source
// back, and a source that fails or breaks its promise.
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include <arpa/inet.h>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>
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

// Bytes i of every body: a pattern the client can check.
char PatternByte(uint64_t i) { return static_cast<char>('a' + (i * 7 + i / 4096) % 26); }

// Makes `size` bytes of the pattern in pieces of `piece` on a worker thread; fails after
// `fail_after` bytes when set, and says `lie` more bytes than it has at the end when set.
class PatternSource final : public HttpBodySource {
 public:
  PatternSource(uint64_t size, boost::asio::thread_pool& pool, size_t piece = 65536)
      : size_(size), pool_(pool), piece_(piece) {}
  void Read(ChunkFn fn) override {
    ++reads;
    boost::asio::post(pool_, [this, fn = std::move(fn)] {
      if (fail_after && made >= *fail_after) {
        return fn(Result<HttpBodyChunk>(Error{ErrorCode::kIo, "the disk went away"}));
      }
      const uint64_t n =
          std::min<uint64_t>(piece_, size_ - made) + (made + piece_ >= size_ ? extra : 0);
      HttpBodyChunk chunk;
      chunk.data.resize(static_cast<size_t>(n));
      for (uint64_t i = 0; i < n; ++i) chunk.data[static_cast<size_t>(i)] = PatternByte(made + i);
      made += n;
      chunk.last = made >= size_;
      fn(std::move(chunk));
    });
  }
  void Close() override { ++closes; }

  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> made{0};
  std::atomic<int> closes{0};
  std::optional<uint64_t> fail_after;
  uint64_t extra = 0;

 private:
  const uint64_t size_;
  boost::asio::thread_pool& pool_;
  const size_t piece_;
};

bool IsPattern(const std::string& body) {
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != PatternByte(i)) return false;
  }
  return true;
}

struct SourceServer : test::HttpTestServer {
  ~SourceServer() {
    if (server) server->Stop(std::chrono::steady_clock::now() + 5s);
    pool.join();
  }
  // GET /obj answers from a new source of `size` bytes each time, made as `tune` says, with
  // `length` as its Content-Length.
  void Serve(uint64_t size, std::optional<uint64_t> length,
             std::function<void(PatternSource&)> tune = {}) {
    REQUIRE(routes.AddRoute("GET", "/obj", [=, this](const HttpRequest&, HttpResponse& res) {
      auto source = std::make_shared<PatternSource>(size, pool);
      if (tune) tune(*source);
      {
        std::lock_guard lock(mu);
        sources.push_back(source);
      }
      res.content_type = "application/octet-stream";
      res.source = std::move(source);
      res.content_length = length;
    }));
    Start();
  }
  std::shared_ptr<PatternSource> Last() {
    std::lock_guard lock(mu);
    return sources.empty() ? nullptr : sources.back();
  }
  boost::asio::thread_pool pool{1};
  std::mutex mu;
  std::vector<std::shared_ptr<PatternSource>> sources;
};

}  // namespace

TEST_CASE("a response streams from its source, sized or chunked", "[http][source]") {
  SourceServer s;
  const uint64_t size = 20 * 1024 * 1024 + 5;
  const bool sized = GENERATE(true, false);
  s.Serve(size, sized ? std::optional<uint64_t>(size) : std::nullopt);
  test::TempDir dir;
  const std::string out = dir.path() + "/obj";
  auto run =
      test::Run({"/usr/bin/curl", "-sS", "-D", dir.path() + "/head", "-o", out, s.base() + "/obj"});
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const std::string body = test::ReadFile(out);
  const std::string head = test::ReadFile(dir.path() + "/head");
  CHECK(body.size() == size);
  CHECK(IsPattern(body));
  if (sized) {
    CHECK(head.find("Content-Length: " + std::to_string(size)) != std::string::npos);
  } else {
    CHECK(head.find("Transfer-Encoding: chunked") != std::string::npos);
  }
  CHECK(s.Last()->closes == 1);
  // The connection goes on after it.
  test::HttpConnection c(s.port());
  auto again = c.Request("GET", "/obj");
  REQUIRE(again);
  CHECK(again->body.size() == size);
  CHECK(again->keep_alive);
}

TEST_CASE("HEAD answers from a source without reading it", "[http][source]") {
  SourceServer s;
  s.Serve(1000, uint64_t{1000});
  test::HttpConnection c(s.port());
  c.Send("HEAD /obj HTTP/1.1\r\nHost: x\r\n\r\n");
  auto reply = c.Read(5s, /*head=*/true);
  REQUIRE(reply);
  CHECK(reply->status == 200);
  CHECK(reply->headers["Content-Length"] == "1000");
  auto source = s.Last();
  REQUIRE(source);
  CHECK(source->reads == 0);
  CHECK(source->closes == 1);
}

TEST_CASE("a client that does not read holds the source back", "[http][source]") {
  SourceServer s;
  const uint64_t size = uint64_t{1} << 30;
  s.Serve(size, size);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  // A small receive buffer, so the kernel holds little on the client's side.
  const int small = 64 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(s.port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const std::string request = "GET /obj HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  REQUIRE(test::WaitFor([&] { return s.Last() != nullptr; }, 10s));
  auto source = s.Last();
  // Wait until the server stops asking for pieces: the socket is full and nothing is read.
  uint64_t last = 0;
  REQUIRE(test::WaitFor(
      [&] {
        const uint64_t now = source->made;
        const bool settled = now > 0 && now == last;
        last = now;
        return settled;
      },
      30s));
  INFO(source->made << " bytes made while the client read nothing");
  CHECK(source->made < size / 16);  // a few MiB in socket buffers, not the gigabyte
  // Reading on lets the rest come.
  uint64_t got = 0;
  char buf[1 << 16];
  std::string start;
  while (true) {
    pollfd p{fd, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 10000) == 1);
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    REQUIRE(n > 0);
    if (start.size() < 4096) start.append(buf, static_cast<size_t>(n));
    got += static_cast<uint64_t>(n);
    const size_t head_end = start.find("\r\n\r\n");
    if (head_end != std::string::npos && got >= size + head_end + 4) break;
  }
  ::close(fd);
  CHECK(source->made == size);
}

TEST_CASE("a source that fails or lies cuts the response short", "[http][source]") {
  SourceServer s;
  const uint64_t size = 4 * 1024 * 1024;
  const bool sized = GENERATE(true, false);
  const bool lie = GENERATE(false, true);
  if (lie && !sized) return;  // without a length there is nothing to lie about
  s.Serve(size, sized ? std::optional<uint64_t>(size) : std::nullopt,
          [lie, size](PatternSource& source) {
            if (lie) {
              source.extra = 10;
            } else {
              source.fail_after = size / 2;
            }
          });
  test::TempDir dir;
  auto run = test::Run({"/usr/bin/curl", "-sS", "-o", dir.path() + "/obj", s.base() + "/obj"});
  INFO(run.err);
  // curl says the transfer was cut short (18: partial file; 56: failure receiving).
  CHECK((run.exit_code == 18 || run.exit_code == 56));
  const std::string body = test::ReadFile(dir.path() + "/obj");
  CHECK(body.size() < size + (lie ? 10 : 0));
  CHECK(IsPattern(body));
  CHECK(s.Last()->closes == 1);
  // The server goes on.
  test::HttpConnection c(s.port());
  c.Send("HEAD /obj HTTP/1.1\r\nHost: x\r\n\r\n");
  auto reply = c.Read(5s, /*head=*/true);
  REQUIRE(reply);
  CHECK(reply->status == 200);
}

}  // namespace sg::http
