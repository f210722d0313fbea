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
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/plugin_api/http.h"

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

/// A pipe for splice(2), kept per I/O thread when a transfer leaves it empty: making one costs
/// two descriptors and a few system calls per response.
class SplicePipe {
 public:
  SplicePipe() = default;
  SplicePipe(SplicePipe&& other) noexcept
      : read_(std::exchange(other.read_, -1)), write_(std::exchange(other.write_, -1)) {}
  SplicePipe& operator=(SplicePipe&&) = delete;
  SplicePipe(const SplicePipe&) = delete;
  SplicePipe& operator=(const SplicePipe&) = delete;
  ~SplicePipe() {
    if (read_ >= 0) ::close(read_);
    if (write_ >= 0) ::close(write_);
  }
  /// An empty pipe of this thread's, or a new one; invalid when none can be made (out of
  /// descriptors, or the user's pipe allowance spent), and the caller reads pieces instead.
  static SplicePipe Take() {
    auto& spare = Spare();
    if (!spare.empty()) {
      SplicePipe pipe = std::move(spare.back());
      spare.pop_back();
      return pipe;
    }
    SplicePipe pipe;
    std::array<int, 2> fds{};
    if (::pipe2(fds.data(), O_CLOEXEC | O_NONBLOCK) != 0) return pipe;
    pipe.read_ = fds[0];
    pipe.write_ = fds[1];
    // Room for 256 KiB, as the proxy's pieces: fewer round trips. Past the user's allowance of
    // pipe pages (fs.pipe-user-pages-soft) the kernel makes pipes of 8 KiB and refuses to grow
    // them: too small to be worth it, so the caller reads pieces then.
    (void)::fcntl(pipe.write_, F_SETPIPE_SZ, 256 * 1024);
    if (::fcntl(pipe.write_, F_GETPIPE_SZ) < 64 * 1024) return {};
    return pipe;
  }
  /// Keeps an empty pipe for the next transfer on this thread; one with bytes in it is closed.
  static void Give(SplicePipe pipe, bool empty) {
    auto& spare = Spare();
    if (empty && pipe.valid() && spare.size() < 8) spare.push_back(std::move(pipe));
  }
  bool valid() const { return read_ >= 0; }
  int read_end() const { return read_; }
  int write_end() const { return write_; }

 private:
  static std::vector<SplicePipe>& Spare() {
    thread_local std::vector<SplicePipe> spare;
    return spare;
  }
  int read_ = -1;
  int write_ = -1;
};

/// Writes `prefix` (a response's head and the body's first bytes), then moves `count` bytes from
/// a spliceable source's socket to a TCP client with splice(2), through a pipe: socket to pipe,
/// pipe to socket, nothing through user space. Waits for the source when it has nothing and for
/// the client when it is full, each wait bounded by its side's timeout: a transfer that makes
/// progress may take as long as it needs.
class TcpSplice : public std::enable_shared_from_this<TcpSplice> {
 public:
  /// How a transfer ended: `ec`, the spliced bytes the client took (the prefix not counted),
  /// and whether the client's side failed (it left) rather than the source or a deadline.
  using Done = std::function<void(boost::beast::error_code, uint64_t sent, bool client_failed)>;
  using Prefix = std::array<boost::asio::const_buffer, 2>;
  using Duration = std::chrono::steady_clock::duration;
  TcpSplice(TcpSocket& socket, Prefix prefix, HttpSpliceable& source, SplicePipe pipe,
            uint64_t count, Duration read_timeout, Duration write_timeout, Done done)
      : socket_(socket),
        prefix_(prefix),
        source_(source),
        pipe_(std::move(pipe)),
        remaining_(count),
        read_timeout_(read_timeout),
        write_timeout_(write_timeout),
        timer_(socket.get_executor()),
        done_(std::move(done)) {}

  void Start() {
    boost::beast::error_code ec;
    socket_.non_blocking(true, ec);
    if (ec) return Finish(ec, true);
    Arm(write_timeout_);
    boost::asio::async_write(
        socket_, prefix_, [self = shared_from_this()](boost::beast::error_code write_ec, size_t) {
          self->Resume(write_ec, true);
        });
  }

 private:
  static constexpr size_t kStep = 256 * 1024;
  // At most this much per turn of the I/O thread: a source and a client that both keep up do
  // not hold up the thread's other connections for a whole body.
  static constexpr uint64_t kTurn = 4 * 1024 * 1024;

  void Step() {
    uint64_t moved = 0;
    while (remaining_ > 0 || in_pipe_ > 0) {
      if (moved >= kTurn) {
        boost::asio::post(socket_.get_executor(), [self = shared_from_this()] { self->Step(); });
        return;
      }
      if (in_pipe_ > 0) {
        const ssize_t n = ::splice(pipe_.read_end(), nullptr, socket_.native_handle(), nullptr,
                                   in_pipe_, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
          in_pipe_ -= static_cast<size_t>(n);
          sent_ += static_cast<uint64_t>(n);
          moved += static_cast<uint64_t>(n);
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
          Arm(write_timeout_);
          socket_.async_wait(
              TcpSocket::wait_write,
              [self = shared_from_this()](boost::beast::error_code ec) { self->Resume(ec, true); });
          return;
        }
        return Finish(n == 0 ? boost::asio::error::broken_pipe : Errno(), true);
      }
      const size_t want = static_cast<size_t>(std::min<uint64_t>(remaining_, kStep));
      const ssize_t n = ::splice(source_.Fd(), nullptr, pipe_.write_end(), nullptr, want,
                                 SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        remaining_ -= static_cast<uint64_t>(n);
        in_pipe_ += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        Arm(read_timeout_);
        source_.WaitReadable([self = shared_from_this()](std::error_code ec) {
          // The source's socket reports errno values (asio's own, on Linux).
          self->Resume(ec ? boost::beast::error_code(ec.value(), boost::system::system_category())
                          : boost::beast::error_code(),
                       false);
        });
        return;
      }
      // The source ended before its Content-Length, or failed.
      return Finish(n == 0 ? boost::asio::error::eof : Errno(), false);
    }
    Finish({}, false);
  }

  static boost::beast::error_code Errno() { return {errno, boost::system::system_category()}; }

  // The deadline of the wait that begins now. One timer serves every wait: when it fires for a
  // wait that has since ended, it is set again for the one under way.
  void Arm(Duration timeout) {
    deadline_ = std::chrono::steady_clock::now() + timeout;
    if (armed_) return;
    armed_ = true;
    timer_.expires_at(deadline_);
    timer_.async_wait([weak = weak_from_this()](boost::beast::error_code ec) {
      if (auto self = weak.lock()) self->OnTimer(ec);
    });
  }

  void OnTimer(boost::beast::error_code ec) {
    armed_ = false;
    if (ec || finished_) return;
    if (deadline_ > std::chrono::steady_clock::now()) {
      armed_ = true;
      timer_.expires_at(deadline_);
      timer_.async_wait([weak = weak_from_this()](boost::beast::error_code e) {
        if (auto self = weak.lock()) self->OnTimer(e);
      });
      return;
    }
    timed_out_ = true;
    boost::beast::error_code ignored;
    socket_.cancel(ignored);
    source_.CancelWait();
  }

  // A wait ended; `client`: the client's side.
  void Resume(boost::beast::error_code ec, bool client) {
    if (timed_out_) return Finish(boost::beast::error::timeout, false);
    if (ec) return Finish(ec, client);
    Step();
  }

  void Finish(boost::beast::error_code ec, bool client) {
    finished_ = true;
    timer_.cancel();
    SplicePipe::Give(std::move(pipe_), in_pipe_ == 0);
    auto done = std::move(done_);
    done(ec, sent_, ec && client);
  }

  TcpSocket& socket_;
  Prefix prefix_;
  HttpSpliceable& source_;
  SplicePipe pipe_;
  uint64_t remaining_;  // still to read from the source
  size_t in_pipe_ = 0;  // read, not yet sent
  uint64_t sent_ = 0;
  Duration read_timeout_;   // a wait for the source
  Duration write_timeout_;  // a wait for the client
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_;  // of the wait under way
  Done done_;
  bool armed_ = false;
  bool timed_out_ = false;
  bool finished_ = false;
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
  /// Writes `prefix`, then passes `count` bytes from `source`'s socket to the client with
  /// splice(2), each wait for the source bounded by `read_timeout`, for the client by
  /// `write_timeout`; false (nothing written, `done` not called) when no pipe can be had, and the
  /// caller reads pieces instead.
  static bool Splice(TcpStream& s, const TcpSplice::Prefix& prefix, HttpSpliceable& source,
                     uint64_t count, TcpSplice::Duration read_timeout,
                     TcpSplice::Duration write_timeout, TcpSplice::Done done) {
    SplicePipe pipe = SplicePipe::Take();
    if (!pipe.valid()) return false;
    std::make_shared<TcpSplice>(s.socket(), prefix, source, std::move(pipe), count, read_timeout,
                                write_timeout, std::move(done))
        ->Start();
    return true;
  }
};

}  // namespace sg::http
