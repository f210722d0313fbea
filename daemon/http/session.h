// One HTTP/1.1 connection: read a request under one deadline, route it, write the answer,
// repeat. A template over the stream, so that the fuzz target drives this same code over Beast's
// test stream that the server drives over TCP.
//
// Nothing a client sends ends the process: the parser bounds every size (request_guard.h), a
// refused request is answered and the connection closed, and the I/O loop catches whatever
// escapes a handler (see RunIoLoop).
#pragma once

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/logger.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/access_log.h"
#include "common/logging.h"
#include "daemon/http/async_exchange.h"
#include "daemon/http/file_response.h"
#include "daemon/http/request_guard.h"
#include "daemon/http/request_id.h"
#include "daemon/http/response_head.h"
#include "daemon/http/router.h"
#include "daemon/http/server_settings.h"
#include "daemon/http/stream_ops.h"

namespace sg::http {

/// Counters shared by every I/O thread of a server.
struct RejectCounters {
  std::array<std::atomic<uint64_t>, static_cast<size_t>(RejectReason::kCount)> counts{};
  void Add(RejectReason reason) {
    counts[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  }
};

/// What a session needs of the server around it, the same for a TCP connection and a test.
struct SessionEnv {
  RouteTable* routes;
  spdlog::logger* logger;
  log::AccessLog* access;  // null: no access log
  RejectCounters* rejects;
};

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  /// A busy connection closes after its response; an idle one closes now, or (`close_idle`
  /// false, for a rebind) after one more request.
  virtual void Drain(bool close_idle) = 0;
  virtual void Close() = 0;
};

// The listeners and threads of one configuration; a rebind makes a new one.
// The workers come last, so that sessions destroyed with them still see the counters.
struct Generation {
  std::shared_ptr<const ServerSettings> settings;  // guarded by settings_mu; read via Settings()
  std::mutex settings_mu;
  std::atomic<bool> draining{false};
  std::atomic<uint64_t> connections{0};
  struct Worker;
  std::vector<std::unique_ptr<Worker>> workers;

  std::shared_ptr<const ServerSettings> Settings() {
    std::lock_guard lock(settings_mu);
    return settings;
  }
};

// One I/O thread: its io_context, its acceptors, and the sessions it owns.
// Member order matters: the io_context is destroyed before the session set, since destroying
// it destroys pending handlers and so sessions, which remove themselves from the set.
struct Generation::Worker {
  std::unordered_set<SessionBase*> sessions;  // touched only on this worker's thread
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> last_warned;  // ditto
  boost::asio::io_context io{1};
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors;
  std::vector<std::unique_ptr<boost::asio::steady_timer>> retries;
  std::thread thread;

  /// Whether to log a problem from `source` now: once per source and reason every 10 s, so a
  /// hostile client cannot flood the log. Thread-confined; the map is bounded.
  bool ShouldWarn(const std::string& source, RejectReason reason);
};

/// Runs an I/O thread's loop until it is stopped. An exception that escapes a completion
/// handler (Beast and Asio may throw, for example std::length_error or std::bad_alloc) is
/// counted and logged, and the loop goes on: the session whose handler threw is released with
/// it, which closes its connection; every other connection keeps being served.
void RunIoLoop(boost::asio::io_context& io, spdlog::logger& logger, RejectCounters& rejects);

template <class Stream>
class BasicSession final : public SessionBase,
                           public std::enable_shared_from_this<BasicSession<Stream>> {
 public:
  using Clock = std::chrono::steady_clock;
  using Ops = StreamOps<Stream>;

  BasicSession(Stream&& stream, Generation::Worker& worker, Generation& generation,
               const SessionEnv& env, std::atomic<uint64_t>& total)
      : stream_(std::move(stream)),
        worker_(worker),
        generation_(generation),
        env_(env),
        total_(total) {
    worker_.sessions.insert(this);
    ++generation_.connections;
    ++total_;
    remote_ = Ops::Remote(stream_);
  }

  ~BasicSession() override {
    if (source_) source_->Close();
    // A streaming handler waiting on its body learns that it will not come.
    FinishBody({ErrorCode::kUnavailable, "the connection closed"});
    worker_.sessions.erase(this);
    --generation_.connections;
    --total_;
  }

  void Run() { DoWait(); }

  void Drain(bool close_idle) override {
    draining_ = true;
    close_idle_ = close_idle;
    if (idle_ && close_idle) Close();
  }

  void Close() override { Ops::Close(stream_); }

 private:
  void DoWait();

  void OnWait(boost::beast::error_code ec, size_t n);

  // The buffer holds what the parser has not consumed: at most one header or trailer section
  // or one chunk line, plus read-ahead. Its cap is what bounds a trailer section.
  size_t BufferLimit() const {
    return std::max(settings_->max_header_bytes, size_t{kReadSize}) + kReadSize;
  }

  void DoRead();

  // The header section is in: find the route, which decides the body's limit and whether the
  // body is read whole (then Handle) or handed to the route as it arrives.
  void OnHeader(boost::beast::error_code ec);

  // Answers `Expect: 100-continue` (once) before the body is read, then goes on: `next(ec)`.
  template <class Next>
  void Continue(Next next);

  void OnRead(boost::beast::error_code ec);

  // A request that cannot be served: answer and close, since the stream is out of step.
  // The body limit of the request's route (a streaming route has its own), else the server's.
  uint64_t BodyLimit() const;
  // Answers `status` with the API's error shape (the hint defaults to the reason's) and closes.
  void Refuse(unsigned status, RejectReason reason, std::string_view message,
              std::string_view hint = {});

  // Reads the request line's parts and finds the route: match_ is valid while snapshot_ is held.
  void Locate();

  void Handle();

  // The request as a handler sees it: views into the parser's message and the session.
  HttpRequest MakeRequest();

  // A streaming route: the handler gets the header now and asks for the body piece by piece.
  void HandleStreaming(const RouteTable::Route& route);

  // The handler asked for more of the body.
  void PumpBody();

  void ReadBodyFor(HttpBodyReader::ChunkFn fn);

  void OnBodyRead(boost::beast::error_code ec, HttpBodyReader::ChunkFn fn);

  void DeliverChunk(const HttpBodyReader::ChunkFn& fn, std::string data);

  // Nothing more of the body is read; the reader's pending and later asks fail with `error`.
  void FinishBody(Error error);

  static std::string Join(const std::vector<std::string>& items);

  // Access-Control-Allow-Origin and friends, when the request's Origin is one the policy allows.
  void AddCorsHeaders(const CorsPolicy& policy,
                      std::vector<std::pair<std::string, std::string>>& headers) const;

  // The handler's answer, a file or a body, goes out.
  void Answer(HttpResponse& response, bool head, std::shared_ptr<RouteStats> stats);

  // An asynchronous handler: the session waits (reading nothing) for its answer, the deadline,
  // or the client leaving, whichever comes first.
  void HandleAsync(const RouteTable::Route& route, const HttpRequest& request, bool /*head*/);

  void FailHandler(const RouteTable::Route& route, AsyncExchange& exchange,
                   const std::exception& e);

  // The responder an asynchronous or streaming handler answers through, with its deadline
  // armed; `watch_close` also watches for the client leaving (not while a body is read). With
  // `arm` false nothing is armed yet: WaitForAnswer does it if the handler returns unanswered.
  std::shared_ptr<AsyncExchange> BeginExchange(std::shared_ptr<RouteStats> stats, bool watch_close,
                                               bool arm = true);
  // Arms the deadline, and the close watch with `watch_close`, for an exchange begun unarmed.
  void WaitForAnswer(bool watch_close);
  // The session whose asynchronous handler is running on this thread, if any: an answer sent
  // from inside the handler is kept for it rather than posted.
  static BasicSession*& InlineSession() {
    thread_local BasicSession* session = nullptr;
    return session;
  }

  // The handler must answer (or ask for more of the body) within server.write_timeout.
  void ArmDeadline();

  // Takes the pending exchange, if any, and stops watching for its end.
  std::shared_ptr<AsyncExchange> EndExchange();

  // A stream: the head now (chunked), then what the handler writes, as it writes it.
  void OnStreamStart(HttpResponse response, std::shared_ptr<StreamChannel> channel,
                     std::chrono::milliseconds heartbeat);

  // Sends what the handler queued as one chunk; the last chunk once it ended.
  void PumpStream();

  void ArmHeartbeat();

  void OnStreamGone();

  void OnAsyncAnswer(HttpResponse response, bool head);

  void OnAsyncDeadline(bool head);

  void OnClientGone();

  // A file: validators, conditionals and one range decide the status; the bytes go by
  // sendfile after the head.
  void RespondFile(const boost::beast::http::request<boost::beast::http::string_body>& req,
                   HttpResponse& response, bool head, std::shared_ptr<RouteStats> stats);

  // A body from a source: the head, then one piece at a time, each asked for once the last is
  // written (so a slow client holds the source back), with Content-Length or chunked.
  void RespondSource(HttpResponse& response, bool head, std::shared_ptr<RouteStats> stats);

  void PullSource();
  void ClearBody();  // no body: neither a string of ours nor a shared one

  void OnSourceChunk(Result<HttpBodyChunk> chunk);

  // The source's response is over, whole (no error) or cut short (the connection closes).
  void EndSource(boost::beast::error_code ec);
  // A spliced body is over: `sent` bytes of it reached the client.
  void EndSplice(boost::beast::error_code ec, bool client_failed, HttpSpliceable& splice,
                 uint64_t sent);

  // `shared`, when set, holds the body instead: `view`, sent without a copy.
  void Respond(unsigned status, std::string body, bool head,
               const std::vector<std::pair<std::string, std::string>>& headers,
               std::shared_ptr<RouteStats> stats,
               std::string_view content_type = "application/json",
               std::shared_ptr<const SharedBytes> shared = nullptr, std::string_view view = {});

  // Whether the connection closes after this response: the client asked, the server drains, or
  // a body was left unread (an early answer to a streaming route), so the stream is out of step.
  bool CloseAfter() const {
    return !keep_alive_ || draining_ || generation_.draining || !parser_ || !parser_->is_done();
  }

  void DoWrite();

  void OnWrite(boost::beast::error_code ec);

  void LogAccess(Clock::duration elapsed);

  static constexpr size_t kReadSize = 8192;
  static constexpr size_t kBodyReadSize = 65536;  // a streamed body's pieces: at most this

  Stream stream_;
  Generation::Worker& worker_;
  Generation& generation_;
  SessionEnv env_;
  std::atomic<uint64_t>& total_;
  std::shared_ptr<const ServerSettings> settings_;
  boost::beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  std::string head_;  // the status line and headers of the response being written
  std::string body_;
  std::shared_ptr<const SharedBytes> shared_body_;  // a cached body that `body_view_` is part of
  std::string_view body_view_;                      // the body DoWrite sends: body_ or shared
  std::string method_;
  std::string path_;
  std::string request_id_;
  std::string remote_;
  std::string_view query_;   // into the parser's message
  RouteTable::Match match_;  // the request's route; valid while snapshot_ is held
  std::shared_ptr<const std::vector<RouteTable::Route>> snapshot_;
  bool head_request_ = false;
  bool expect_continue_ = false;         // `Expect: 100-continue` not yet answered
  std::shared_ptr<BodyPump> body_pump_;  // a streaming route's body, while it is read
  bool body_reading_ = false;
  bool watching_close_ = false;               // an exchange's close watch is armed
  std::shared_ptr<HttpBodySource> source_;    // a response's body being sent from its source
  std::optional<uint64_t> source_remaining_;  // what its Content-Length still promises
  std::unique_ptr<boost::asio::steady_timer> source_timer_;
  std::shared_ptr<RouteStats> stats_;  // shared: the route may be removed mid-response
  unsigned status_ = 0;
  size_t body_bytes_ = 0;
  Clock::time_point started_;
  bool keep_alive_ = true;
  bool close_after_ = false;
  bool head_only_ = false;
  bool idle_ = false;
  bool draining_ = false;
  bool close_idle_ = true;
  FileHandle file_;  // a file response's bytes, sent after its head
  ByteRange file_range_;
  std::shared_ptr<const CorsPolicy> cors_;     // the route's, while its request is answered
  std::string cors_origin_;                    // the request's Origin, "" when none
  std::shared_ptr<AsyncExchange> exchange_;    // an asynchronous handler's pending answer
  bool exchange_armed_ = false;                // its deadline (and maybe close watch) is armed
  std::optional<HttpResponse> inline_answer_;  // sent from inside the handler, on this thread
  std::shared_ptr<RouteStats> async_stats_;
  std::unique_ptr<boost::asio::steady_timer> async_timer_;
  std::shared_ptr<StreamChannel> channel_;  // a streamed response being written
  std::shared_ptr<AsyncExchange> stream_exchange_;
  std::chrono::milliseconds heartbeat_{0};
  std::unique_ptr<boost::asio::steady_timer> heartbeat_timer_;
  std::string chunk_;
  bool writing_ = false;
};

/// The access log line: one place for every stream type.
void LogAccessRecord(log::AccessLog& access, std::string_view method, std::string_view path,
                     unsigned status, size_t bytes, std::chrono::steady_clock::duration elapsed,
                     std::string_view request_id, std::string_view remote);

template <class Stream>
void BasicSession<Stream>::LogAccess(Clock::duration elapsed) {
  LogAccessRecord(*env_.access, method_, path_, status_, body_bytes_, elapsed, request_id_,
                  remote_);
}

}  // namespace sg::http

// The members, by concept.
#include "daemon/http/session_async.h"
#include "daemon/http/session_body.h"
#include "daemon/http/session_read.h"
#include "daemon/http/session_write.h"
