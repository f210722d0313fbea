// A small HTTP client for tests, on Boost.Asio/Beast: raw bytes in, raw or parsed responses out,
// every read bounded by a deadline.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace sg::test {

struct HttpReply {
  unsigned status = 0;
  std::string body;
  boost::beast::http::fields headers;
  bool keep_alive = false;
};

/// One connection to 127.0.0.1:port.
class HttpConnection {
 public:
  explicit HttpConnection(uint16_t port);
  /// Sends raw bytes.
  void Send(const std::string& bytes);
  /// Reads one response; nullopt when the connection closed first or the deadline passed. A
  /// response to HEAD has no body whatever its Content-Length says: pass `head`.
  std::optional<HttpReply> Read(std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                bool head = false);
  /// Waits until the server closes the connection; true when it did before the deadline.
  bool WaitClosed(std::chrono::milliseconds timeout);
  /// GET (or another method) on this connection.
  std::optional<HttpReply> Request(const std::string& method, const std::string& target,
                                   const std::string& extra_headers = "");

 private:
  boost::asio::io_context io_;
  boost::beast::tcp_stream stream_{io_};
  boost::beast::flat_buffer buffer_;
};

/// A free TCP port on loopback, by binding port 0 and letting it go.
uint16_t FreePort();

/// Polls until something accepts TCP connections on 127.0.0.1:port; false at the deadline.
bool WaitForPort(uint16_t port, std::chrono::milliseconds timeout);

}  // namespace sg::test
