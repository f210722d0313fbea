// The HTTP front door against hostile clients: each case of issue 22 against the real daemon over
// real sockets, then a check that it still serves. The differential test beside it sends the
// same requests to nginx.
#include <atomic>
#include <cstring>
#include <iostream>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/daemon_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace sg::test {
namespace {

// A raw loopback socket that never blocks the test: every send and read is bounded in time.
class RawSocket {
 public:
  explicit RawSocket(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawSocket() {
    if (fd_ >= 0) close(fd_);
  }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool connected() const { return connected_; }

  /// Sends all of `bytes` unless the peer stops taking them for `timeout` or closes; false then.
  bool Send(std::string_view bytes, std::chrono::milliseconds timeout = 2s) {
    while (!bytes.empty()) {
      pollfd p{fd_, POLLOUT, 0};
      if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
      const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return false;
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  /// Everything the peer sends until it closes or `timeout` passes with nothing new.
  std::string ReadAll(std::chrono::milliseconds timeout = 5s) {
    std::string out;
    char buf[4096];
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) break;
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// The status code of the first response in `raw`, or 0.
unsigned FirstStatus(const std::string& raw) {
  if (raw.size() < 12 || raw.rfind("HTTP/1.", 0) != 0) return 0;
  return static_cast<unsigned>(std::stoi(raw.substr(9, 3)));
}

size_t CountResponses(const std::string& raw) {
  size_t count = 0;
  for (size_t at = raw.find("HTTP/1.1 "); at != std::string::npos;
       at = raw.find("HTTP/1.1 ", at + 1)) {
    ++count;
  }
  return count;
}

// Sends one raw exchange on a fresh connection; what came back, read until the server closes.
std::string Exchange(uint16_t port, const std::string& bytes) {
  RawSocket s(port);
  REQUIRE(s.connected());
  s.Send(bytes);
  return s.ReadAll(3s);
}

// The RSS a daemon may reach through the hostile cases: 64 MiB, or under a sanitizer (whose
// shadow memory alone is ~100 MiB) 64 MiB above where it started.
long RssBoundKib(long baseline_kib) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return baseline_kib + 64 * 1024;
#else
  (void)baseline_kib;
  return 64 * 1024;
#endif
}

bool Healthy(uint16_t port) {
  HttpConnection c(port);
  auto reply = c.Request("GET", "/health");
  return reply && reply->status == 200;
}

std::string Chunked(const std::string& trailer) {
  return "GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + trailer +
         "\r\n";
}

}  // namespace

TEST_CASE("hostile 1: a 64 KiB trailer field is refused, not a crash", "[gateway][hostile]") {
  RunningDaemon d;
  for (const std::string& trailer :
       {"X: " + std::string(65534, 'a') + "\r\n", std::string(65534, 'n') + ": v\r\n",
        "X: " + std::string(70000, 'a') + "\r\n"}) {
    const std::string reply = Exchange(d.port, Chunked(trailer));
    INFO(reply.substr(0, 200));
    CHECK((FirstStatus(reply) == 431 || FirstStatus(reply) == 400));
    CHECK(Contains(reply, "Connection: close"));
    REQUIRE(d.daemon->Running());
  }
  // Headers and trailers count together against server.max_header_bytes.
  const std::string half(9000, 'h');
  const std::string together = "GET /health HTTP/1.1\r\nHost: x\r\nX-A: " + half +
                               "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-B: " + half +
                               "\r\n\r\n";
  CHECK(FirstStatus(Exchange(d.port, together)) == 431);
  // A small trailer is fine.
  CHECK(FirstStatus(Exchange(d.port, Chunked("X-Checksum: abc\r\n"))) == 200);
  // So many fields that their count, not their size, is the limit.
  std::string many;
  for (int i = 0; i < 150; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  CHECK(FirstStatus(Exchange(d.port, "GET /health HTTP/1.1\r\nHost: x\r\n" + many + "\r\n")) ==
        431);
  CHECK(Healthy(d.port));
  CHECK(Contains(d.Cli({"status"}).out, "api-gateway"));
}

TEST_CASE("hostile 1b: server.max_header_bytes stops below what Beast can store",
          "[gateway][hostile]") {
  TempDir dir;
  const std::string file = dir.Write("big.yaml", "server:\n  max_header_bytes: 1MiB\n");
  const RunResult r = Run({SG_CLI_BIN, "config", "validate", file});
  CHECK(r.exit_code == 78);
  CHECK(Contains(r.out + r.err, "big.yaml:2:"));
  CHECK(Contains(r.out + r.err, "server.max_header_bytes"));

  // At the top of the range, the largest header a client can send is refused cleanly.
  RunningDaemon d({"server.max_header_bytes=60KiB"});
  const std::string reply = Exchange(
      d.port, "GET /health HTTP/1.1\r\nHost: x\r\nX: " + std::string(65534, 'a') + "\r\n\r\n");
  CHECK(FirstStatus(reply) == 431);
  // Every refusal has the API's error shape: what went wrong, a code, what to do next.
  CHECK(Contains(reply, R"("code":"header_limit")"));
  CHECK(Contains(reply, "server.max_header_bytes"));
  // A body announced past the limit is refused before it is read, saying the limit.
  const std::string large =
      Exchange(d.port, "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\n\r\n");
  CHECK(FirstStatus(large) == 413);
  CHECK(Contains(large, R"("code":"body_limit")"));
  CHECK(Contains(large, "at most 10485760 bytes"));
  CHECK(Healthy(d.port));
}

TEST_CASE("hostile 2: an endless trailer section is cut off with bounded memory",
          "[gateway][hostile]") {
  RunningDaemon d;
  const long before = RssKib(d.daemon->pid());
  RawSocket s(d.port);
  REQUIRE(s.connected());
  REQUIRE(s.Send("GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"));
  // 64 MiB of small trailer lines, or until the server stops taking them.
  const std::string lines = [] {
    std::string block;
    while (block.size() < 64 * 1024) block += "X-Trailer: abcdefgh\r\n";
    return block;
  }();
  size_t sent = 0;
  while (sent < size_t{64} * 1024 * 1024 && s.Send(lines, 1s)) sent += lines.size();
  INFO("sent " << sent << " bytes of trailer before the server stopped reading");
  // What the kernel's socket buffers hold, and no more: the server stopped reading early.
  CHECK(sent < size_t{32} * 1024 * 1024);
  const std::string reply = s.ReadAll(3s);
  CHECK((FirstStatus(reply) == 431 || FirstStatus(reply) == 400));
  const long after = RssKib(d.daemon->pid());
  INFO("RSS before " << before << " KiB, after " << after << " KiB");
  CHECK(after < RssBoundKib(before));
  CHECK(Healthy(d.port));
}

TEST_CASE("hostile 3: HTTP connections cannot take the descriptors the control socket needs",
          "[gateway][hostile]") {
  // 256 descriptors at most: HTTP gets what the reserve leaves (a quarter here), the rest stays
  // for the control socket, the log stream and files.
  RunningDaemon d({}, "", {"/usr/bin/prlimit", "--nofile=256:256", "--"});
  CHECK(WaitFor([&] { return d.LogSays("more than the descriptor limit leaves room for"); }, 5s));
  std::vector<std::unique_ptr<RawSocket>> idle;
  for (int i = 0; i < 400; ++i) {
    idle.push_back(std::make_unique<RawSocket>(d.port));
  }
  // The control socket still answers while every HTTP slot is taken.
  const RunResult status = d.Cli({"status"});
  CHECK(status.exit_code == 0);
  const RunResult health = d.Cli({"health"});
  CHECK(health.exit_code <= 2);  // answered, whatever it says
  REQUIRE(d.daemon->Running());
  idle.clear();
  // Once the clients go, HTTP serves again.
  CHECK(WaitFor([&] { return Healthy(d.port); }, 10s));
  CHECK(d.daemon->Running());
}

TEST_CASE("hostile 4: transfer codings other than chunked are refused, never re-parsed",
          "[gateway][hostile]") {
  RunningDaemon d;
  RawSocket p(d.port);
  REQUIRE(p.Send("PUT /api/v1/cache/victim HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nvalue"));
  REQUIRE(FirstStatus(p.ReadAll(1s)) / 100 == 2);

  const std::string smuggled = "DELETE /api/v1/cache/victim HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const std::string coding : {"xchunked", "chunked, gzip", "gzip, chunked", "identity"}) {
    const std::string reply =
        Exchange(d.port, "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + coding +
                             "\r\n\r\n" + smuggled);
    INFO(coding << ": " << reply.substr(0, 300));
    CHECK(FirstStatus(reply) == 501);
    CHECK(CountResponses(reply) == 1);  // the body was never read as a request
    CHECK(Contains(reply, "Connection: close"));
  }
  // Two Transfer-Encoding fields, Content-Length beside chunked, TE on HTTP/1.0.
  CHECK(FirstStatus(Exchange(d.port,
                             "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")) /
            100 ==
        4);
  CHECK(FirstStatus(Exchange(d.port,
                             "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")) == 400);
  CHECK(FirstStatus(Exchange(d.port,
                             "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n"
                             "Content-Length: 5\r\n\r\nhello")) == 400);
  CHECK(FirstStatus(Exchange(
            d.port, "POST /health HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")) ==
        400);
  // The smuggled DELETE never ran.
  RawSocket g(d.port);
  REQUIRE(g.Send("GET /api/v1/cache/victim HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const std::string value = g.ReadAll(2s);
  CHECK(FirstStatus(value) == 200);
  CHECK(Contains(value, "value"));
}

TEST_CASE("hostile 5: Host and the request target are checked as RFC 9112 says",
          "[gateway][hostile]") {
  RunningDaemon d;
  auto status = [&](const std::string& request) { return FirstStatus(Exchange(d.port, request)); };
  CHECK(status("GET /health HTTP/1.1\r\n\r\n") == 400);                          // no Host
  CHECK(status("POST /health HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi") == 400);  // with a body
  CHECK(status("GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);    // two
  CHECK(status("GET /health HTTP/1.1\r\nHost: a b\r\n\r\n") == 400);             // not a host
  CHECK(status("GET /health HTTP/1.1\r\nHost: a/b\r\n\r\n") == 400);
  CHECK(status("GET health HTTP/1.1\r\nHost: x\r\n\r\n") == 400);  // no slash
  CHECK(status("GET * HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
  CHECK(status("GET http://example.com/health HTTP/1.1\r\nHost: x\r\n\r\n") == 200);  // absolute
  CHECK(status("GET HTTP://example.com:8080/health?x=1 HTTP/1.1\r\nHost: x\r\n\r\n") == 200);
  CHECK(status("GET http:///health HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
  CHECK(status("GET /health HTTP/1.0\r\n\r\n") == 200);  // HTTP/1.0 needs no Host
  CHECK(status("GET /health HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n") == 200);
  CHECK(Healthy(d.port));
}

TEST_CASE("hostile 6: a reload that changes server.io_threads drops no request under load",
          "[gateway][hostile]") {
  TempDir files;
  auto config = [&](int threads) {
    return files.Write("sg.yaml", "server:\n  host: 127.0.0.1\n  port: 0\n  io_threads: " +
                                      std::to_string(threads) + "\n");
  };
  RunningDaemon d({}, config(1));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      while (!stop) {
        // Half the clients open a connection per request, so that some always wait to be
        // accepted while the listeners change hands; the others keep theirs alive.
        if (t % 2 == 0) {
          RawSocket s(d.port);
          if (!s.connected() ||
              !s.Send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") ||
              FirstStatus(s.ReadAll(5s)) != 200) {
            ++failed;
          } else {
            ++ok;
          }
        } else {
          try {
            HttpConnection c(d.port);
            for (int i = 0; i < 50 && !stop; ++i) {
              auto reply = c.Request("GET", "/health");
              if (!reply || reply->status != 200) {
                ++failed;
                break;
              }
              ++ok;
              if (!reply->keep_alive) break;
            }
          } catch (const std::exception&) {
            ++failed;  // refused: nobody listened
          }
        }
      }
    });
  }
  for (int threads : {2, 1, 3, 1}) {
    config(threads);
    const uint64_t before = ok.load();
    const RunResult r = d.Cli({"config", "reload"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    // Let requests flow through the new listeners before the next change.
    CHECK(WaitFor([&] { return ok.load() > before + 500; }, 20s));
  }
  stop = true;
  for (auto& c : clients) c.join();
  INFO("requests answered: " << ok.load());
  CHECK(failed.load() == 0);
  CHECK(ok.load() > 2000);
}

TEST_CASE("hostile 7: responses during the drain say Connection: close", "[gateway][hostile]") {
  RunningDaemon d({"daemon.shutdown_timeout=10s"});
  // A keep-alive client halfway through a request when the stop begins.
  RawSocket s(d.port);
  REQUIRE(s.Send("POST /api/v1/cache/k HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello"));
  d.daemon->Signal(SIGTERM);
  REQUIRE(WaitFor([&] { return d.LogSays("Draining API Gateway"); }, 10s));
  REQUIRE(s.Send("world"));
  const std::string reply = s.ReadAll(5s);
  INFO(reply);
  CHECK(FirstStatus(reply) != 0);
  CHECK(Contains(reply, "Connection: close"));
  CHECK(d.daemon->Wait(20s) == 0);
}

}  // namespace sg::test

namespace sg::test {
namespace {

// nginx in the foreground on a free loopback port, answering /health as the gateway does.
struct Nginx {
  Nginx() {
    port = FreePort();
    const std::string conf = dir.Write(
        "nginx.conf",
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid " + dir.path() +
            "/nginx.pid;\nerror_log " + dir.path() +
            "/error.log;\nevents {}\nhttp {\n"
            "  access_log off;\n  client_body_temp_path " +
            dir.path() +
            "/body;\n"
            "  proxy_temp_path " +
            dir.path() + "/proxy;\n  fastcgi_temp_path " + dir.path() +
            "/fastcgi;\n  uwsgi_temp_path " + dir.path() + "/uwsgi;\n  scgi_temp_path " +
            dir.path() + "/scgi;\n  server {\n    listen 127.0.0.1:" + std::to_string(port) +
            ";\n    location = /health { default_type application/json; "
            "return 200 '{\"status\":\"healthy\"}'; }\n    location / { return 404; }\n  }\n}\n");
    process = std::make_unique<Process>(
        std::vector<std::string>{"/usr/sbin/nginx", "-p", dir.path(), "-e",
                                 dir.path() + "/error.log", "-c", conf},
        dir);
    REQUIRE(WaitForPort(port, 10s));
  }
  TempDir dir;
  uint16_t port = 0;
  std::unique_ptr<Process> process;
};

}  // namespace

TEST_CASE("hostile requests: StreamGate against nginx, differences listed with reasons",
          "[gateway][hostile][differential]") {
  if (access("/usr/sbin/nginx", X_OK) != 0) {
    FAIL("nginx is not installed: scripts/install-deps.sh --test installs nginx-light");
  }
  RunningDaemon d;
  const long baseline = RssKib(d.daemon->pid());
  Nginx nginx;
  struct Case {
    std::string name;
    std::string request;
    std::string why_different;  // empty: the two answer alike
  };
  const std::string big(65534, 'a');
  const std::vector<Case> cases = {
      {"plain GET", "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", ""},
      {"no Host on 1.1", "GET /health HTTP/1.1\r\n\r\n", ""},
      {"two Hosts", "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", ""},
      {"Host with a space", "GET /health HTTP/1.1\r\nHost: a b\r\n\r\n", ""},
      {"target without a slash", "GET health HTTP/1.1\r\nHost: x\r\n\r\n", ""},
      {"absolute form", "GET http://example.com/health HTTP/1.1\r\nHost: x\r\n\r\n", ""},
      {"HTTP/1.0 without Host", "GET /health HTTP/1.0\r\n\r\n", ""},
      {"Transfer-Encoding: xchunked",
       "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n"
       "DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n",
       ""},
      {"Transfer-Encoding: chunked, gzip",
       "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", ""},
      {"Content-Length and chunked",
       "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"
       "\r\n0\r\n\r\n",
       ""},
      {"chunked on HTTP/1.0",
       "POST /health HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", ""},
      {"64 KiB trailer field", Chunked("X: " + big + "\r\n"),
       "nginx skips trailers unread and answers the GET (200); StreamGate bounds the trailer "
       "section by its read buffer and server.max_header_bytes and refuses it (400)"},
      {"64 KiB header field", "GET /health HTTP/1.1\r\nHost: x\r\nX: " + big + "\r\n\r\n",
       "nginx answers its own 494 'Request Header Or Cookie Too Large' as 400; StreamGate uses "
       "RFC 6585's 431"},
      {"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", ""},
      {"bad chunk size",
       "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n", ""},
      {"POST to a GET route", "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
       "nginx's `return 200` answers any method; the gateway's route table says 405 with Allow"},
  };
  std::ostringstream table;
  table << "case | StreamGate | nginx | why they differ\n";
  for (const auto& c : cases) {
    const unsigned ours = FirstStatus(Exchange(d.port, c.request));
    const unsigned theirs = FirstStatus(Exchange(nginx.port, c.request));
    table << c.name << " | " << ours << " | " << theirs << " | "
          << (ours == theirs ? "" : c.why_different) << "\n";
    INFO(c.name << ": StreamGate " << ours << ", nginx " << theirs);
    CHECK(ours != 0);  // every hostile request gets an answer
    if (ours != theirs) CHECK_FALSE(c.why_different.empty());
    REQUIRE(d.daemon->Running());
  }
  std::cout << table.str();
  CHECK(Healthy(d.port));
  // Memory stays bounded through the whole run.
  const long rss = RssKib(d.daemon->pid());
  INFO("RSS " << rss << " KiB");
  CHECK(rss < RssBoundKib(baseline));
}

}  // namespace sg::test
