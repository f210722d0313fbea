#include "daemon/http/server.h"

#include <cctype>
#include <ctime>
#include <random>
#include <unordered_set>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>
#include <fmt/format.h>
#include <sys/socket.h>

#include "common/build_info.h"
#include "common/logging.h"

namespace sg::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// The Date header, formatted once a second per thread.
const std::string& DateHeader() {
  thread_local std::time_t cached = 0;
  thread_local std::string text;
  const std::time_t now = std::time(nullptr);
  if (now != cached) {
    cached = now;
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buffer[64];
    std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    text = buffer;
  }
  return text;
}

std::string NewRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

bool UsableRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  }
  return true;
}

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      out += fmt::format("\\u{:04x}", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

class Session;

// One I/O thread: its io_context, its acceptor, and the sessions it owns.
// Member order matters: the io_context is destroyed before the session set, since destroying
// it destroys pending handlers and so sessions, which remove themselves from the set.
struct HttpServer::Worker {
  std::unordered_set<Session*> sessions;  // touched only on this worker's thread
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::unique_ptr<asio::steady_timer> retry;
  std::thread thread;
};

// The listeners and threads of one configuration; a rebind makes a new one.
// The workers come last, so that sessions destroyed with them still see the counters.
struct HttpServer::Generation {
  std::shared_ptr<const ServerSettings>
      settings;  // guarded by settings_mu; read through Settings()
  std::mutex settings_mu;
  std::atomic<bool> draining{false};
  std::atomic<uint64_t> connections{0};
  std::vector<std::unique_ptr<Worker>> workers;

  std::shared_ptr<const ServerSettings> Settings() {
    std::lock_guard lock(settings_mu);
    return settings;
  }
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, HttpServer::Worker& worker, HttpServer::Generation& generation,
          RouteTable& routes, spdlog::logger& logger, spdlog::logger& access,
          std::atomic<uint64_t>& total)
      : stream_(std::move(socket)),
        worker_(worker),
        generation_(generation),
        routes_(routes),
        logger_(logger),
        access_(access),
        total_(total) {
    worker_.sessions.insert(this);
    ++generation_.connections;
    ++total_;
    beast::error_code ec;
    const auto peer = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = peer.address().to_string();
  }

  ~Session() {
    worker_.sessions.erase(this);
    --generation_.connections;
    --total_;
  }

  void Run() { DoWait(); }

  // Called on the worker's thread when the server drains: a busy connection closes after its
  // response; an idle one closes now, or (`close_idle` false, for a rebind) after one more.
  void Drain(bool close_idle) {
    draining_ = true;
    if (idle_ && close_idle) Close();
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

 private:
  void DoWait() {
    settings_ = generation_.Settings();
    if (buffer_.size() > 0) return DoRead();  // a pipelined request is already here
    if (draining_) return Close();
    idle_ = true;
    stream_.expires_after(settings_->idle_timeout);
    stream_.async_read_some(
        buffer_.prepare(8192),
        [self = shared_from_this()](beast::error_code ec, size_t n) { self->OnWait(ec, n); });
  }

  void OnWait(beast::error_code ec, size_t n) {
    idle_ = false;
    if (ec) return Close();  // idle timeout, peer closed, or drained
    buffer_.commit(n);
    DoRead();
  }

  void DoRead() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(settings_->max_header_bytes));
    parser_->body_limit(settings_->max_body_bytes);
    started_ = Clock::now();
    // One deadline for the whole request: a client that trickles bytes is cut off at it.
    stream_.expires_after(settings_->read_timeout);
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
        ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset) {
      return Close();
    }
    if (ec == bhttp::error::header_limit) {
      return Error(431, "request header fields too large");
    }
    if (ec == bhttp::error::body_limit) {
      return Error(413, "payload too large");
    }
    if (ec) return Error(400, "bad request");
    Handle(parser_->get());
  }

  // A request that cannot be served: answer and close, since the stream is out of step.
  void Error(unsigned status, std::string_view message) {
    keep_alive_ = false;
    request_id_ = NewRequestId();
    Respond(status, "{\"error\":" + JsonString(message) + "}", false, {}, routes_.UnmatchedStats());
    method_ = "-";
    path_ = "-";
    DoWrite();
  }

  void Handle(const bhttp::request<bhttp::string_body>& req) {
    keep_alive_ = req.keep_alive();
    method_.assign(req.method_string().data(), req.method_string().size());
    const auto target = req.target();
    const size_t q = target.find('?');
    path_.assign(target.data(), q == beast::string_view::npos ? target.size() : q);
    const std::string_view query =
        q == beast::string_view::npos
            ? std::string_view()
            : std::string_view(target.data() + q + 1, target.size() - q - 1);
    const auto given = req["X-Request-ID"];
    request_id_ = UsableRequestId(std::string_view(given.data(), given.size()))
                      ? std::string(given.data(), given.size())
                      : NewRequestId();
    const bool head = req.method() == bhttp::verb::head;

    std::shared_ptr<const std::vector<RouteTable::Route>> snapshot;
    auto match = routes_.Find(method_, path_, snapshot);
    if (match.route == nullptr) {
      if (!match.allow.empty()) {
        Respond(405, "{\"error\":\"method not allowed\",\"allow\":" + JsonString(match.allow) + "}",
                head, {{"Allow", match.allow}}, routes_.UnmatchedStats());
      } else {
        Respond(404, "{\"error\":\"not found\",\"path\":" + JsonString(path_) + "}", head, {},
                routes_.UnmatchedStats());
      }
      return DoWrite();
    }
    HttpRequest request;
    request.method = method_;
    request.path = path_;
    request.query = query;
    request.body = req.body();
    request.request_id = request_id_;
    request.params = std::move(match.params);
    request.header_ctx = &req;
    request.header_fn = [](const void* ctx, std::string_view name) {
      const auto& r = *static_cast<const bhttp::request<bhttp::string_body>*>(ctx);
      const auto v = r[beast::string_view(name.data(), name.size())];
      return std::string_view(v.data(), v.size());
    };
    HttpResponse response;
    try {
      match.route->handler(request, response);
    } catch (const std::exception& e) {
      logger_.error(log::With(
          "Route handler threw",
          {{"route", match.route->pattern}, {"request_id", request_id_}, {"error", e.what()}}));
      response = HttpResponse{500, "application/json", "{\"error\":\"internal error\"}", {}};
    }
    Respond(response.status, std::move(response.body), head, response.headers, match.route->stats,
            response.content_type);
    DoWrite();
  }

  // Builds the response head by hand into a buffer the session keeps: no per-field allocations.
  void Respond(unsigned status, std::string body, bool head,
               const std::vector<std::pair<std::string, std::string>>& headers,
               std::shared_ptr<RouteStats> stats,
               std::string_view content_type = "application/json") {
    stats_ = std::move(stats);
    status_ = status;
    close_after_ = !keep_alive_ || draining_ || generation_.draining;
    body_ = std::move(body);
    body_bytes_ = body_.size();
    head_only_ = head;
    const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
    head_.clear();
    head_ += "HTTP/1.1 ";
    head_ += std::to_string(status);
    head_ += ' ';
    head_.append(reason.data(), reason.size());
    head_ += "\r\nServer: streamgate/" SG_VERSION "\r\nDate: ";
    head_ += DateHeader();
    head_ += "\r\nContent-Type: ";
    head_ += content_type;
    head_ += "\r\nX-Request-ID: ";
    head_ += request_id_;
    for (const auto& [k, v] : headers) {
      // A handler's header must not smuggle a line break into the response.
      if (k.find_first_of("\r\n:") != std::string::npos ||
          v.find_first_of("\r\n") != std::string::npos)
        continue;
      head_ += "\r\n";
      head_ += k;
      head_ += ": ";
      head_ += v;
    }
    head_ += "\r\nContent-Length: ";
    head_ += std::to_string(body_.size());
    if (close_after_) head_ += "\r\nConnection: close";
    head_ += "\r\n\r\n";
  }

  void DoWrite() {
    stream_.expires_after(settings_->write_timeout);
    // HEAD: Content-Length says what GET would send, and no body follows.
    const std::array<asio::const_buffer, 2> buffers = {
        asio::buffer(head_), asio::buffer(body_.data(), head_only_ ? 0 : body_.size())};
    asio::async_write(stream_, buffers, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->OnWrite(ec);
    });
  }

  void OnWrite(beast::error_code ec) {
    const auto elapsed = Clock::now() - started_;
    stats_->Record(status_, elapsed);
    if (settings_->access_log && access_.should_log(spdlog::level::info)) {
      access_.info(log::With(
          "request", {{"method", method_},
                      {"path", path_},
                      {"status", static_cast<int64_t>(status_)},
                      {"bytes", static_cast<int64_t>(body_bytes_)},
                      {"duration_ms", std::chrono::duration<double, std::milli>(elapsed).count()},
                      {"request_id", request_id_},
                      {"remote", remote_}}));
    }
    if (ec || close_after_) return Close();
    DoWait();
  }

  beast::tcp_stream stream_;
  HttpServer::Worker& worker_;
  HttpServer::Generation& generation_;
  RouteTable& routes_;
  spdlog::logger& logger_;
  spdlog::logger& access_;
  std::atomic<uint64_t>& total_;
  std::shared_ptr<const ServerSettings> settings_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string head_;  // the status line and headers of the response being written
  std::string body_;
  std::string method_;
  std::string path_;
  std::string request_id_;
  std::string remote_;
  std::shared_ptr<RouteStats> stats_;  // shared: the route may be removed mid-response
  unsigned status_ = 0;
  size_t body_bytes_ = 0;
  Clock::time_point started_;
  bool keep_alive_ = true;
  bool close_after_ = false;
  bool head_only_ = false;
  bool idle_ = false;
  bool draining_ = false;
};

namespace {

Result<asio::ip::address> Resolve(const std::string& host) {
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (!ec) return address;
  asio::io_context io;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(host, "", ec);
  if (ec || results.empty()) {
    return Fail(ErrorCode::kIo,
                fmt::format("resolve {}: {}", host, ec ? ec.message() : "no address"));
  }
  return results.begin()->endpoint().address();
}

struct AcceptContext {
  HttpServer::Worker* worker;
  HttpServer::Generation* generation;
  RouteTable* routes;
  spdlog::logger* logger;
  spdlog::logger* access;
  std::atomic<uint64_t>* total;
};

void DoAccept(AcceptContext c) {
  c.worker->acceptor.async_accept(c.worker->io, [c](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !c.worker->acceptor.is_open()) return;
    if (ec) {
      // Out of file descriptors, say: back off a little rather than spin.
      c.logger->warn(log::With("Accept failed", {{"error", ec.message()}}));
      c.worker->retry =
          std::make_unique<asio::steady_timer>(c.worker->io, std::chrono::milliseconds(50));
      c.worker->retry->async_wait([c](beast::error_code wait_ec) {
        if (!wait_ec) DoAccept(c);
      });
      return;
    }
    const auto settings = c.generation->Settings();
    if (c.total->load() >= settings->max_connections) {
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<Session>(std::move(socket), *c.worker, *c.generation, *c.routes, *c.logger,
                                *c.access, *c.total)
          ->Run();
    }
    DoAccept(c);
  });
}

// Stops a generation's listeners and drains its sessions until the deadline, then joins it.
// A shutdown closes idle keep-alive connections at once; a rebind lets them send one more
// request, answered with Connection: close, so that a client racing the reload is not cut off.
void Retire(HttpServer::Generation& generation, Deadline deadline, bool close_idle) {
  generation.draining = true;
  for (auto& w : generation.workers) {
    asio::post(w->io, [worker = w.get(), close_idle] {
      beast::error_code ec;
      worker->acceptor.close(ec);
      if (worker->retry) worker->retry->cancel();
      // Drain may close a session, which removes it from the set: iterate over a copy.
      std::vector<Session*> sessions(worker->sessions.begin(), worker->sessions.end());
      for (Session* s : sessions) {
        if (worker->sessions.contains(s)) s->Drain(close_idle);
      }
    });
  }
  while (generation.connections.load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // in-flight requests finishing
  }
  for (auto& w : generation.workers) {
    asio::post(w->io, [worker = w.get()] {
      std::vector<Session*> sessions(worker->sessions.begin(), worker->sessions.end());
      for (Session* s : sessions) {
        if (worker->sessions.contains(s)) s->Close();
      }
    });
  }
  for (auto& w : generation.workers) {
    // Let the closes run, then end the loop.
    asio::post(w->io, [worker = w.get()] { worker->io.stop(); });
  }
  for (auto& w : generation.workers) {
    if (w->thread.joinable()) w->thread.join();
  }
}

}  // namespace

Result<void> CheckBindable(const std::string& host, uint16_t port) {
  auto address = Resolve(host);
  if (!address) return address.error();
  asio::io_context io;
  tcp::acceptor probe(io);
  beast::error_code ec;
  const tcp::endpoint endpoint(*address, port);
  probe.open(endpoint.protocol(), ec);
  if (!ec) probe.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) probe.bind(endpoint, ec);
  if (ec) return Fail(ErrorCode::kIo, fmt::format("listen {}:{}: {}", host, port, ec.message()));
  return {};
}

Result<void> CheckAddressChange(const ServerSettings& current, const ServerSettings& next) {
  if (next.port == 0 || (next.port == current.port && next.host == current.host)) return {};
  return CheckBindable(next.host, next.port);
}

HttpServer::HttpServer(RouteTable& routes, std::shared_ptr<spdlog::logger> logger,
                       std::shared_ptr<spdlog::logger> access_logger)
    : routes_(routes), logger_(std::move(logger)), access_logger_(std::move(access_logger)) {}

HttpServer::~HttpServer() { Stop(Clock::now()); }

bool HttpServer::running() const { return port_.load() != 0; }

Result<void> HttpServer::Start(const std::shared_ptr<const ServerSettings>& settings) {
  return Bind(settings, true);
}

Result<void> HttpServer::Bind(const std::shared_ptr<const ServerSettings>& settings,
                              bool exclusive) {
  auto address = Resolve(settings->host);
  if (!address) return address.error();
  auto generation = std::make_shared<Generation>();
  generation->settings = settings;
  const int threads = settings->io_threads > 0
                          ? settings->io_threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  uint16_t port = settings->port;
  if (port != 0 && exclusive) {
    // SO_REUSEPORT would let us share a port another process listens on, each getting part of
    // the traffic: make sure nobody does, with a plain bind first.
    asio::io_context probe_io;
    tcp::acceptor probe(probe_io);
    beast::error_code ec;
    const tcp::endpoint endpoint(*address, port);
    probe.open(endpoint.protocol(), ec);
    if (!ec) probe.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) probe.bind(endpoint, ec);
    if (ec)
      return Fail(ErrorCode::kIo,
                  fmt::format("listen {}:{}: {}", settings->host, port, ec.message()));
  }
  for (int i = 0; i < threads; ++i) {
    auto worker = std::make_unique<Worker>();
    beast::error_code ec;
    const tcp::endpoint endpoint(*address, port);
    worker->acceptor.open(endpoint.protocol(), ec);
    if (!ec) worker->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) worker->acceptor.set_option(ReusePort(true), ec);
    if (!ec) worker->acceptor.bind(endpoint, ec);
    if (!ec) worker->acceptor.listen(4096, ec);
    if (ec) {
      return Fail(ErrorCode::kIo,
                  fmt::format("listen {}:{}: {}", settings->host, port, ec.message()));
    }
    // With port 0 the first acceptor picks the port and the others share it.
    port = worker->acceptor.local_endpoint().port();
    generation->workers.push_back(std::move(worker));
  }
  for (auto& w : generation->workers) {
    DoAccept(AcceptContext{w.get(), generation.get(), &routes_, logger_.get(), access_logger_.get(),
                           &connections_});
    w->thread = std::thread([worker = w.get()] { worker->io.run(); });
  }
  std::lock_guard lock(mu_);
  generation_ = std::move(generation);
  port_ = port;
  return {};
}

void HttpServer::Stop(Deadline deadline) {
  std::shared_ptr<Generation> current;
  std::vector<std::thread> retirers;
  {
    std::lock_guard lock(mu_);
    current = std::move(generation_);
    retirers = std::move(retirers_);
    port_ = 0;
  }
  if (current) Retire(*current, deadline, true);
  for (auto& t : retirers) t.join();
}

Result<void> HttpServer::Update(const std::shared_ptr<const ServerSettings>& settings) {
  std::shared_ptr<Generation> current;
  {
    std::lock_guard lock(mu_);
    current = generation_;
  }
  if (!current) return {};
  const auto old = current->Settings();
  if (old->host == settings->host && (old->port == settings->port || settings->port == 0) &&
      old->io_threads == settings->io_threads) {
    std::lock_guard lock(current->settings_mu);
    current->settings = settings;  // sessions pick it up at their next request
    return {};
  }
  // A new address: listen there first, then let the old listeners drain in the background.
  // The same port with another thread count is our own listener: no exclusivity check then.
  if (auto started = Bind(settings, settings->port == 0 || settings->port != old->port ||
                                        settings->host != old->host);
      !started) {
    return started;
  }
  std::lock_guard lock(mu_);
  retirers_.emplace_back(
      [current, deadline = Clock::now() + old->read_timeout + old->write_timeout] {
        Retire(*current, deadline, false);
      });
  return {};
}

const std::vector<double>& HttpServer::LatencyBounds() const { return http::LatencyBounds(); }

std::vector<HttpRouteStats> HttpServer::Snapshot() const { return routes_.Snapshot(); }

}  // namespace sg::http
