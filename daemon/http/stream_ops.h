// How a session treats its stream: deadlines, closing, the peer's address, watching for a close
// while a handler works, and sending a file. Specialised for TCP here, and for Beast's test stream
// in the fuzz target.
#pragma once

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sg::http {

template <class Stream>
struct StreamOps;

/// An open file the session sends; closed when the session lets go of it.
class FileHandle {
 public:
  FileHandle() = default;
  explicit FileHandle(int fd) : fd_(fd) {}
  FileHandle(FileHandle&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileHandle& operator=(FileHandle&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  ~FileHandle() { Reset(); }
  int fd() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

/// The server's TCP connections carry their I/O thread's io_context executor itself rather than
/// Beast's default, the type-erased any_io_executor: copying, comparing and destroying that on
/// every operation took 9% of the CPU of a /health request (tests/bench/README.md).
using TcpSocket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;
using TcpStream =
    boost::beast::basic_stream<boost::asio::ip::tcp, boost::asio::io_context::executor_type,
                               boost::beast::unlimited_rate_policy>;

/// Sends `count` bytes of `fd` from `offset` over a TCP socket with sendfile(2): the kernel copies
/// from the page cache to the socket, nothing passes through user space. Waits for the socket to
/// take more whenever it is full; the whole send has one deadline.
class TcpSendFile : public std::enable_shared_from_this<TcpSendFile> {
 public:
  using Done = std::function<void(boost::beast::error_code)>;
  TcpSendFile(TcpSocket& socket, int fd, uint64_t offset, uint64_t count,
              std::chrono::steady_clock::duration timeout, Done done)
      : socket_(socket),
        fd_(fd),
        offset_(static_cast<off_t>(offset)),
        remaining_(count),
        timer_(socket.get_executor()),
        done_(std::move(done)) {
    timer_.expires_after(timeout);
  }

  /// Sends what the socket takes now: true when it would block with bytes left, false when done
  /// or failed (`ec` says which). The socket is put in non-blocking mode.
  static bool SendNow(TcpSocket& socket, int fd, off_t& offset, uint64_t& remaining,
                      boost::beast::error_code& ec) {
    socket.non_blocking(true, ec);
    while (!ec && remaining > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(remaining, 1u << 20));
      const ssize_t n = ::sendfile(socket.native_handle(), fd, &offset, chunk);
      if (n > 0) {
        remaining -= static_cast<uint64_t>(n);
      } else if (n == 0) {
        ec = boost::asio::error::eof;  // the file shrank under us
      } else if (errno == EAGAIN) {
        return true;
      } else if (errno != EINTR) {
        ec = boost::beast::error_code(errno, boost::system::system_category());
      }
    }
    return false;
  }

  void Start() {
    timer_.async_wait([weak = weak_from_this()](boost::beast::error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) {
        self->timed_out_ = true;
        boost::beast::error_code ignored;
        self->socket_.cancel(ignored);
      }
    });
    Step();
  }

 private:
  void Step() {
    boost::beast::error_code ec;
    if (SendNow(socket_, fd_, offset_, remaining_, ec)) {
      socket_.async_wait(
          boost::asio::ip::tcp::socket::wait_write,
          [self = shared_from_this()](boost::beast::error_code wait_ec) {
            if (wait_ec) {
              return self->Finish(self->timed_out_ ? boost::beast::error::timeout : wait_ec);
            }
            self->Step();
          });
      return;
    }
    Finish(ec);
  }

  void Finish(boost::beast::error_code ec) {
    timer_.cancel();
    auto done = std::move(done_);
    done(ec);
  }

  TcpSocket& socket_;
  int fd_;
  off_t offset_;
  uint64_t remaining_;
  boost::asio::steady_timer timer_;
  Done done_;
  bool timed_out_ = false;
};

template <>
struct StreamOps<TcpStream> {
  static void ExpireAfter(TcpStream& s, std::chrono::steady_clock::duration d) {
    s.expires_after(d);
  }
  static void Close(TcpStream& s) {
    boost::beast::error_code ec;
    s.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    s.socket().close(ec);
  }
  static std::string Remote(TcpStream& s) {
    boost::beast::error_code ec;
    const auto peer = s.socket().remote_endpoint(ec);
    return ec ? std::string("-") : peer.address().to_string();
  }
  /// Calls `done(true)` when the client closes while nothing is read (an asynchronous handler
  /// is at work), `done(false)` when it sends more (pipelining) instead. CancelWatch ends it.
  static void WatchClose(TcpStream& s, std::function<void(bool gone)> done) {
    s.socket().async_wait(
        boost::asio::ip::tcp::socket::wait_read,
        [&socket = s.socket(), done = std::move(done)](boost::beast::error_code ec) {
          if (ec == boost::asio::error::operation_aborted) return;
          if (ec) return done(true);
          char byte;
          const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
          done(n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR));
        });
  }
  static void CancelWatch(TcpStream& s) {
    boost::beast::error_code ec;
    s.socket().cancel(ec);
  }
  /// Reads what the client has already sent, without waiting: the bytes read, 0 when there are
  /// none yet, or on end of stream or an error, which the asynchronous read that follows meets.
  static size_t ReadNow(TcpStream& s, boost::asio::mutable_buffer into) {
    const ssize_t n = ::recv(s.socket().native_handle(), into.data(), into.size(), MSG_DONTWAIT);
    return n > 0 ? static_cast<size_t>(n) : 0;
  }
  /// Sends what the socket takes now, without waiting: the bytes sent, 0 on EAGAIN or an error,
  /// which the asynchronous write of the rest meets. `more`: a file's bytes follow at once
  /// (sendfile), and go out in the same segments as these (MSG_MORE).
  static size_t WriteNow(TcpStream& s, const std::array<boost::asio::const_buffer, 2>& buffers,
                         bool more) {
    std::array<iovec, 2> iov{};
    for (size_t i = 0; i < buffers.size(); ++i) {
      iov[i].iov_base = const_cast<void*>(buffers[i].data());
      iov[i].iov_len = buffers[i].size();
    }
    msghdr message{};
    message.msg_iov = iov.data();
    message.msg_iovlen = iov.size();
    const ssize_t n = ::sendmsg(s.socket().native_handle(), &message,
                                MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    return n > 0 ? static_cast<size_t>(n) : 0;
  }
  static void SendFile(TcpStream& s, int fd, uint64_t offset, uint64_t count,
                       std::chrono::steady_clock::duration timeout,
                       std::function<void(boost::beast::error_code)> done) {
    // What the socket takes at once (a playlist, a segment its buffer has room for) goes without
    // the deadline's timer; the rest the asynchronous way.
    auto at = static_cast<off_t>(offset);
    uint64_t remaining = count;
    boost::beast::error_code ec;
    if (!TcpSendFile::SendNow(s.socket(), fd, at, remaining, ec)) return done(ec);
    std::make_shared<TcpSendFile>(s.socket(), fd, static_cast<uint64_t>(at), remaining, timeout,
                                  std::move(done))
        ->Start();
  }
};

}  // namespace sg::http
