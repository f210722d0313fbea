#include "tests/support/http_client.h"

#include <cerrno>
#include <thread>

#include <poll.h>
#include <sys/socket.h>

namespace sg::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

HttpConnection::HttpConnection(uint16_t port) {
  stream_.expires_after(std::chrono::seconds(5));
  stream_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
}

void HttpConnection::Send(const std::string& bytes) {
  stream_.expires_after(std::chrono::seconds(5));
  beast::error_code ec;
  asio::write(stream_.socket(), asio::buffer(bytes), ec);
}

std::optional<HttpReply> HttpConnection::Read(std::chrono::milliseconds timeout, bool head) {
  http::response_parser<http::string_body> parser;
  parser.skip(head);
  parser.body_limit(64 * 1024 * 1024);
  beast::error_code ec;
  stream_.expires_after(timeout);
  // Synchronous reads on a tcp_stream honour the deadline only through async operations: run one.
  bool done = false;
  http::async_read(stream_, buffer_, parser, [&](beast::error_code e, size_t) {
    ec = e;
    done = true;
  });
  io_.restart();
  io_.run();
  if (!done || ec) return std::nullopt;
  const auto& res = parser.get();
  HttpReply reply;
  reply.status = res.result_int();
  reply.body = res.body();
  reply.headers = res.base();
  reply.keep_alive = res.keep_alive();
  return reply;
}

bool HttpConnection::WaitClosed(std::chrono::milliseconds timeout) {
  // Poll the socket itself: a tcp_stream timeout would close our end.
  const int fd = stream_.socket().native_handle();
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char byte;
  const ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno == ECONNRESET) || (p.revents & (POLLHUP | POLLERR)) != 0;
}

std::optional<HttpReply> HttpConnection::Request(const std::string& method,
                                                 const std::string& target,
                                                 const std::string& extra_headers) {
  Send(method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extra_headers + "\r\n");
  return Read(std::chrono::seconds(5), method == "HEAD");
}

bool WaitForPort(uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    asio::io_context io;
    tcp::socket socket(io);
    beast::error_code ec;
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    if (!ec) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling interval
  }
}

uint16_t FreePort() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

}  // namespace sg::test
