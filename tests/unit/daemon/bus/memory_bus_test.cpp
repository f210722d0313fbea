#include "daemon/bus/memory_bus.h"

#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "common/logging.h"
#include "tests/support/process.h"
#include "tests/support/test_plugin.h"

namespace sg::bus {
namespace {

using namespace std::chrono_literals;

struct Fixture {
  explicit Fixture(int thread_count = 2) {
    sg::log::Options options;
    options.console = false;
    logs = std::move(sg::log::LogHub::Create(options)).value();
    for (int i = 0; i < thread_count; ++i) threads.emplace_back([this] { io.run(); });
    bus = std::make_unique<MemoryBus>(io.get_executor(), logs->Get("bus"));
  }
  ~Fixture() {
    gate->Open();
    work.reset();
    io.stop();
    for (auto& t : threads) t.join();
  }

  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(io);
  std::vector<std::thread> threads;
  std::unique_ptr<sg::log::LogHub> logs;
  std::unique_ptr<Bus> bus;  // used through the interface, as plugins do
  std::shared_ptr<test::Gate> gate = std::make_shared<test::Gate>();
};

// Collects what a handler saw. Thread-safe.
struct Inbox {
  void Add(const Message& m) {
    std::lock_guard lock(mu);
    subjects.push_back(m.subject);
    data.push_back(m.data);
  }
  size_t Size() {
    std::lock_guard lock(mu);
    return subjects.size();
  }
  std::vector<std::string> Subjects() {
    std::lock_guard lock(mu);
    return subjects;
  }
  std::vector<std::string> Data() {
    std::lock_guard lock(mu);
    return data;
  }
  std::mutex mu;
  std::vector<std::string> subjects;
  std::vector<std::string> data;
};

}  // namespace

TEST_CASE("subscribers get what matches their pattern, wildcards included", "[bus]") {
  Fixture f;
  Inbox exact, star, tail;
  REQUIRE(f.bus->Subscribe("video.uploaded", [&](const Message& m) { exact.Add(m); }));
  REQUIRE(f.bus->Subscribe("video.*", [&](const Message& m) { star.Add(m); }));
  REQUIRE(f.bus->Subscribe("video.>", [&](const Message& m) { tail.Add(m); }));

  for (const char* s : {"video.uploaded", "video.ready", "video.ready.hd", "audio.uploaded"}) {
    REQUIRE(f.bus->Publish(s, "x"));
  }

  REQUIRE(
      test::WaitFor([&] { return exact.Size() == 1 && star.Size() == 2 && tail.Size() == 3; }, 5s));
  CHECK(exact.Subjects() == std::vector<std::string>{"video.uploaded"});
  CHECK(f.bus->Stats().published == 4);
}

TEST_CASE("each subscriber sees messages in publish order", "[bus]") {
  Fixture f(4);
  Inbox a, b;
  REQUIRE(f.bus->Subscribe(
      "seq", [&](const Message& m) { a.Add(m); }, 10000));
  REQUIRE(f.bus->Subscribe(
      "seq", [&](const Message& m) { b.Add(m); }, 10000));

  for (int i = 0; i < 2000; ++i) REQUIRE(f.bus->Publish("seq", std::to_string(i)));

  REQUIRE(test::WaitFor([&] { return a.Size() == 2000 && b.Size() == 2000; }, 10s));
  for (Inbox* inbox : {&a, &b}) {
    const auto data = inbox->Data();
    for (int i = 0; i < 2000; ++i) REQUIRE(data[static_cast<size_t>(i)] == std::to_string(i));
  }
}

TEST_CASE("a slow subscriber drops past its queue limit without slowing the publisher", "[bus]") {
  Fixture f;
  Inbox fast;
  std::atomic<int> slow_seen{0};
  auto slow = f.bus->Subscribe(
      "load",
      [&](const Message&) {
        f.gate->Wait();
        ++slow_seen;
      },
      8);
  REQUIRE(slow);
  REQUIRE(f.bus->Subscribe(
      "load", [&](const Message& m) { fast.Add(m); }, 1000));

  for (int i = 0; i < 100; ++i) REQUIRE(f.bus->Publish("load", "x"));

  REQUIRE(test::WaitFor([&] { return fast.Size() == 100; }, 5s));
  // One message is in the blocked handler; the limit bounds the rest.
  CHECK(f.bus->Dropped(*slow) >= 100 - 8 - 1);
  CHECK(f.bus->Stats().dropped == f.bus->Dropped(*slow));
  f.gate->Open();
  REQUIRE(test::WaitFor([&] { return slow_seen + f.bus->Dropped(*slow) == 100; }, 5s));
}

TEST_CASE("a throwing handler is counted and the bus goes on", "[bus]") {
  Fixture f;
  Inbox after;
  REQUIRE(f.bus->Subscribe("x", [](const Message&) { throw std::runtime_error("boom"); }));
  REQUIRE(f.bus->Subscribe("x", [&](const Message& m) { after.Add(m); }));

  REQUIRE(f.bus->Publish("x", "1"));
  REQUIRE(f.bus->Publish("x", "2"));

  REQUIRE(
      test::WaitFor([&] { return after.Size() == 2 && f.bus->Stats().handler_errors == 2; }, 5s));
}

TEST_CASE("unsubscribe stops deliveries", "[bus]") {
  Fixture f;
  Inbox inbox;
  auto id = f.bus->Subscribe("x", [&](const Message& m) { inbox.Add(m); });
  REQUIRE(id);
  REQUIRE(f.bus->Publish("x", "1"));
  REQUIRE(test::WaitFor([&] { return inbox.Size() == 1; }, 5s));

  f.bus->Unsubscribe(*id);
  REQUIRE(f.bus->Publish("x", "2"));
  Inbox witness;  // a later subscriber proves the second message went through the bus
  REQUIRE(f.bus->Subscribe("y", [&](const Message& m) { witness.Add(m); }));
  REQUIRE(f.bus->Publish("y", "3"));
  REQUIRE(test::WaitFor([&] { return witness.Size() == 1; }, 5s));

  CHECK(inbox.Size() == 1);
}

TEST_CASE("request/reply returns the reply, or times out, or finds no responder", "[bus]") {
  Fixture f;
  REQUIRE(f.bus->Subscribe(
      "echo", [&](const Message& m) { REQUIRE(f.bus->Publish(m.reply, "re:" + m.data)); }));
  REQUIRE(f.bus->Subscribe("silent", [](const Message&) {}));

  auto reply = f.bus->Request("echo", "hi", 2s);
  REQUIRE(reply.has_value());
  CHECK(reply->data == "re:hi");

  auto timeout = f.bus->Request("silent", "hi", 50ms);
  REQUIRE_FALSE(timeout.has_value());
  CHECK(timeout.error().code == ErrorCode::kTimeout);

  auto nobody = f.bus->Request("nobody.home", "hi", 2s);
  REQUIRE_FALSE(nobody.has_value());
  CHECK(nobody.error().code == ErrorCode::kUnavailable);
}

TEST_CASE("invalid subjects and patterns are refused", "[bus]") {
  Fixture f;
  CHECK_FALSE(f.bus->Publish("a..b", "x").has_value());
  CHECK_FALSE(f.bus->Publish("a.*", "x").has_value());
  CHECK_FALSE(f.bus->Subscribe("a.>.b", [](const Message&) {}).has_value());
}

}  // namespace sg::bus
