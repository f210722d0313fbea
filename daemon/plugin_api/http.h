// HTTP as plugins see it: a request, a response to fill in, and the router the api-gateway offers
// (in the service registry as "http.router") for other plugins to add their routes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "common/result.h"
#include "daemon/plugin_api/shared_bytes.h"

namespace sg {

struct HttpRequest {
  std::string_view method;  // "GET"
  std::string_view path;    // "/api/v1/videos/42", without the query
  std::string_view query;   // "a=1&b=2", without the '?'
  std::string_view body;
  std::string_view request_id;
  std::string_view remote;  // the client's address ("127.0.0.1", "::1"), or "-" when unknown
  /// Path parameters from the route pattern: {"id": "42"} for /api/v1/videos/{id}.
  std::vector<std::pair<std::string_view, std::string_view>> params;
  /// A request header, or "" when absent.
  std::string_view Header(std::string_view name) const {
    return header_fn != nullptr ? header_fn(header_ctx, name) : std::string_view();
  }
  /// Every request header in the order received, names as the client spelled them (a proxy
  /// passes them on).
  using HeaderVisitor = std::function<void(std::string_view name, std::string_view value)>;
  void ForEachHeader(const HeaderVisitor& visit) const {
    if (each_header_fn != nullptr) each_header_fn(header_ctx, visit);
  }
  // Set by the server: how Header() and ForEachHeader() read the request it came from.
  std::string_view (*header_fn)(const void* ctx, std::string_view name) = nullptr;
  void (*each_header_fn)(const void* ctx, const HeaderVisitor& visit) = nullptr;
  const void* header_ctx = nullptr;

  std::string_view Param(std::string_view name) const {
    for (const auto& [k, v] : params) {
      if (k == name) return v;
    }
    return {};
  }
};

/// A piece of a body: of a request as it arrived, or of a response as its source made it.
struct HttpBodyChunk {
  std::string data;   // a request's pieces are at most 64 KiB; may be empty when `last` is set
  bool last = false;  // the body is complete: nothing follows
};

/// A response body whose bytes the kernel can move: the rest of it waits on a socket, and the
/// server passes it to the client with splice(2), through a pipe, never through user space. The
/// gateway's proxy offers it for an answer of known length. Every member runs on the I/O thread
/// of the request (HttpResponder::executor), which the socket also belongs to.
class HttpSpliceable {
 public:
  virtual ~HttpSpliceable() = default;
  /// The socket the body's remaining bytes are read from, in non-blocking mode.
  virtual int Fd() const = 0;
  /// The body's first bytes, already read from the socket: sent before the rest.
  virtual std::string_view Buffered() const = 0;
  /// Calls `fn` once the socket has bytes to read (or an error), on the I/O thread.
  virtual void WaitReadable(std::function<void(std::error_code)> fn) = 0;
  /// Ends a wait begun by WaitReadable: its `fn` gets an error (a deadline passed).
  virtual void CancelWait() = 0;
  /// The transfer ended: `whole` when every byte of the body reached the client, so the socket
  /// may carry another request; otherwise it is closed. Called once, instead of Close.
  virtual void Done(bool whole) = 0;
};

/// Where a response's body comes from when it is neither a string nor a file: an object in
/// storage, say. The server asks for one piece at a time, and for the next only once the last
/// one is sent, so a slow client holds the source back instead of filling memory.
class HttpBodySource {
 public:
  virtual ~HttpBodySource() = default;
  using ChunkFn = std::function<void(Result<HttpBodyChunk> chunk)>;
  /// Makes the next piece and calls `fn` once with it, from any thread (the blocking pool, say).
  /// An error after the head went out ends the connection without the rest: the client sees a
  /// short body (or a chunked one without its end), never a wrong one.
  virtual void Read(ChunkFn fn) = 0;
  /// Called once when the response ends, whole or not (the client left): release what it holds.
  virtual void Close() {}
  /// The body as a socket's bytes for splice(2), or null (the default): then the server reads
  /// pieces. Asked once, on the request's I/O thread, for a GET answer with Content-Length; when
  /// the server takes it, neither Read nor Close is called, Done is.
  virtual HttpSpliceable* Spliceable() { return nullptr; }
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  /// When set (and `file` and `source` are not), the body is `shared_view`, bytes that `shared`
  /// keeps alive until they are sent: a cached object answered without a copy. `body` is unused.
  /// When `shared` lives in a memfd, the bytes go by sendfile from it.
  std::shared_ptr<const SharedBytes> shared;
  std::string_view shared_view;
  /// When set, the answer is this file instead of `body`, sent with zero-copy sendfile(2). The
  /// server handles what HTTP asks of a file: a strong ETag and Last-Modified, If-None-Match and
  /// If-Modified-Since (304), one byte range (206 with Content-Range, 416), Accept-Ranges, and
  /// HEAD without a body; a missing file is 404. `status` stays 200 for that to apply.
  std::string file;
  /// When set (and `file` is not), the body comes from here piece by piece, with Content-Length
  /// when `content_length` is set (the source must then give exactly that many bytes), chunked
  /// otherwise. Ranges and validators are the handler's to apply (a storage reader has ranges).
  /// HEAD sends the head alone and never reads the source.
  std::shared_ptr<HttpBodySource> source;
  std::optional<uint64_t> content_length;
};

/// Runs on an I/O thread: it must not block. Work that takes time goes to an asynchronous
/// handler (below), which answers later.
using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;

/// A response streamed as it is made (chunked): server-sent events, progress. Safe from any
/// thread.
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  /// Queues bytes for the client (an event: "data: {...}\n\n"). False when the client is gone,
  /// the stream ended, or more than 1 MiB already waits for a slow client: end the stream then.
  virtual bool Write(std::string data) = 0;
  /// Ends the response once what is queued is sent; the connection may then carry more requests.
  virtual void End() = 0;
  virtual bool ClientGone() const = 0;
};

/// How an asynchronous handler answers: once, from any thread, before the request's deadline
/// (server.write_timeout from when the handler was called; past it the client gets 504). The
/// request the handler was given stays valid until Send is called or the client is gone; copy
/// what the work needs beyond that.
class HttpResponder {
 public:
  virtual ~HttpResponder() = default;
  /// Answers the request. Only the first call counts; after the client went away it is dropped.
  virtual void Send(HttpResponse response) = 0;
  /// Answers with a stream instead: `head` gives the status, content type and headers (its body
  /// and file are ignored). When `heartbeat` is set and nothing was written for that long, the
  /// server sends an SSE comment line (":\n\n") to keep proxies from closing the connection.
  /// Null when an answer was already given or the client is gone. The request's deadline no
  /// longer applies; each write has server.write_timeout.
  virtual std::shared_ptr<HttpStream> StartStream(
      HttpResponse head, std::chrono::milliseconds heartbeat = std::chrono::milliseconds(0)) = 0;
  /// True once the client closed the connection or the deadline passed: stop the work.
  virtual bool ClientGone() const = 0;
  /// `fn` runs once, on an I/O thread, when the client goes away or the deadline passes before
  /// Send; at once if that already happened. It must not block.
  virtual void OnClientGone(std::function<void()> fn) = 0;
  /// The executor of the I/O thread the request came in on (one thread), or an empty one when
  /// there is none: quick non-blocking work that belongs with the request, such as a proxy's
  /// upstream socket, runs there without a hop to another thread. Never block on it.
  virtual boost::asio::any_io_executor executor() const { return {}; }
};

/// Runs on an I/O thread and returns at once; the answer goes through the responder, from a
/// thread of the plugin's (the blocking pool, say).
using AsyncHttpHandler =
    std::function<void(const HttpRequest&, std::shared_ptr<HttpResponder> responder)>;

/// A request body read as it arrives, for routes added with AddStreamingRoute: memory stays flat
/// however large the body. Safe from any thread.
class HttpBodyReader {
 public:
  virtual ~HttpBodyReader() = default;
  /// The length the client announced (Content-Length); empty for a chunked body.
  virtual std::optional<uint64_t> ContentLength() const = 0;
  /// Asks for the next piece. `fn` runs once, on an I/O thread, with the bytes read or an error:
  /// kInvalidArgument when the body broke the route's limit (the client was answered 413),
  /// kUnavailable when the client went away, kTimeout when it stopped sending for
  /// server.read_timeout, kFailedPrecondition after the body ended, the answer was sent, or
  /// while another Read is pending. Nothing more is read from the client until Read is called
  /// again: that is the backpressure. `fn` must not block; hand the bytes to the blocking pool.
  /// Between a chunk and the next Read (or the answer), the handler has server.write_timeout;
  /// past it the client gets 504.
  using ChunkFn = std::function<void(Result<HttpBodyChunk> chunk)>;
  virtual void Read(ChunkFn fn) = 0;
};

/// Runs on an I/O thread once the request's header is in and returns at once; reads the body
/// through `body` and answers through `responder` (an answer sent before the body ended closes
/// the connection after it: say 413 or 401 early, the rest is not read).
using StreamingHttpHandler = std::function<void(
    const HttpRequest&, std::shared_ptr<HttpBodyReader> body, std::shared_ptr<HttpResponder>)>;

/// Cross-origin access for browser clients (players, tus uploads) to the routes of one pattern.
struct CorsPolicy {
  std::vector<std::string> allow_origins = {"*"};  // exact origins, or "*" for any
  std::vector<std::string> allow_headers = {};     // request headers a preflight may name
  std::vector<std::string> expose_headers = {};    // response headers scripts may read
  int max_age_seconds = 600;                       // how long a browser keeps a preflight
};

/// Thread-safe. Routes may be added and removed while requests are served.
class Router {
 public:
  virtual ~Router() = default;
  using RouteId = uint64_t;

  /// Adds a route: a method ("GET", "POST", ...) and a pattern of '/'-separated segments, where
  /// "{name}" matches any one segment. GET routes answer HEAD too. kInvalidArgument for a bad
  /// pattern or a route that is already taken. The pattern is the route's label in metrics and
  /// logs (HttpRouteStats::route), never the raw path.
  virtual Result<RouteId> AddRoute(std::string method, std::string pattern,
                                   HttpHandler handler) = 0;
  /// The same for a handler that answers later (see AsyncHttpHandler).
  virtual Result<RouteId> AddAsyncRoute(std::string method, std::string pattern,
                                        AsyncHttpHandler handler) = 0;
  /// The same for a handler that takes its body as it arrives (see StreamingHttpHandler), with
  /// its own body limit in place of server.max_body_size: larger is answered 413 (at once when
  /// Content-Length says so). An `Expect: 100-continue` is answered when the handler first reads.
  virtual Result<RouteId> AddStreamingRoute(std::string method, std::string pattern,
                                            uint64_t max_body_bytes,
                                            StreamingHttpHandler handler) = 0;
  virtual void RemoveRoute(RouteId id) = 0;
  /// Lets browsers from `policy.allow_origins` call the routes of `pattern` (every method, those
  /// added later too): the server answers preflight OPTIONS requests (204 with
  /// Access-Control-Allow-Methods and -Headers) and adds Access-Control-Allow-Origin, Vary:
  /// Origin and Access-Control-Expose-Headers to their responses.
  virtual void SetCors(const std::string& pattern, CorsPolicy policy) = 0;
};

/// What the api-gateway counted, for the monitor plugin ("http.stats" in the registry).
struct HttpRouteStats {
  std::string method;
  std::string route;           // the pattern, never the raw path: bounded label cardinality
  uint64_t responses[6] = {};  // by status class: index 1 = 1xx ... 5 = 5xx
  std::vector<uint64_t> latency_buckets;  // cumulative counts per HttpStats::LatencyBounds()
  double latency_sum_seconds = 0;
  uint64_t count = 0;
};

class HttpStats {
 public:
  virtual ~HttpStats() = default;
  /// Upper bounds, in seconds, of the latency histogram's buckets (then +Inf).
  virtual const std::vector<double>& LatencyBounds() const = 0;
  virtual std::vector<HttpRouteStats> Snapshot() const = 0;
  virtual uint64_t OpenConnections() const = 0;
};

}  // namespace sg
