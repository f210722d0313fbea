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
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <fmt/format.h>
#include <spdlog/logger.h>

#include "common/logging.h"
#include "daemon/http/async_exchange.h"
#include "daemon/http/file_response.h"
#include "daemon/http/request_guard.h"
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
  spdlog::logger* access;
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

/// The response of the session being written: the head is built by hand into a buffer the
/// session keeps (no per-field allocations).
struct ResponseHead {
  static void Build(std::string& head, unsigned status, std::string_view request_id,
                    std::string_view content_type,
                    const std::vector<std::pair<std::string, std::string>>& headers,
                    std::optional<uint64_t> content_length, bool close);
};

std::string NewRequestId();
bool UsableRequestId(std::string_view id);
std::string JsonString(std::string_view text);

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
  void DoWait() {
    settings_ = generation_.Settings();
    if (buffer_.size() > 0) return DoRead();  // a pipelined request is already here
    // A response written as the drain began may have promised keep-alive: on a rebind, wait for
    // that one more request (answered with Connection: close) rather than cut the client off.
    if (draining_ && close_idle_) return Close();
    idle_ = true;
    Ops::ExpireAfter(stream_, settings_->idle_timeout);
    buffer_.max_size(BufferLimit());
    stream_.async_read_some(buffer_.prepare(kReadSize),
                            [self = this->shared_from_this()](boost::beast::error_code ec,
                                                              size_t n) { self->OnWait(ec, n); });
  }

  void OnWait(boost::beast::error_code ec, size_t n) {
    idle_ = false;
    if (ec) return Close();  // idle timeout, peer closed, or drained
    buffer_.commit(n);
    DoRead();
  }

  // The buffer holds what the parser has not consumed: at most one header or trailer section
  // or one chunk line, plus read-ahead. Its cap is what bounds a trailer section.
  size_t BufferLimit() const {
    return std::max(settings_->max_header_bytes, size_t{kReadSize}) + kReadSize;
  }

  void DoRead() {
    parser_.emplace(RequestLimits{settings_->max_header_bytes, settings_->max_header_fields});
    // No body limit until the route is known: a streaming route has its own (OnHeader). Not
    // boost::none: Beast compares a Content-Length against it, and every length exceeds none.
    parser_->body_limit(std::numeric_limits<uint64_t>::max());
    buffer_.max_size(std::max(BufferLimit(), buffer_.size()));
    started_ = Clock::now();
    // One deadline for the whole request: a client that trickles bytes is cut off at it.
    Ops::ExpireAfter(stream_, settings_->read_timeout);
    // The header section first, on its own: the request is checked before any body is read.
    // (Beast's eager parse of header and body in one go lets the body's start overwrite the
    // error that on_header_impl reports.)
    boost::beast::http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](boost::beast::error_code ec, size_t) {
          self->OnHeader(ec);
        });
  }

  // The header section is in: find the route, which decides the body's limit and whether the
  // body is read whole (then Handle) or handed to the route as it arrives.
  void OnHeader(boost::beast::error_code ec) {
    namespace bhttp = boost::beast::http;
    if (ec) return OnRead(ec);
    Locate();
    const RouteTable::Route* route = match_.route;
    const bool streaming = route != nullptr && route->streaming_handler;
    const uint64_t limit = streaming ? route->max_body_bytes : settings_->max_body_bytes;
    if (const auto length = parser_->content_length(); length && *length > limit) {
      return Refuse(413, RejectReason::kBodyLimit, "payload too large");
    }
    parser_->body_limit(limit);  // a chunked body is counted as it arrives
    const auto expect = parser_->get()[bhttp::field::expect];
    expect_continue_ = !parser_->is_done() && parser_->get().version() >= 11 &&
                       boost::beast::iequals(expect, "100-continue");
    if (streaming) return HandleStreaming(*route);
    if (parser_->is_done()) return Handle();
    Continue([self = this->shared_from_this()](boost::beast::error_code write_ec) {
      if (write_ec) return self->Close();
      boost::beast::http::async_read(
          self->stream_, self->buffer_, *self->parser_,
          [self](boost::beast::error_code read_ec, size_t) { self->OnRead(read_ec); });
    });
  }

  // Answers `Expect: 100-continue` (once) before the body is read, then goes on: `next(ec)`.
  template <class Next>
  void Continue(Next next) {
    if (!expect_continue_) return next(boost::beast::error_code());
    expect_continue_ = false;
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    Ops::ExpireAfter(stream_, settings_->write_timeout);
    boost::asio::async_write(
        stream_, boost::asio::buffer(kContinue.data(), kContinue.size()),
        [self = this->shared_from_this(), next = std::move(next)](boost::beast::error_code ec,
                                                                  size_t) mutable {
          next(ec);
        });
  }

  void OnRead(boost::beast::error_code ec) {
    namespace bhttp = boost::beast::http;
    namespace asio = boost::asio;
    if (!ec) return Handle();
    if (const auto& rejection = parser_->rejection()) {
      return Refuse(rejection->status, rejection->reason, rejection->message);
    }
    if (ec == boost::beast::error::timeout) {
      // Mid-request only: an idle connection times out in OnWait.
      env_.rejects->Add(RejectReason::kTimeout);
      return Close();
    }
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == bhttp::error::partial_message) {
      return Close();
    }
    if (ec == bhttp::error::header_limit) {
      return Refuse(431, RejectReason::kHeaderLimit, "request header fields too large");
    }
    if (ec == bhttp::error::buffer_overflow) {
      // The buffer holds at most one header section, chunk line or trailer section.
      return Refuse(parser_->is_header_done() ? 400 : 431,
                    parser_->is_header_done() ? RejectReason::kBadRequest
                                              : RejectReason::kHeaderLimit,
                    parser_->is_header_done() ? "a chunk line or the trailer section is too large"
                                              : "request header fields too large");
    }
    if (ec == bhttp::error::body_limit) {
      return Refuse(413, RejectReason::kBodyLimit, "payload too large");
    }
    if (ec == bhttp::error::bad_transfer_encoding || ec == bhttp::error::bad_content_length) {
      return Refuse(400, RejectReason::kFraming, "conflicting or malformed message framing");
    }
    return Refuse(400, RejectReason::kBadRequest, "bad request");
  }


  // A request that cannot be served: answer and close, since the stream is out of step.
  void Refuse(unsigned status, RejectReason reason, std::string_view message) {
    env_.rejects->Add(reason);
    if (worker_.ShouldWarn(remote_, reason)) {
      env_.logger->warn(log::With("Refused a request",
                                  {{"reason", std::string(RejectReasonName(reason))},
                                   {"status", static_cast<int64_t>(status)},
                                   {"error", std::string(message)},
                                   {"remote", remote_}}));
    }
    keep_alive_ = false;
    request_id_ = NewRequestId();
    method_ = "-";
    path_ = "-";
    Respond(status, "{\"error\":" + JsonString(message) + "}", false, {},
            env_.routes->UnmatchedStats());
    DoWrite();
  }

  // Reads the request line's parts and finds the route: match_ is valid while snapshot_ is held.
  void Locate() {
    namespace bhttp = boost::beast::http;
    const auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    method_.assign(req.method_string().data(), req.method_string().size());
    // The absolute form "http://host/p?q" routes as "/p?q".
    const std::string_view target =
        OriginForm(std::string_view(req.target().data(), req.target().size()));
    const size_t q = target.find('?');
    path_.assign(target.substr(0, q));
    const std::string_view query =
        q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
    const auto given = req["X-Request-ID"];
    request_id_ = UsableRequestId(std::string_view(given.data(), given.size()))
                      ? std::string(given.data(), given.size())
                      : NewRequestId();
    head_request_ = req.method() == bhttp::verb::head;
    query_ = query;
    match_ = env_.routes->Find(method_, path_, snapshot_);
    const auto origin = req[bhttp::field::origin];
    cors_origin_.assign(origin.data(), origin.size());
  }

  void Handle() {
    namespace bhttp = boost::beast::http;
    const auto& req = parser_->get();
    const bool head = head_request_;
    auto& match = match_;
    if (match.route == nullptr && match.cors != nullptr && req.method() == bhttp::verb::options &&
        req.find(bhttp::field::access_control_request_method) != req.end()) {
      // A browser's preflight for a cross-origin call.
      std::vector<std::pair<std::string, std::string>> headers;
      AddCorsHeaders(*match.cors, headers);
      headers.emplace_back("Access-Control-Allow-Methods", match.allow);
      if (!match.cors->allow_headers.empty()) {
        headers.emplace_back("Access-Control-Allow-Headers", Join(match.cors->allow_headers));
      }
      headers.emplace_back("Access-Control-Max-Age", std::to_string(match.cors->max_age_seconds));
      Respond(204, "", false, headers, env_.routes->UnmatchedStats());
      return DoWrite();
    }
    if (match.route == nullptr) {
      if (!match.allow.empty()) {
        Respond(405, "{\"error\":\"method not allowed\",\"allow\":" + JsonString(match.allow) + "}",
                head, {{"Allow", match.allow}}, env_.routes->UnmatchedStats());
      } else {
        Respond(404, "{\"error\":\"not found\",\"path\":" + JsonString(path_) + "}", head, {},
                env_.routes->UnmatchedStats());
      }
      return DoWrite();
    }
    HttpRequest request = MakeRequest();
    request.body = req.body();
    cors_ = match.route->cors;
    if (match.route->async_handler) return HandleAsync(*match.route, request, head);
    HttpResponse response;
    try {
      match.route->handler(request, response);
    } catch (const std::exception& e) {
      env_.logger->error(log::With(
          "Route handler threw",
          {{"route", match.route->pattern}, {"request_id", request_id_}, {"error", e.what()}}));
      response = HttpResponse{};
      response.status = 500;
      response.body = R"({"error":"internal error"})";
    }
    Answer(response, head, match.route->stats);
  }

  // The request as a handler sees it: views into the parser's message and the session.
  HttpRequest MakeRequest() {
    namespace bhttp = boost::beast::http;
    HttpRequest request;
    request.method = method_;
    request.path = path_;
    request.query = query_;
    request.request_id = request_id_;
    request.params = std::move(match_.params);
    request.header_ctx = &parser_->get();
    request.header_fn = [](const void* ctx, std::string_view name) {
      const auto& r = *static_cast<const bhttp::request<bhttp::string_body>*>(ctx);
      const auto v = r[boost::beast::string_view(name.data(), name.size())];
      return std::string_view(v.data(), v.size());
    };
    return request;
  }

  // A streaming route: the handler gets the header now and asks for the body piece by piece.
  void HandleStreaming(const RouteTable::Route& route) {
    cors_ = route.cors;
    HttpRequest request = MakeRequest();
    auto weak = this->weak_from_this();
    auto executor = stream_.get_executor();
    const auto length = parser_->content_length();
    body_pump_ = std::make_shared<BodyPump>(
        length ? std::optional<uint64_t>(*length) : std::nullopt, [weak, executor] {
      boost::asio::post(executor, [weak] {
        if (auto session = weak.lock()) session->PumpBody();
      });
    });
    auto exchange = BeginExchange(route.stats, /*watch_close=*/parser_->is_done());
    auto body = body_pump_;
    try {
      route.streaming_handler(request, std::move(body), exchange);
    } catch (const std::exception& e) {
      FailHandler(route, *exchange, e);
    }
  }

  // The handler asked for more of the body.
  void PumpBody() {
    if (!body_pump_ || body_reading_) return;
    auto fn = body_pump_->Take();
    if (!fn) return;
    if (async_timer_) async_timer_->cancel();  // reading has its own deadline
    ReadBodyFor(std::move(fn));
  }

  void ReadBodyFor(HttpBodyReader::ChunkFn fn) {
    if (parser_->is_done()) return DeliverChunk(std::move(fn), std::string());
    body_reading_ = true;
    Continue([self = this->shared_from_this(),
              fn = std::move(fn)](boost::beast::error_code write_ec) mutable {
      if (write_ec) return self->OnBodyRead(write_ec, std::move(fn));
      // Each read has server.read_timeout: a large body takes as long as it takes, a stalled
      // client does not.
      self->buffer_.max_size(std::max(self->BufferLimit(), kBodyReadSize));
      Ops::ExpireAfter(self->stream_, self->settings_->read_timeout);
      boost::beast::http::async_read_some(
          self->stream_, self->buffer_, *self->parser_,
          [self, fn = std::move(fn)](boost::beast::error_code ec, size_t) mutable {
            self->OnBodyRead(ec, std::move(fn));
          });
    });
  }

  void OnBodyRead(boost::beast::error_code ec, HttpBodyReader::ChunkFn fn) {
    namespace bhttp = boost::beast::http;
    body_reading_ = false;
    if (!body_pump_) return;  // answered, timed out or gone meanwhile: the reader knows
    if (ec) {
      Error error{ErrorCode::kUnavailable, "the client went away before the body ended"};
      if (ec == bhttp::error::body_limit) {
        error = {ErrorCode::kInvalidArgument,
                 fmt::format("the body is larger than this route's limit of {} bytes",
                             match_.route->max_body_bytes)};
      } else if (ec == boost::beast::error::timeout) {
        error = {ErrorCode::kTimeout, "the client sent nothing for server.read_timeout"};
      } else if (ec != boost::asio::error::eof && ec != bhttp::error::end_of_stream &&
                 ec != bhttp::error::partial_message &&
                 ec != boost::asio::error::connection_reset &&
                 ec != boost::asio::error::operation_aborted) {
        error = {ErrorCode::kInvalidArgument, "the body's framing is malformed"};
      }
      if (auto exchange = EndExchange()) exchange->MarkGone();
      FinishBody(error);
      fn(Result<HttpBodyChunk>(error));
      return OnRead(ec);  // answers what deserves an answer (413, 400), closes the rest
    }
    std::string data = std::move(parser_->get().body());
    parser_->get().body().clear();
    if (data.empty() && !parser_->is_done()) return ReadBodyFor(std::move(fn));
    DeliverChunk(std::move(fn), std::move(data));
  }

  void DeliverChunk(HttpBodyReader::ChunkFn fn, std::string data) {
    const bool last = parser_->is_done();
    if (last) {
      // Nothing more to read: watch for the client leaving while the handler finishes.
      FinishBody({ErrorCode::kFailedPrecondition, "the body already ended"});
      if (!watching_close_) {
        watching_close_ = true;
        Ops::WatchClose(stream_, [self = this->shared_from_this()](bool gone) {
          if (gone) self->OnClientGone();
        });
      }
    }
    ArmDeadline();  // the handler's turn: read on or answer within server.write_timeout
    fn(HttpBodyChunk{std::move(data), last});
  }

  // Nothing more of the body is read; the reader's pending and later asks fail with `error`.
  void FinishBody(Error error) {
    if (auto pump = std::move(body_pump_)) pump->Finish(std::move(error));
  }

  static std::string Join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
      if (!out.empty()) out += ", ";
      out += item;
    }
    return out;
  }

  // Access-Control-Allow-Origin and friends, when the request's Origin is one the policy allows.
  void AddCorsHeaders(const CorsPolicy& policy,
                      std::vector<std::pair<std::string, std::string>>& headers) const {
    if (cors_origin_.empty()) return;
    bool any = false;
    bool listed = false;
    for (const auto& o : policy.allow_origins) {
      any = any || o == "*";
      listed = listed || o == cors_origin_;
    }
    if (!any && !listed) return;
    headers.emplace_back("Access-Control-Allow-Origin", any ? "*" : cors_origin_);
    if (!any) headers.emplace_back("Vary", "Origin");
    if (!policy.expose_headers.empty()) {
      headers.emplace_back("Access-Control-Expose-Headers", Join(policy.expose_headers));
    }
  }

  // The handler's answer, a file or a body, goes out.
  void Answer(HttpResponse& response, bool head, std::shared_ptr<RouteStats> stats) {
    if (cors_) AddCorsHeaders(*cors_, response.headers);
    if (!response.file.empty() && response.status == 200) {
      return RespondFile(parser_->get(), response, head, std::move(stats));
    }
    if (response.file.empty() && response.source) {
      return RespondSource(response, head, std::move(stats));
    }
    Respond(response.status, std::move(response.body), head, response.headers, std::move(stats),
            response.content_type);
    DoWrite();
  }

  // An asynchronous handler: the session waits (reading nothing) for its answer, the deadline,
  // or the client leaving, whichever comes first.
  void HandleAsync(const RouteTable::Route& route, const HttpRequest& request, bool /*head*/) {
    auto exchange = BeginExchange(route.stats, /*watch_close=*/true);
    try {
      route.async_handler(request, exchange);
    } catch (const std::exception& e) {
      FailHandler(route, *exchange, e);
    }
  }

  void FailHandler(const RouteTable::Route& route, AsyncExchange& exchange,
                   const std::exception& e) {
    env_.logger->error(log::With(
        "Route handler threw",
        {{"route", route.pattern}, {"request_id", request_id_}, {"error", e.what()}}));
    HttpResponse failed;
    failed.status = 500;
    failed.body = R"({"error":"internal error"})";
    exchange.Send(std::move(failed));
  }

  // The responder an asynchronous or streaming handler answers through, with its deadline
  // armed; `watch_close` also watches for the client leaving (not while a body is read).
  std::shared_ptr<AsyncExchange> BeginExchange(std::shared_ptr<RouteStats> stats,
                                               bool watch_close) {
    // The deadline timer and the close watch keep the session alive while it waits; the
    // exchange holds it weakly, so an exchange kept by a handler holds nothing up.
    auto weak = this->weak_from_this();
    auto executor = stream_.get_executor();
    const bool head = head_request_;
    auto exchange = std::make_shared<AsyncExchange>(
        [weak, executor, head](HttpResponse response) {
          boost::asio::post(executor, [weak, head, response = std::move(response)]() mutable {
            if (auto session = weak.lock()) session->OnAsyncAnswer(std::move(response), head);
          });
        },
        [weak, executor](HttpResponse response, std::shared_ptr<StreamChannel> channel,
                         std::chrono::milliseconds heartbeat) {
          boost::asio::post(executor, [weak, response = std::move(response),
                                       channel = std::move(channel), heartbeat]() mutable {
            if (auto session = weak.lock()) {
              session->OnStreamStart(std::move(response), std::move(channel), heartbeat);
            } else {
              channel->MarkGone();
            }
          });
        },
        [weak, executor] {
          return std::make_shared<StreamChannel>([weak, executor] {
            boost::asio::post(executor, [weak] {
              if (auto session = weak.lock()) session->PumpStream();
            });
          });
        });
    exchange_ = exchange;
    async_stats_ = std::move(stats);
    async_timer_ = std::make_unique<boost::asio::steady_timer>(stream_.get_executor());
    ArmDeadline();
    watching_close_ = watch_close;
    if (watch_close) {
      Ops::WatchClose(stream_, [self = this->shared_from_this()](bool gone) {
        if (gone) self->OnClientGone();
      });
    }
    return exchange;
  }

  // The handler must answer (or ask for more of the body) within server.write_timeout.
  void ArmDeadline() {
    async_timer_->expires_after(settings_->write_timeout);
    async_timer_->async_wait(
        [self = this->shared_from_this(), head = head_request_](boost::beast::error_code ec) {
          if (!ec) self->OnAsyncDeadline(head);
        });
  }

  // Takes the pending exchange, if any, and stops watching for its end.
  std::shared_ptr<AsyncExchange> EndExchange() {
    auto exchange = std::move(exchange_);
    if (exchange) {
      if (async_timer_) async_timer_->cancel();
      Ops::CancelWatch(stream_);
    }
    return exchange;
  }

  // A stream: the head now (chunked), then what the handler writes, as it writes it.
  void OnStreamStart(HttpResponse response, std::shared_ptr<StreamChannel> channel,
                     std::chrono::milliseconds heartbeat) {
    auto exchange = EndExchange();
    if (!exchange) return channel->MarkGone();
    FinishBody({ErrorCode::kFailedPrecondition, "the response was already started"});
    stream_exchange_ = std::move(exchange);
    channel_ = std::move(channel);
    heartbeat_ = heartbeat;
    stats_ = std::move(async_stats_);
    status_ = response.status;
    close_after_ = CloseAfter();
    if (cors_) AddCorsHeaders(*cors_, response.headers);
    response.headers.emplace_back("Transfer-Encoding", "chunked");
    response.headers.emplace_back("Cache-Control", "no-cache");
    ResponseHead::Build(head_, response.status, request_id_, response.content_type,
                        response.headers, std::nullopt, close_after_);
    body_bytes_ = 0;
    writing_ = true;
    Ops::ExpireAfter(stream_, settings_->write_timeout);
    boost::asio::async_write(stream_, boost::asio::buffer(head_),
                             [self = this->shared_from_this()](boost::beast::error_code ec,
                                                               size_t) {
                               self->writing_ = false;
                               if (ec) return self->OnStreamGone();
                               Ops::WatchClose(self->stream_, [self](bool gone) {
                                 if (gone) self->OnStreamGone();
                               });
                               self->PumpStream();
                             });
  }

  // Sends what the handler queued as one chunk; the last chunk once it ended.
  void PumpStream() {
    if (!channel_ || writing_) return;
    bool ended = false;
    std::string data = channel_->Take(ended);
    if (data.empty() && !ended) return ArmHeartbeat();
    if (heartbeat_timer_) heartbeat_timer_->cancel();
    chunk_.clear();
    if (!data.empty()) {
      chunk_ = fmt::format("{:x}\r\n", data.size());
      chunk_ += data;
      chunk_ += "\r\n";
      body_bytes_ += data.size();
    }
    const bool last = ended;  // End refuses further writes: nothing can follow
    if (last) chunk_ += "0\r\n\r\n";
    writing_ = true;
    Ops::ExpireAfter(stream_, settings_->write_timeout);
    boost::asio::async_write(stream_, boost::asio::buffer(chunk_),
                             [self = this->shared_from_this(), last](boost::beast::error_code ec,
                                                                     size_t) {
                               self->writing_ = false;
                               if (ec) return self->OnStreamGone();
                               if (!last) return self->PumpStream();
                               // The response is complete: the connection goes on as usual.
                               self->channel_.reset();
                               self->stream_exchange_.reset();
                               Ops::CancelWatch(self->stream_);
                               self->OnWrite(ec);
                             });
  }

  void ArmHeartbeat() {
    if (heartbeat_.count() <= 0) return;
    if (!heartbeat_timer_) {
      heartbeat_timer_ = std::make_unique<boost::asio::steady_timer>(stream_.get_executor());
    }
    heartbeat_timer_->expires_after(heartbeat_);
    heartbeat_timer_->async_wait([weak = this->weak_from_this()](boost::beast::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || !self->channel_) return;
      (void)self->channel_->Write(":\n\n");  // an SSE comment: ignored by EventSource
    });
  }

  void OnStreamGone() {
    if (heartbeat_timer_) heartbeat_timer_->cancel();
    if (channel_) channel_->MarkGone();
    if (stream_exchange_) stream_exchange_->MarkGone();
    channel_.reset();
    stream_exchange_.reset();
    Close();
  }

  void OnAsyncAnswer(HttpResponse response, bool head) {
    if (!EndExchange()) return;  // too late: the deadline passed or the client left
    FinishBody({ErrorCode::kFailedPrecondition, "the response was already sent"});
    Answer(response, head, std::move(async_stats_));
  }

  void OnAsyncDeadline(bool head) {
    auto exchange = EndExchange();
    if (!exchange) return;
    exchange->MarkGone();
    FinishBody({ErrorCode::kTimeout, "the handler did not read on within server.write_timeout"});
    Respond(504, R"({"error":"the handler did not answer before server.write_timeout"})", head,
            {}, std::move(async_stats_));
    DoWrite();
  }

  void OnClientGone() {
    auto exchange = EndExchange();
    if (!exchange) return;
    exchange->MarkGone();
    FinishBody({ErrorCode::kUnavailable, "the client went away"});
    Close();
  }

  // A file: validators, conditionals and one range decide the status; the bytes go by
  // sendfile after the head.
  void RespondFile(const boost::beast::http::request<boost::beast::http::string_body>& req,
                   HttpResponse& response, bool head, std::shared_ptr<RouteStats> stats) {
    namespace bhttp = boost::beast::http;
    FileHandle file(::open(response.file.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    const int open_errno = errno;
    if (!file || ::fstat(file.fd(), &st) != 0 || !S_ISREG(st.st_mode)) {
      const bool denied = !file && open_errno == EACCES;
      Respond(denied ? 403 : 404,
              denied ? R"({"error":"forbidden"})" : R"({"error":"not found","path":)" +
                                                       JsonString(path_) + "}",
              head, {}, std::move(stats));
      return DoWrite();
    }
    const FileMeta meta{static_cast<uint64_t>(st.st_size), static_cast<uint64_t>(st.st_ino),
                        int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
    auto field = [&req](bhttp::field f) {
      const auto v = req[f];
      return std::string_view(v.data(), v.size());
    };
    const FilePlan plan = PlanFileResponse(
        {field(bhttp::field::if_none_match), field(bhttp::field::if_modified_since),
         field(bhttp::field::range), field(bhttp::field::if_range),
         req.method() == bhttp::verb::get || req.method() == bhttp::verb::head},
        meta);
    auto headers = std::move(response.headers);
    headers.emplace_back("Accept-Ranges", "bytes");
    headers.emplace_back("ETag", StrongETag(meta));
    headers.emplace_back("Last-Modified", HttpDate(static_cast<std::time_t>(st.st_mtim.tv_sec)));
    std::optional<uint64_t> length = plan.range.count;
    if (plan.status == 206) {
      headers.emplace_back("Content-Range",
                           "bytes " + std::to_string(plan.range.first) + "-" +
                               std::to_string(plan.range.first + plan.range.count - 1) + "/" +
                               std::to_string(meta.size));
    } else if (plan.status == 416) {
      headers.emplace_back("Content-Range", "bytes */" + std::to_string(meta.size));
      length = 0;
    } else if (plan.status == 304) {
      length.reset();  // a 304 has no body, and says nothing of one
    }
    stats_ = std::move(stats);
    status_ = plan.status;
    close_after_ = CloseAfter();
    body_.clear();
    head_only_ = true;  // the head goes by async_write, the bytes by sendfile
    const bool send = !head && (plan.status == 200 || plan.status == 206);
    body_bytes_ = send ? plan.range.count : 0;
    ResponseHead::Build(head_, plan.status, request_id_, response.content_type, headers, length,
                        close_after_);
    if (send && plan.range.count > 0) {
      file_ = std::move(file);
      file_range_ = plan.range;
    }
    DoWrite();
  }

  // A body from a source: the head, then one piece at a time, each asked for once the last is
  // written (so a slow client holds the source back), with Content-Length or chunked.
  void RespondSource(HttpResponse& response, bool head, std::shared_ptr<RouteStats> stats) {
    auto headers = std::move(response.headers);
    const bool chunked = !response.content_length.has_value();
    if (chunked) headers.emplace_back("Transfer-Encoding", "chunked");
    stats_ = std::move(stats);
    status_ = response.status;
    close_after_ = CloseAfter();
    body_bytes_ = 0;
    ResponseHead::Build(head_, response.status, request_id_, response.content_type, headers,
                        response.content_length, close_after_);
    if (head) {
      response.source->Close();
      body_.clear();
      head_only_ = true;
      return DoWrite();
    }
    source_ = std::move(response.source);
    source_remaining_ = response.content_length;
    Ops::ExpireAfter(stream_, settings_->write_timeout);
    boost::asio::async_write(stream_, boost::asio::buffer(head_),
                             [self = this->shared_from_this()](boost::beast::error_code ec,
                                                               size_t) {
                               if (ec) return self->EndSource(ec);
                               self->PullSource();
                             });
  }

  void PullSource() {
    // The timer keeps the session alive while the source works, and bounds how long it may.
    if (!source_timer_) {
      source_timer_ = std::make_unique<boost::asio::steady_timer>(stream_.get_executor());
    }
    source_timer_->expires_after(settings_->write_timeout);
    source_timer_->async_wait([self = this->shared_from_this()](boost::beast::error_code ec) {
      if (ec || !self->source_) return;
      self->env_.logger->warn(
          log::With("A response's source gave nothing for server.write_timeout; the connection "
                    "is closed",
                    {{"request_id", self->request_id_}, {"path", self->path_}}));
      self->EndSource(boost::asio::error::timed_out);
    });
    auto weak = this->weak_from_this();
    auto executor = stream_.get_executor();
    source_->Read([weak, executor](Result<HttpBodyChunk> chunk) {
      boost::asio::post(executor, [weak, chunk = std::move(chunk)]() mutable {
        if (auto session = weak.lock()) session->OnSourceChunk(std::move(chunk));
      });
    });
  }

  void OnSourceChunk(Result<HttpBodyChunk> chunk) {
    if (!source_) return;
    source_timer_->cancel();
    if (!chunk) {
      env_.logger->warn(log::With("A response's source failed; the connection is closed",
                                  {{"request_id", request_id_},
                                   {"path", path_},
                                   {"error", chunk.error().message}}));
      return EndSource(boost::asio::error::broken_pipe);
    }
    HttpBodyChunk& piece = *chunk;
    const size_t size = piece.data.size();
    if (source_remaining_) {
      if (size > *source_remaining_ || (piece.last && size != *source_remaining_)) {
        env_.logger->error(log::With(
            "A response's source broke its Content-Length; the connection is closed",
            {{"request_id", request_id_},
             {"path", path_},
             {"expected", static_cast<int64_t>(*source_remaining_)},
             {"given", static_cast<int64_t>(size)}}));
        return EndSource(boost::asio::error::broken_pipe);
      }
      *source_remaining_ -= size;
      chunk_ = std::move(piece.data);
    } else {
      chunk_.clear();
      if (size > 0) {
        chunk_ = fmt::format("{:x}\r\n", size);
        chunk_ += piece.data;
        chunk_ += "\r\n";
      }
      if (piece.last) chunk_ += "0\r\n\r\n";
    }
    body_bytes_ += size;
    const bool last = piece.last;
    if (chunk_.empty()) return last ? EndSource({}) : PullSource();
    Ops::ExpireAfter(stream_, settings_->write_timeout);
    boost::asio::async_write(stream_, boost::asio::buffer(chunk_),
                             [self = this->shared_from_this(), last](boost::beast::error_code ec,
                                                                     size_t) {
                               if (ec || last) return self->EndSource(ec);
                               self->PullSource();
                             });
  }

  // The source's response is over, whole (no error) or cut short (the connection closes).
  void EndSource(boost::beast::error_code ec) {
    if (auto source = std::move(source_)) source->Close();
    OnWrite(ec);
  }

  void Respond(unsigned status, std::string body, bool head,
               const std::vector<std::pair<std::string, std::string>>& headers,
               std::shared_ptr<RouteStats> stats,
               std::string_view content_type = "application/json") {
    stats_ = std::move(stats);
    status_ = status;
    // While the server drains, every response tells the client not to reuse the connection.
    close_after_ = CloseAfter();
    body_ = std::move(body);
    body_bytes_ = body_.size();
    head_only_ = head;
    ResponseHead::Build(head_, status, request_id_, content_type, headers,
                        status == 304 ? std::nullopt : std::optional<uint64_t>(body_.size()),
                        close_after_);
  }

  // Whether the connection closes after this response: the client asked, the server drains, or
  // a body was left unread (an early answer to a streaming route), so the stream is out of step.
  bool CloseAfter() const {
    return !keep_alive_ || draining_ || generation_.draining || !parser_ || !parser_->is_done();
  }

  void DoWrite() {
    Ops::ExpireAfter(stream_, settings_->write_timeout);
    // HEAD: Content-Length says what GET would send, and no body follows.
    const std::array<boost::asio::const_buffer, 2> buffers = {
        boost::asio::buffer(head_),
        boost::asio::buffer(body_.data(), head_only_ ? 0 : body_.size())};
    boost::asio::async_write(stream_, buffers,
                             [self = this->shared_from_this()](boost::beast::error_code ec,
                                                               size_t) { self->OnWrite(ec); });
  }

  void OnWrite(boost::beast::error_code ec) {
    if (!ec && file_) {
      const int fd = file_.fd();
      return Ops::SendFile(stream_, fd, file_range_.first, file_range_.count,
                           settings_->write_timeout,
                           [self = this->shared_from_this()](boost::beast::error_code send_ec) {
                             self->file_.Reset();
                             self->OnWrite(send_ec);
                           });
    }
    file_.Reset();
    const auto elapsed = Clock::now() - started_;
    stats_->Record(status_, elapsed);
    if (settings_->access_log && env_.access->should_log(spdlog::level::info)) {
      LogAccess(elapsed);
    }
    if (ec || close_after_) return Close();
    DoWait();
  }

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
  std::string method_;
  std::string path_;
  std::string request_id_;
  std::string remote_;
  std::string_view query_;  // into the parser's message
  RouteTable::Match match_;  // the request's route; valid while snapshot_ is held
  std::shared_ptr<const std::vector<RouteTable::Route>> snapshot_;
  bool head_request_ = false;
  bool expect_continue_ = false;  // `Expect: 100-continue` not yet answered
  std::shared_ptr<BodyPump> body_pump_;  // a streaming route's body, while it is read
  bool body_reading_ = false;
  bool watching_close_ = false;  // an exchange's close watch is armed
  std::shared_ptr<HttpBodySource> source_;  // a response's body being sent from its source
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
  FileHandle file_;        // a file response's bytes, sent after its head
  ByteRange file_range_;
  std::shared_ptr<const CorsPolicy> cors_;   // the route's, while its request is answered
  std::string cors_origin_;                  // the request's Origin, "" when none
  std::shared_ptr<AsyncExchange> exchange_;  // an asynchronous handler's pending answer
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
void LogAccessRecord(spdlog::logger& access, std::string_view method, std::string_view path,
                     unsigned status, size_t bytes, std::chrono::steady_clock::duration elapsed,
                     std::string_view request_id, std::string_view remote);

template <class Stream>
void BasicSession<Stream>::LogAccess(Clock::duration elapsed) {
  LogAccessRecord(*env_.access, method_, path_, status_, body_bytes_, elapsed, request_id_,
                  remote_);
}

}  // namespace sg::http
