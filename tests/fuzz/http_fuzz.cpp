// Feeds arbitrary byte streams to the real HTTP session code (daemon/http/session.h) over Beast's
// test stream, as a client on a socket would: nothing may crash, leak, hang or throw, and every
// answer must be an HTTP/1.1 response.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/beast/_experimental/test/stream.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "daemon/http/session.h"

namespace sg::http {

template <>
struct StreamOps<boost::beast::test::stream> {
  static void ExpireAfter(boost::beast::test::stream&, std::chrono::steady_clock::duration) {}
  static void Close(boost::beast::test::stream& s) { s.close(); }
  static std::string Remote(boost::beast::test::stream&) { return "fuzz"; }
  // No route of the fuzz target answers later or with a file.
  static void WatchClose(boost::beast::test::stream&, const std::function<void(bool)>&) {}
  static void CancelWatch(boost::beast::test::stream&) {}
  // Everything goes the asynchronous way, as on a socket that has nothing ready.
  static size_t ReadNow(boost::beast::test::stream&, boost::asio::mutable_buffer) { return 0; }
  static size_t WriteNow(boost::beast::test::stream&,
                         const std::array<boost::asio::const_buffer, 2>&, bool) {
    return 0;
  }
  static void SendFile(boost::beast::test::stream&, int, uint64_t, uint64_t,
                       std::chrono::steady_clock::duration,
                       const std::function<void(boost::beast::error_code)>& done) {
    done(boost::asio::error::operation_not_supported);
  }
  static bool Splice(boost::beast::test::stream&, const std::array<boost::asio::const_buffer, 2>&,
                     sg::HttpSpliceable&, uint64_t, std::chrono::steady_clock::duration,
                     std::chrono::steady_clock::duration,
                     const std::function<void(boost::beast::error_code, uint64_t, bool)>&) {
    return false;
  }
};

}  // namespace sg::http

namespace {

struct Server {
  Server() {
    auto sink = std::make_shared<spdlog::sinks::null_sink_mt>();
    logger = std::make_shared<spdlog::logger>("http", sink);
    // The access log formats every line as the daemon's does; the lines go nowhere.
    access = std::make_shared<sg::log::AccessLog>(sg::log::AccessLog::Options{},
                                                  std::make_shared<spdlog::logger>("access", sink),
                                                  [](std::string_view) {});
    (void)routes.AddRoute("GET", "/health", [](const sg::HttpRequest&, sg::HttpResponse& res) {
      res.body = R"({"status":"healthy"})";
    });
    (void)routes.AddRoute("PUT", "/api/v1/cache/{key}",
                          [](const sg::HttpRequest& req, sg::HttpResponse& res) {
                            res.status = 204;
                            res.body = std::string(req.params.empty() ? "" : req.params[0].second);
                          });
    auto s = std::make_shared<sg::http::ServerSettings>();
    s->max_header_bytes = 4096;
    s->max_header_fields = 20;
    s->max_body_bytes = 64 * 1024;
    settings = s;
  }
  std::shared_ptr<spdlog::logger> logger;
  std::shared_ptr<sg::log::AccessLog> access;
  sg::http::RouteTable routes;
  std::shared_ptr<const sg::http::ServerSettings> settings;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {  // NOLINT
  static Server server;
  sg::http::Generation generation;
  generation.settings = server.settings;
  sg::http::Generation::Worker worker;
  sg::http::RejectCounters rejects;
  std::atomic<uint64_t> total{0};
  const sg::http::SessionEnv env{&server.routes, server.logger.get(), server.access.get(),
                                 &rejects};

  boost::beast::test::stream socket(worker.io);
  boost::beast::test::stream client(worker.io);
  socket.connect(client);
  socket.append(boost::beast::string_view(reinterpret_cast<const char*>(data), size));
  client.close();  // the client's end of the stream follows its bytes
  std::make_shared<sg::http::BasicSession<boost::beast::test::stream>>(std::move(socket), worker,
                                                                       generation, env, total)
      ->Run();
  sg::http::RunIoLoop(worker.io, *server.logger, rejects);

  // Whatever came in, nothing threw and every answer is a response.
  if (rejects.counts[static_cast<size_t>(sg::http::RejectReason::kException)] != 0)
    __builtin_trap();
  const auto text = client.str();
  const std::string answer(text.data(), text.size());
  if (!answer.empty() && answer.rfind("HTTP/1.1 ", 0) != 0) __builtin_trap();
  if (total.load() != 0) __builtin_trap();  // the session ended and let go of everything
  return 0;
}
