// Asynchronous route handlers on the real HTTP server: an answer from another thread, the
// deadline when none comes, the client leaving mid-work, and order under pipelining.
#include <atomic>
#include <future>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/support/http_client.h"
#include "tests/support/http_test_server.h"
#include "tests/support/process.h"

namespace sg::http {
namespace {

// The test server, and the threads its handlers answer from (joined after it stops).
struct AsyncServer : test::HttpTestServer {
  explicit AsyncServer(std::chrono::milliseconds answer_within = std::chrono::seconds(5))
      : deadline(answer_within) {}
  void Start() {
    test::HttpTestServer::Start([this](ServerSettings& s) { s.write_timeout = deadline; });
  }
  ~AsyncServer() {
    if (server) server->Stop(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    for (auto& t : workers) t.join();
  }
  std::chrono::milliseconds deadline;
  std::vector<std::thread> workers;
};

}  // namespace

TEST_CASE("an asynchronous handler answers from another thread", "[http][async]") {
  AsyncServer s;
  REQUIRE(s.routes.AddAsyncRoute(
      "GET", "/work/{n}", [&](const HttpRequest& req, std::shared_ptr<HttpResponder> responder) {
        const std::string n(req.Param("n"));  // copied: the request is not kept
        s.workers.emplace_back([n, responder] {
          HttpResponse res;
          res.body = "{\"n\":" + n + "}";
          responder->Send(std::move(res));
          responder->Send(HttpResponse{});  // a second answer is ignored
        });
      }));
  REQUIRE(s.routes.AddRoute("GET", "/now",
                            [](const HttpRequest&, HttpResponse& res) { res.body = "now"; }));
  s.Start();
  test::HttpConnection c(s.port());
  auto reply = c.Request("GET", "/work/7");
  REQUIRE(reply);
  CHECK(reply->status == 200);
  CHECK(reply->body == "{\"n\":7}");
  // Pipelined: the slow answer first, then the quick one, in order.
  c.Send("GET /work/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /now HTTP/1.1\r\nHost: x\r\n\r\n");
  auto first = c.Read();
  auto second = c.Read();
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->body == "{\"n\":1}");
  CHECK(second->body == "now");
}

TEST_CASE("a handler that never answers gets the client a 504 at the deadline", "[http][async]") {
  AsyncServer s(std::chrono::milliseconds(200));
  std::shared_ptr<HttpResponder> kept;
  std::promise<void> gone;
  std::atomic<int> calls{0};
  REQUIRE(s.routes.AddAsyncRoute("GET", "/stuck",
                                 [&](const HttpRequest&, std::shared_ptr<HttpResponder> responder) {
                                   if (calls++ > 0) return;  // the second time, just never answer
                                   kept = responder;
                                   responder->OnClientGone([&gone] { gone.set_value(); });
                                 }));
  s.Start();
  test::HttpConnection c(s.port());
  auto reply = c.Request("GET", "/stuck");
  REQUIRE(reply);
  CHECK(reply->status == 504);
  REQUIRE(gone.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  CHECK(kept->ClientGone());
  kept->Send(HttpResponse{});  // too late: dropped, nothing breaks
  // The connection still serves.
  auto again = c.Request("GET", "/stuck");
  REQUIRE(again);
  CHECK(again->status == 504);
}

TEST_CASE("a client that leaves mid-work is noticed, so the work can stop", "[http][async]") {
  AsyncServer s;
  std::promise<void> gone;
  std::promise<void> received;
  std::shared_ptr<HttpResponder> kept;
  REQUIRE(s.routes.AddAsyncRoute("GET", "/long",
                                 [&](const HttpRequest&, std::shared_ptr<HttpResponder> responder) {
                                   kept = responder;
                                   responder->OnClientGone([&gone] { gone.set_value(); });
                                   received.set_value();
                                 }));
  s.Start();
  {
    test::HttpConnection c(s.port());
    c.Send("GET /long HTTP/1.1\r\nHost: x\r\n\r\n");
    // Wait until the handler holds the request, then hang up.
    REQUIRE(received.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  }
  REQUIRE(gone.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  CHECK(kept->ClientGone());
}

}  // namespace sg::http

namespace sg::http {

TEST_CASE("a streamed response: events as they are written, heartbeats, then the end",
          "[http][async][sse]") {
  AsyncServer s;
  REQUIRE(s.routes.AddAsyncRoute(
      "GET", "/events", [&](const HttpRequest&, std::shared_ptr<HttpResponder> responder) {
        HttpResponse head;
        head.content_type = "text/event-stream";
        auto stream = responder->StartStream(std::move(head), std::chrono::milliseconds(50));
        REQUIRE(stream);
        s.workers.emplace_back([stream] {
          for (int i = 1; i <= 3; ++i)
            stream->Write("data: {\"progress\":" + std::to_string(i) + "}\n\n");
          stream->End();
        });
      }));
  s.Start();
  const auto r = test::Run({"/usr/bin/curl", "-sS", "-N", "-D", "-", s.base() + "/events"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("Content-Type: text/event-stream") != std::string::npos);
  CHECK(r.out.find("Transfer-Encoding: chunked") != std::string::npos);
  CHECK(r.out.find("data: {\"progress\":1}\n\ndata: {\"progress\":2}\n\ndata: {\"progress\":3}") !=
        std::string::npos);
}

TEST_CASE("a stream whose client leaves says so, and writes are refused", "[http][async][sse]") {
  AsyncServer s;
  std::promise<std::shared_ptr<HttpStream>> started;
  std::promise<void> gone;
  REQUIRE(s.routes.AddAsyncRoute(
      "GET", "/events", [&](const HttpRequest&, std::shared_ptr<HttpResponder> responder) {
        responder->OnClientGone([&gone] { gone.set_value(); });
        HttpResponse head;
        head.content_type = "text/event-stream";
        started.set_value(responder->StartStream(std::move(head), std::chrono::milliseconds(20)));
      }));
  s.Start();
  auto stream_future = started.get_future();
  {
    test::HttpConnection c(s.port());
    c.Send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(stream_future.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  }
  auto stream = stream_future.get();
  REQUIRE(stream);
  // The heartbeat's write finds the socket closed, or the close watch sees it first.
  REQUIRE(gone.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  CHECK(stream->ClientGone());
  CHECK_FALSE(stream->Write("data: late\n\n"));
}

}  // namespace sg::http
