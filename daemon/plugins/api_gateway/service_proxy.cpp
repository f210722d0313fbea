#include "daemon/plugins/api_gateway/service_proxy.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <map>
#include <mutex>
#include <set>

#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>

#include "common/logging.h"

namespace sg::plugins {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kPiece = 256 * 1024;     // a response body is passed on in pieces of at most this
constexpr size_t kSmallBody = 64 * 1024;  // smaller answers are read whole, then sent
// Room for an answer's head (and a small body behind it) in the first read. A whole piece's room
// for every call made glibc grow and trim its heap around the 256 KiB chunks (madvise, page
// faults, TLB flushes: 3% of the gateway's CPU for small answers); the room grows to one read's
// worth (Beast reads at most 64 KiB at a time) only for a body read through it.
constexpr size_t kHeadRoom = 16 * 1024;
constexpr size_t kReadRoom = 64 * 1024;

// Header names compare without regard to case.
bool SameName(std::string_view a, std::string_view b) {
  return beast::iequals(beast::string_view(a.data(), a.size()),
                        beast::string_view(b.data(), b.size()));
}

// Headers that belong to one hop, never passed on (RFC 9110 7.6.1), and those the gateway's own
// server writes for the response it sends.
bool HopByHop(std::string_view name) {
  static constexpr std::array<std::string_view, 9> kHop = {
      "connection", "keep-alive",        "proxy-connection", "te",    "trailer",
      "upgrade",    "transfer-encoding", "content-length",   "expect"};
  return std::any_of(kHop.begin(), kHop.end(),
                     [&](std::string_view h) { return SameName(h, name); });
}
bool WrittenByServer(std::string_view name) {
  return SameName(name, "server") || SameName(name, "date") || SameName(name, "content-type") ||
         SameName(name, "x-request-id");
}

// Whether a request can be sent again without a second visible effect (RFC 9110 9.2.2).
bool Idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
         method == "DELETE";
}

// Outcomes, the label of streamgate_proxy_requests_total: a fixed set.
enum Outcome : size_t {
  kOk,           // the instance answered (whatever its status)
  kNoInstance,   // 503: no healthy instance of the service
  kUnreachable,  // 502: every instance tried refused or broke the connection
  kTimeout,      // 504: the instance did not answer in time
  kAborted,      // the client left, or its body broke a limit, before the answer
  kOutcomes
};
constexpr std::array<const char*, kOutcomes> kOutcomeNames = {"ok", "no_instance", "unreachable",
                                                              "timeout", "aborted"};

struct ServiceCounters {
  std::array<std::atomic<uint64_t>, kOutcomes> outcomes{};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> spliced{0};  // answers passed whole by splice(2)
  std::atomic<int64_t> in_flight{0};
};

// One instance of a service, as its heartbeats describe it.
struct Instance {
  std::string id;
  std::string service;
  std::string host;  // an address or a name, without brackets
  std::string port;
  std::string key;                 // host:port, the parked connections' key
  std::atomic<bool> usable{true};  // alive, and not unhealthy
  // Silent for less than ProxySettings::silent_grace: tried only when no usable instance of its
  // service is left (the bus itself may be what went quiet: a NATS restart).
  std::atomic<bool> standby{false};
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> ejected_until{0};  // Clock ticks
};

// "http://127.0.0.1:8081" -> host, port; false for anything else.
bool ParseUrl(const std::string& url, std::string& host, std::string& port) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return false;
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  if (const auto slash = rest.find('/'); slash != std::string_view::npos)
    rest = rest.substr(0, slash);
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
      return false;
    host = std::string(rest.substr(1, close - 1));
    port = std::string(rest.substr(close + 2));
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = std::string(rest.substr(0, colon));
    port = std::string(rest.substr(colon + 1));
  }
  return !host.empty() && !port.empty() &&
         port.find_first_not_of("0123456789") == std::string::npos;
}

std::string ErrorBody(std::string_view error, std::string_view code, std::string_view service,
                      std::string_view hint) {
  return nlohmann::json({{"error", error}, {"code", code}, {"service", service}, {"hint", hint}})
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

class Call;

}  // namespace

struct ServiceProxy::Impl : std::enable_shared_from_this<ServiceProxy::Impl> {
  Impl(Router& r, asio::any_io_executor ex, ProxySettings s, std::shared_ptr<spdlog::logger> l)
      : router(r), executor(std::move(ex)), settings(s), logger(std::move(l)) {}

  using Stream = beast::tcp_stream;

  Router& router;
  asio::any_io_executor executor;
  const ProxySettings settings;
  std::shared_ptr<spdlog::logger> logger;
  std::atomic<bool> stopped{false};

  mutable std::mutex mu;
  // By service: its instances, those gone no longer listed. Guarded by mu.
  std::map<std::string, std::vector<std::shared_ptr<Instance>>> instances;
  std::map<std::string, Router::RouteId> routes;  // "METHOD pattern" -> the route; guarded
  std::set<std::string> declined;                 // routes the gateway serves itself; guarded
  std::map<std::string, std::shared_ptr<ServiceCounters>> counters;  // by service; guarded
  std::map<std::string, std::vector<std::unique_ptr<Stream>>> idle;  // by host:port; guarded
  uint64_t turn = 0;                                                 // guarded by mu
  uint64_t pool_epoch = 0;                                           // guarded by mu

  std::shared_ptr<ServiceCounters> CountersFor(const std::string& service) {
    std::lock_guard lock(mu);
    auto& c = counters[service];
    if (c == nullptr) c = std::make_shared<ServiceCounters>();
    return c;
  }

  // The instance for the next request: usable and not ejected, with the fewest requests in
  // flight, taken in turn among equals; one on standby or ejected only when nothing else is
  // left.
  std::shared_ptr<Instance> Pick(const std::string& service, const std::set<std::string>& tried) {
    std::lock_guard lock(mu);
    const auto it = instances.find(service);
    if (it == instances.end() || it->second.empty()) return nullptr;
    const auto& list = it->second;
    const int64_t now = Clock::now().time_since_epoch().count();
    std::shared_ptr<Instance> best;
    std::shared_ptr<Instance> fallback;
    const size_t start = turn++;
    for (size_t i = 0; i < list.size(); ++i) {
      const auto& in = list[(start + i) % list.size()];
      if (!in->usable || tried.contains(in->id)) continue;
      if (in->standby.load() || in->ejected_until.load() > now) {
        if (fallback == nullptr) fallback = in;
        continue;
      }
      if (best == nullptr || in->in_flight.load() < best->in_flight.load()) best = in;
    }
    return best != nullptr ? best : fallback;
  }

  std::unique_ptr<Stream> TakeIdle(const std::string& key) {
    std::lock_guard lock(mu);
    auto it = idle.find(key);
    while (it != idle.end() && !it->second.empty()) {
      auto stream = std::move(it->second.back());
      it->second.pop_back();
      if (stream->socket().is_open()) return stream;
    }
    return nullptr;
  }

  // `epoch`: the pool's epoch when the connection's call began; a connection of an older one
  // (its I/O thread may be retiring) is closed instead.
  void Park(const std::string& key, std::unique_ptr<Stream> stream, uint64_t epoch) {
    std::lock_guard lock(mu);
    if (stopped || epoch != pool_epoch) return;
    auto& list = idle[key];
    if (list.size() < settings.idle_per_instance) list.push_back(std::move(stream));
  }

  /// Closes every parked connection, each on its own I/O thread; those in use are not parked
  /// again.
  void CloseIdle() {
    std::map<std::string, std::vector<std::unique_ptr<Stream>>> closing;
    {
      std::lock_guard lock(mu);
      ++pool_epoch;
      closing.swap(idle);
    }
    for (auto& [key, list] : closing) {
      for (auto& stream : list) {
        // Closed on its own I/O thread; freed with the handler even if that thread stops first.
        std::shared_ptr<Stream> owned = std::move(stream);
        auto on = owned->get_executor();
        asio::post(on, [owned] {
          boost::system::error_code ignored;
          owned->socket().close(ignored);
        });
      }
    }
  }
  uint64_t PoolEpoch() const {
    std::lock_guard lock(mu);
    return pool_epoch;
  }

  /// True when the route is proxied to `service` (added now or before).
  bool AddRoute(const std::string& service, const std::string& method, const std::string& pattern);

  std::map<std::string, std::string> owners;  // "METHOD pattern" -> its service; guarded by mu
};

namespace {

// One request on its way through: to an instance, and its answer back. Every step after the
// first runs on the strand of the connection in use, one at a time.
class Call : public std::enable_shared_from_this<Call> {
 public:
  using Impl = ServiceProxy::Impl;

  Call(std::shared_ptr<Impl> proxy, std::string service, const HttpRequest& req,
       std::shared_ptr<HttpBodyReader> body, std::shared_ptr<HttpResponder> responder)
      : proxy_(std::move(proxy)),
        service_(std::move(service)),
        counters_(proxy_->CountersFor(service_)),
        method_(req.method),
        request_id_(req.request_id),
        body_(std::move(body)),
        responder_(std::move(responder)) {
    target_ = std::string(req.path);
    if (!req.query.empty()) target_ += "?" + std::string(req.query);
    std::string forwarded_for;
    bool chunked = false;
    req.ForEachHeader([&](std::string_view name, std::string_view value) {
      if (SameName(name, "x-forwarded-for")) {
        forwarded_for = std::string(value);
        return;
      }
      if (SameName(name, "transfer-encoding")) chunked = true;
      if (HopByHop(name) || SameName(name, "x-request-id")) return;
      headers_.emplace_back(name, value);
    });
    const std::string remote(req.remote);
    headers_.emplace_back("X-Forwarded-For",
                          forwarded_for.empty() ? remote : forwarded_for + ", " + remote);
    if (req.Header("X-Forwarded-Proto").empty()) headers_.emplace_back("X-Forwarded-Proto", "http");
    if (req.Header("X-Forwarded-Host").empty() && !req.Header("Host").empty())
      headers_.emplace_back("X-Forwarded-Host", std::string(req.Header("Host")));
    headers_.emplace_back("X-Request-ID", request_id_);
    // The call runs on the I/O thread its request came in on, beside the client's session:
    // no hop to another thread on the way. Parked connections are kept per thread for that.
    strand_ = responder_->executor();
    if (strand_) {
      pool_key_suffix_ = fmt::format("@{}", static_cast<const void*>(&strand_.context()));
    } else {
      strand_ = asio::make_strand(proxy_->executor);  // no pool: a socket stays on its strand
    }
    epoch_ = proxy_->PoolEpoch();
    length_ = body_->ContentLength();
    chunked_ = chunked && !length_;
    has_body_ = chunked_ || (length_ && *length_ > 0);
    counters_->in_flight.fetch_add(1);
  }

  ~Call() {
    counters_->in_flight.fetch_sub(1);
    if (instance_ != nullptr) instance_->in_flight.fetch_sub(1);
  }

  void Begin() { Attempt(); }

  // The response body for the server: pieces read on the call's strand, or, when the call runs
  // on the request's I/O thread and the length is known, the socket itself for splice(2).
  class Source final : public HttpBodySource, public HttpSpliceable {
   public:
    explicit Source(std::shared_ptr<Call> call) : call_(std::move(call)) {}
    void Read(ChunkFn fn) override {
      auto call = call_;
      asio::post(call->strand_,
                 [call, fn = std::move(fn)]() mutable { call->ReadBody(std::move(fn)); });
    }
    void Close() override {
      auto call = call_;
      asio::post(call->strand_, [call] { call->Finish(); });
    }
    HttpSpliceable* Spliceable() override { return call_->CanSplice() ? this : nullptr; }
    int Fd() const override {
      return call_->stream_ != nullptr ? call_->stream_->socket().native_handle() : -1;
    }
    std::string_view Buffered() const override {
      const auto data = call_->buffer_.data();
      return {static_cast<const char*>(data.data()), data.size()};
    }
    void WaitReadable(std::function<void(std::error_code)> fn) override {
      if (call_->stream_ == nullptr) return fn(std::make_error_code(std::errc::not_connected));
      call_->stream_->socket().async_wait(
          tcp::socket::wait_read,
          [fn = std::move(fn)](const boost::system::error_code& ec) { fn(ec); });
    }
    void CancelWait() override {
      boost::system::error_code ignored;
      if (call_->stream_ != nullptr) call_->stream_->socket().cancel(ignored);
    }
    void Done(bool whole) override { call_->SpliceDone(whole); }

   private:
    std::shared_ptr<Call> call_;
  };

 private:
  void Attempt() {
    auto instance = proxy_->Pick(service_, tried_);
    if (instance == nullptr) {
      if (tried_.empty()) {
        return Refuse(kNoInstance, 503, "no_instance",
                      fmt::format("no healthy instance of the {} service is running", service_),
                      fmt::format("start one with 'streamgate start --service {}', and see "
                                  "'streamgate services'",
                                  service_));
      }
      return Refuse(kUnreachable, 502, "upstream_unreachable",
                    fmt::format("no instance of the {} service could be reached ({} tried): {}",
                                service_, tried_.size(), last_error_),
                    "see 'streamgate services' and the service's log; the request may be retried");
    }
    if (instance_ != nullptr) instance_->in_flight.fetch_sub(1);
    instance_ = std::move(instance);
    instance_->in_flight.fetch_add(1);
    tried_.insert(instance_->id);
    // A request that may have an effect never goes on a parked connection, which the instance
    // may have closed meanwhile: such a failure could not be told apart from one after the
    // request took effect, and it is never sent twice.
    std::unique_ptr<beast::tcp_stream> parked;
    if (Idempotent(method_) && !stale_ && !pool_key_suffix_.empty())
      parked = proxy_->TakeIdle(instance_->key + pool_key_suffix_);
    if (parked != nullptr) {
      reused_ = true;
      Use(std::move(parked));
      return asio::dispatch(strand_, [self = shared_from_this()] { self->WriteHead(); });
    }
    reused_ = false;
    Use(std::make_unique<beast::tcp_stream>(strand_));
    asio::dispatch(strand_, [self = shared_from_this()] { self->Connect(); });
  }

  void Use(std::unique_ptr<beast::tcp_stream> stream) { stream_ = std::move(stream); }

  void Connect() {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(instance_->host, ec);
    auto self = shared_from_this();
    stream_->expires_after(proxy_->settings.connect_timeout);
    if (!ec) {
      const auto port = static_cast<uint16_t>(std::stoul(instance_->port));
      stream_->async_connect(tcp::endpoint(address, port),
                             [self](const boost::system::error_code& e) { self->OnConnect(e); });
      return;
    }
    resolver_ = std::make_unique<tcp::resolver>(strand_);
    resolver_->async_resolve(
        instance_->host, instance_->port,
        [self](const boost::system::error_code& e, const tcp::resolver::results_type& results) {
          if (e) return self->OnConnect(e);
          self->stream_->async_connect(
              results, [self](const boost::system::error_code& e2, const tcp::endpoint&) {
                self->OnConnect(e2);
              });
        });
  }

  void OnConnect(const boost::system::error_code& ec) {
    if (ec) {
      // Refused or silent: nothing was sent, so any request may go to another instance.
      instance_->ejected_until.store(
          (Clock::now() + proxy_->settings.eject_for).time_since_epoch().count());
      proxy_->logger->warn(log::With("Service instance unreachable", {{"service", service_},
                                                                      {"instance", instance_->id},
                                                                      {"request_id", request_id_},
                                                                      {"error", ec.message()}}));
      return Retry(ec, /*sent=*/false);
    }
    // The request's head goes out in one write, and nothing waits for an ACK behind it.
    boost::system::error_code ignored;
    stream_->socket().set_option(tcp::no_delay(true), ignored);
    WriteHead();
  }

  void WriteHead() {
    serializer_.reset();  // a retry writes the request afresh
    request_ = {};
    request_.method_string(method_);
    request_.target(target_);
    request_.version(11);
    for (const auto& [name, value] : headers_) request_.insert(name, value);
    request_.keep_alive(true);
    if (length_) {
      request_.content_length(*length_);
    } else if (chunked_) {
      request_.chunked(true);
    } else if (!Idempotent(method_) || method_ == "PUT") {
      request_.content_length(0);
    }
    serializer_.emplace(request_);
    auto self = shared_from_this();
    stream_->expires_after(proxy_->settings.response_timeout);
    if (!has_body_) {
      request_.body().data = nullptr;
      request_.body().size = 0;
      request_.body().more = false;
      bhttp::async_write(*stream_, *serializer_,
                         [self](const boost::system::error_code& ec, size_t) {
                           if (ec) return self->Retry(ec, /*sent=*/false);
                           self->ReadHead();
                         });
      return;
    }
    bhttp::async_write_header(*stream_, *serializer_,
                              [self](const boost::system::error_code& ec, size_t) {
                                if (ec) return self->Retry(ec, /*sent=*/false);
                                self->ReadClientBody();
                              });
  }

  // The next piece of the client's body, then on to the instance: no more is read from the
  // client until the instance took it (the backpressure goes both ways).
  void ReadClientBody() {
    auto self = shared_from_this();
    body_->Read([self](Result<HttpBodyChunk> chunk) {
      asio::post(self->strand_, [self, chunk = std::move(chunk)]() mutable {
        self->OnClientPiece(std::move(chunk));
      });
    });
  }

  void OnClientPiece(Result<HttpBodyChunk> chunk) {
    body_started_ = true;
    if (!chunk) {
      // The client left, stalled or broke a limit; the server has answered it if it could.
      counters_->outcomes[kAborted].fetch_add(1);
      return Close();
    }
    upload_piece_ = std::move(chunk->data);
    const bool last = chunk->last;
    request_.body().data = upload_piece_.empty() ? nullptr : upload_piece_.data();
    request_.body().size = upload_piece_.size();
    request_.body().more = !last;
    auto self = shared_from_this();
    stream_->expires_after(proxy_->settings.response_timeout);
    bhttp::async_write(*stream_, *serializer_,
                       [self, last](const boost::system::error_code& ec, size_t) {
                         if (ec && ec != bhttp::error::need_buffer) return self->Retry(ec, true);
                         if (last) return self->ReadHead();
                         self->ReadClientBody();
                       });
  }

  void ReadHead() {
    // Beast reads as much as the buffer has room for, and at least 512 bytes.
    buffer_.reserve(kHeadRoom);
    parser_.emplace();
    parser_->body_limit(std::numeric_limits<uint64_t>::max());
    if (method_ == "HEAD") parser_->skip(true);
    auto self = shared_from_this();
    stream_->expires_after(proxy_->settings.response_timeout);
    bhttp::async_read_header(*stream_, buffer_, *parser_,
                             [self](const boost::system::error_code& ec, size_t) {
                               if (ec) return self->Retry(ec, /*sent=*/true);
                               self->OnHead();
                             });
  }

  // The request failed on the way to an instance or before its answer began.
  void Retry(const boost::system::error_code& ec, bool sent) {
    last_error_ = ec.message();
    Close();
    const bool timeout = ec == beast::error::timeout;
    // Sent and maybe acted on: only a request that may be repeated goes again. A body already
    // taken from the client cannot be sent again at all.
    const bool again =
        !body_started_ && (!sent || Idempotent(method_)) && tried_.size() < 3 && ++attempts_ < 4;
    if (again) {
      if (reused_) {
        // A parked connection had gone stale: the same instance, on a new connection.
        tried_.erase(instance_->id);
        stale_ = true;
      }
      counters_->retries.fetch_add(1);
      return Attempt();
    }
    if (timeout) {
      return Refuse(kTimeout, 504, "upstream_timeout",
                    fmt::format("the {} service did not answer in time", service_),
                    "the instance may be overloaded; see 'streamgate services' and its log");
    }
    Refuse(kUnreachable, 502, "upstream_failed",
           fmt::format("the {} service broke the connection before answering: {}", service_,
                       last_error_),
           "see the service's log; the request may be retried");
  }

  void OnHead() {
    const auto& head = parser_->get();
    HttpResponse response;
    response.status = head.result_int();
    response.content_type = "application/octet-stream";
    for (const auto& field : head) {
      const auto name = field.name_string();
      const std::string_view n(name.data(), name.size());
      if (SameName(n, "content-type")) {
        response.content_type = std::string(field.value());
        continue;
      }
      if (HopByHop(n) || WrittenByServer(n)) continue;
      response.headers.emplace_back(std::string(n), std::string(field.value()));
    }
    const bool bodyless = method_ == "HEAD" || response.status == 204 || response.status == 304 ||
                          response.status < 200;
    if (bodyless || parser_->is_done()) {
      if (method_ == "HEAD" && parser_->content_length()) {
        response.content_length = *parser_->content_length();
        response.source = std::make_shared<Source>(shared_from_this());
      }
      if (parser_->is_done()) Release();
      counters_->outcomes[kOk].fetch_add(1);
      responder_->Send(std::move(response));
      return;
    }
    const auto length = parser_->content_length();
    if (length && *length <= kSmallBody) return ReadSmall(std::move(response), *length);
    if (length) response.content_length = *length;
    response.source = std::make_shared<Source>(shared_from_this());
    counters_->outcomes[kOk].fetch_add(1);
    responder_->Send(std::move(response));
  }

  // A small answer is read whole, then sent as one: one write to the client, and the connection
  // to the instance parked at once.
  void ReadSmall(HttpResponse response, uint64_t length) {
    small_ = std::move(response);
    small_->body.resize(static_cast<size_t>(length));
    buffer_.reserve(buffer_.size() + static_cast<size_t>(length));  // the rest in one read
    parser_->get().body().data = small_->body.data();
    parser_->get().body().size = small_->body.size();
    auto self = shared_from_this();
    stream_->expires_after(proxy_->settings.read_timeout);
    bhttp::async_read(*stream_, buffer_, *parser_,
                      [self](const boost::system::error_code& ec, size_t) {
                        if ((ec && ec != bhttp::error::need_buffer) || !self->parser_->is_done()) {
                          self->Close();
                          return self->Refuse(
                              kUnreachable, 502, "upstream_failed",
                              fmt::format("the {} service broke off its answer: {}", self->service_,
                                          ec ? ec.message() : "the body was longer than said"),
                              "see the service's log; the request may be retried");
                        }
                        self->Release();
                        self->counters_->outcomes[kOk].fetch_add(1);
                        self->responder_->Send(std::move(*self->small_));
                      });
  }

  void ReadBody(HttpBodySource::ChunkFn fn) {
    if (stream_ == nullptr || !parser_) {
      return fn(Fail(ErrorCode::kUnavailable, "the connection to the instance was closed"));
    }
    if (parser_->is_done()) return fn(HttpBodyChunk{"", true});
    if (read_buf_ == nullptr) {
      read_buf_ = std::make_unique_for_overwrite<char[]>(kPiece);
      buffer_.reserve(kReadRoom);  // a read of 64 KiB instead of 512 bytes
    }
    parser_->get().body().data = read_buf_.get();
    parser_->get().body().size = kPiece;
    auto self = shared_from_this();
    stream_->expires_after(proxy_->settings.read_timeout);
    bhttp::async_read_some(
        *stream_, buffer_, *parser_,
        [self, fn = std::move(fn)](const boost::system::error_code& ec, size_t) mutable {
          if (ec && ec != bhttp::error::need_buffer) {
            self->Close();
            return fn(Fail(ErrorCode::kIo, fmt::format("the {} service broke off its answer: {}",
                                                       self->service_, ec.message())));
          }
          const size_t got = kPiece - self->parser_->get().body().size;
          const bool last = self->parser_->is_done();
          if (got == 0 && !last) return self->ReadBody(std::move(fn));
          std::string data(self->read_buf_.get(), got);
          if (last) self->Release();
          fn(HttpBodyChunk{std::move(data), last});
        });
  }

  // Whether the server may move the body with splice(2): the call runs on the request's I/O
  // thread (the socket's waits complete there), the length is known, and the body has begun.
  bool CanSplice() {
    if (stream_ == nullptr || !parser_ || pool_key_suffix_.empty() || parser_->is_done() ||
        parser_->chunked() || !parser_->content_length()) {
      return false;
    }
    boost::system::error_code ec;
    stream_->socket().non_blocking(true, ec);
    if (ec) return false;
    stream_->expires_never();  // the server's own deadline bounds each wait from here
    return true;
  }

  // A spliced body ended: whole, the connection may carry another request.
  void SpliceDone(bool whole) {
    if (stream_ == nullptr) return;
    if (whole) {
      counters_->spliced.fetch_add(1);
      buffer_.consume(buffer_.size());  // the body's first bytes, sent from there
    }
    ParkOrClose(whole && NothingMore());
  }

  // No bytes wait past the body: bytes there (an instance that broke its Content-Length) would
  // be read as the next answer's head.
  bool NothingMore() {
    char extra = 0;
    return ::recv(stream_->socket().native_handle(), &extra, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
           (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  // The answer ended whole: the connection may carry another request.
  void Release() { ParkOrClose(parser_ && parser_->is_done()); }

  // `whole`: the answer was read to its end. Then a kept-alive connection with nothing left
  // unread is parked for the next request; any other is closed.
  void ParkOrClose(bool whole) {
    if (stream_ == nullptr) return;
    if (whole && parser_->keep_alive() && buffer_.size() == 0 && !proxy_->stopped &&
        !pool_key_suffix_.empty()) {
      stream_->expires_never();
      return proxy_->Park(instance_->key + pool_key_suffix_, std::move(stream_), epoch_);
    }
    Close();
  }

  void Close() {
    buffer_.clear();  // bytes of this connection must not be read as the next one's answer
    if (stream_ == nullptr) return;
    boost::system::error_code ignored;
    stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_->close();
    stream_.reset();
  }

  // The server is done with the response, whole or not.
  void Finish() {
    if (parser_ && parser_->is_done()) return Release();
    Close();
  }

  void Refuse(Outcome outcome, unsigned status, std::string_view code, const std::string& error,
              const std::string& hint) {
    counters_->outcomes[outcome].fetch_add(1);
    proxy_->logger->warn(log::With("Proxied request failed", {{"service", service_},
                                                              {"request_id", request_id_},
                                                              {"status", int64_t{status}},
                                                              {"error", error}}));
    HttpResponse response;
    response.status = status;
    response.body = ErrorBody(error, code, service_, hint);
    if (status == 503) response.headers.emplace_back("Retry-After", "1");
    responder_->Send(std::move(response));
  }

  std::shared_ptr<Impl> proxy_;
  const std::string service_;
  std::shared_ptr<ServiceCounters> counters_;
  const std::string method_;
  const std::string request_id_;
  std::string target_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::optional<uint64_t> length_;
  bool chunked_ = false;
  bool has_body_ = false;
  std::shared_ptr<HttpBodyReader> body_;
  std::shared_ptr<HttpResponder> responder_;

  std::shared_ptr<Instance> instance_;
  std::set<std::string> tried_;
  std::string last_error_;
  bool reused_ = false;
  bool stale_ = false;  // a parked connection failed: new ones only from then on
  int attempts_ = 0;
  bool body_started_ = false;
  // The session's I/O thread (one thread per io_context), or a strand of the daemon's pool.
  asio::any_io_executor strand_;
  std::string pool_key_suffix_;  // "@CONTEXT": parked connections of this thread; "" for none
  uint64_t epoch_ = 0;           // the pool's epoch when the call began
  std::unique_ptr<beast::tcp_stream> stream_;
  std::unique_ptr<tcp::resolver> resolver_;
  bhttp::request<bhttp::buffer_body> request_;
  std::optional<bhttp::request_serializer<bhttp::buffer_body>> serializer_;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> parser_;
  beast::flat_buffer buffer_;
  std::string upload_piece_;           // the client's body piece on its way
  std::unique_ptr<char[]> read_buf_;   // a response body piece, as read
  std::optional<HttpResponse> small_;  // a small answer while its body is read
};

}  // namespace

bool ServiceProxy::Impl::AddRoute(const std::string& service, const std::string& method,
                                  const std::string& pattern) {
  const std::string key = method + " " + pattern;
  {
    std::lock_guard lock(mu);
    if (stopped || declined.contains(key)) return false;
    if (const auto it = owners.find(key); it != owners.end()) return it->second == service;
  }
  std::weak_ptr<Impl> weak = weak_from_this();
  auto added = router.AddStreamingRoute(
      method, pattern, std::numeric_limits<uint64_t>::max(),
      [weak, service](const HttpRequest& req, std::shared_ptr<HttpBodyReader> body,
                      std::shared_ptr<HttpResponder> responder) {
        auto self = weak.lock();
        if (self == nullptr) {
          HttpResponse r;
          r.status = 503;
          r.body = ErrorBody("the gateway is stopping", "stopping", service, "try again");
          return responder->Send(std::move(r));
        }
        std::make_shared<Call>(std::move(self), service, req, std::move(body), std::move(responder))
            ->Begin();
      });
  std::lock_guard lock(mu);
  if (!added) {
    declined.insert(key);  // the gateway's own
    return false;
  }
  routes.emplace(key, *added);
  owners.emplace(key, service);
  logger->info(log::With("Proxying a route",
                         {{"method", method}, {"route", pattern}, {"service", service}}));
  return true;
}

ServiceProxy::ServiceProxy(Router& router, boost::asio::any_io_executor executor,
                           ProxySettings settings, std::shared_ptr<spdlog::logger> logger)
    : impl_(std::make_shared<Impl>(router, std::move(executor), settings, std::move(logger))) {}

ServiceProxy::~ServiceProxy() { Stop(); }

void ServiceProxy::Update(const std::vector<ServiceStatus>& services) {
  std::vector<std::tuple<std::string, std::string, std::string>> announced;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped) return;
    std::map<std::string, std::vector<std::shared_ptr<Instance>>> next;
    for (const auto& s : services) {
      std::string host;
      std::string port;
      if (s.service == "api-gateway" || s.http_url.empty() || !ParseUrl(s.http_url, host, port))
        continue;
      // The same instance keeps its counters; a new one (a restart has a new id) starts fresh.
      std::shared_ptr<Instance> in;
      for (const auto& old : impl_->instances[s.service]) {
        if (old->id == s.id && old->host == host && old->port == port) in = old;
      }
      if (in == nullptr) {
        in = std::make_shared<Instance>();
        in->id = s.id;
        in->service = s.service;
        in->host = host;
        in->port = port;
        in->key = fmt::format("{}:{}", host, port);
      }
      const bool standby =
          !s.alive && s.silent < impl_->settings.silent_grace && !s.health_reported_unhealthy;
      const bool usable = (s.alive && s.health != HealthStatus::kUnhealthy) || standby;
      in->usable.store(usable);
      in->standby.store(standby);
      if (!usable) continue;
      next[s.service].push_back(in);
      for (const auto& [method, pattern] : s.routes)
        announced.emplace_back(s.service, method, pattern);
    }
    // Services that were known keep their (now empty) entry: their routes answer 503.
    for (auto& [service, list] : impl_->instances) {
      if (!next.contains(service)) next[service];
    }
    impl_->instances = std::move(next);
    for (const auto& [service, list] : impl_->instances) {
      if (impl_->counters[service] == nullptr)
        impl_->counters[service] = std::make_shared<ServiceCounters>();
    }
  }
  for (const auto& [service, method, pattern] : announced) {
    // Preflights and tus's OPTIONS go to the service too, which knows its CORS policy.
    if (impl_->AddRoute(service, method, pattern) && method != "OPTIONS")
      impl_->AddRoute(service, "OPTIONS", pattern);
  }
}

void ServiceProxy::Stop() {
  std::map<std::string, Router::RouteId> routes;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    routes.swap(impl_->routes);
  }
  impl_->CloseIdle();
  for (const auto& [key, id] : routes) impl_->router.RemoveRoute(id);
}

void ServiceProxy::CloseIdle() { impl_->CloseIdle(); }

void ServiceProxy::Collect(std::vector<MetricFamily>& out) const {
  MetricFamily requests{"streamgate_proxy_requests_total",
                        "Requests the gateway passed on to a service, by service and outcome",
                        "counter",
                        {}};
  MetricFamily retries{"streamgate_proxy_retries_total",
                       "Idempotent requests sent again to another instance after a failure",
                       "counter",
                       {}};
  MetricFamily spliced{"streamgate_proxy_spliced_total",
                       "Answers whose body the kernel moved from the instance to the client "
                       "(splice), not copied through the gateway",
                       "counter",
                       {}};
  MetricFamily in_flight{"streamgate_proxy_in_flight",
                         "Proxied requests waiting for or receiving an answer, by service",
                         "gauge",
                         {}};
  MetricFamily instances{"streamgate_proxy_instances",
                         "Healthy instances the gateway sends a service's requests to",
                         "gauge",
                         {}};
  std::lock_guard lock(impl_->mu);
  for (const auto& [service, c] : impl_->counters) {
    for (size_t o = 0; o < kOutcomes; ++o) {
      requests.samples.push_back({"",
                                  {{"service", service}, {"outcome", kOutcomeNames[o]}},
                                  static_cast<double>(c->outcomes[o].load())});
    }
    retries.samples.push_back({"", {{"service", service}}, static_cast<double>(c->retries.load())});
    spliced.samples.push_back({"", {{"service", service}}, static_cast<double>(c->spliced.load())});
    in_flight.samples.push_back(
        {"", {{"service", service}}, static_cast<double>(c->in_flight.load())});
  }
  for (const auto& [service, list] : impl_->instances) {
    instances.samples.push_back({"", {{"service", service}}, static_cast<double>(list.size())});
  }
  out.push_back(std::move(requests));
  out.push_back(std::move(retries));
  out.push_back(std::move(spliced));
  out.push_back(std::move(in_flight));
  out.push_back(std::move(instances));
}

}  // namespace sg::plugins
