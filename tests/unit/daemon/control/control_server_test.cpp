#include "daemon/control/control_server.h"

#include <cstring>
#include <future>

#include <catch2/catch.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "tests/support/fake_control_target.h"
#include "tests/support/process.h"

namespace sg::control {
namespace {

using namespace std::chrono_literals;

struct Fixture {
  Fixture() {
    ServerSettings settings;
    settings.endpoint = "ipc://" + dir.path() + "/control.sock";
    auto created = ControlServer::Create(settings, dispatcher, target.Logs());
    REQUIRE(created.has_value());
    server = std::move(created).value();
  }
  test::TempDir dir;
  test::FakeControlTarget target;
  Dispatcher dispatcher{target};
  std::unique_ptr<ControlServer> server;
  zmq::context_t context{1};
};

// Sends one frame on a fresh DEALER and waits for the reply.
std::optional<std::string> Ask(zmq::context_t& context, const std::string& endpoint,
                               const std::string& frame, std::chrono::milliseconds timeout = 5s) {
  zmq::socket_t s(context, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.connect(endpoint);
  s.send(zmq::buffer(frame), zmq::send_flags::none);
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
  zmq::message_t m;
  (void)s.recv(m);
  return m.to_string();
}

const std::string kPing = R"({"v":1,"id":"p","cmd":"ping"})";

}  // namespace

TEST_CASE("the control server answers DEALER and REQ clients", "[control]") {
  Fixture f;

  auto reply = Ask(f.context, f.server->endpoint(), kPing);
  REQUIRE(reply);
  CHECK(nlohmann::json::parse(*reply)["result"]["pong"] == true);

  zmq::socket_t req(f.context, zmq::socket_type::req);
  req.set(zmq::sockopt::linger, 0);
  req.set(zmq::sockopt::rcvtimeo, 5000);
  req.connect(f.server->endpoint());
  req.send(zmq::buffer(kPing), zmq::send_flags::none);
  zmq::message_t m;
  REQUIRE(req.recv(m));
  CHECK(nlohmann::json::parse(m.to_string())["ok"] == true);
}

TEST_CASE("hostile frames get errors or are dropped, and the server keeps answering",
          "[control][hostile]") {
  Fixture f;
  const std::string ep = f.server->endpoint();

  CHECK(Ask(f.context, ep, std::string("\x00\x01\x02\xff", 4)).value().find("bad_request") !=
        std::string::npos);
  CHECK(Ask(f.context, ep, "{not json").value().find("bad_request") != std::string::npos);
  CHECK(Ask(f.context, ep, R"({"v":1,"cmd":"shutdownn"})").value().find("unknown_command") !=
        std::string::npos);
  // Over ZMQ_MAXMSGSIZE: the connection is dropped and no reply comes.
  CHECK_FALSE(Ask(f.context, ep, std::string(size_t{2} * 1024 * 1024, 'x'), 300ms).has_value());
  {
    zmq::socket_t s(f.context, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.connect(ep);
    std::array<zmq::const_buffer, 3> parts = {zmq::str_buffer("a"), zmq::str_buffer("b"),
                                              zmq::str_buffer("c")};
    REQUIRE(zmq::send_multipart(s, parts));
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    REQUIRE(zmq::poll(&item, 1, 5s) == 1);
    zmq::message_t m;
    (void)s.recv(m);
    CHECK(m.to_string().find("one frame") != std::string::npos);
  }

  CHECK(Ask(f.context, ep, kPing).value().find("pong") != std::string::npos);
  CHECK(f.target.shutdowns == 0);
}

TEST_CASE("a slow command does not hold up the others", "[control]") {
  Fixture f;
  f.target.health_delay_ms = 1500;
  auto slow = std::async(std::launch::async, [&] {
    zmq::context_t c(1);
    return Ask(c, f.server->endpoint(), R"({"v":1,"id":"h","cmd":"health"})");
  });

  // While health sleeps, pings are answered; each must come well before health does.
  for (int i = 0; i < 5; ++i)
    REQUIRE(Ask(f.context, f.server->endpoint(), kPing, 1000ms).has_value());
  CHECK(slow.wait_for(0s) != std::future_status::ready);

  CHECK(slow.get().has_value());
}

TEST_CASE("many clients at once are all answered", "[control]") {
  Fixture f;
  std::vector<std::future<bool>> clients;
  clients.reserve(32);
  for (int i = 0; i < 32; ++i) {
    clients.push_back(std::async(std::launch::async, [&] {
      zmq::context_t c(1);
      for (int k = 0; k < 10; ++k) {
        if (!Ask(c, f.server->endpoint(), kPing)) return false;
      }
      return true;
    }));
  }
  for (auto& c : clients) CHECK(c.get());
}

TEST_CASE("the ipc socket is private to its user", "[control]") {
  Fixture f;
  struct stat st {};
  REQUIRE(stat(f.server->endpoint().substr(6).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("a tcp endpoint without CURVE keys is refused with the reason", "[control]") {
  test::TempDir dir;
  test::FakeControlTarget target;
  Dispatcher dispatcher(target);
  ServerSettings settings;
  settings.endpoint = "tcp://127.0.0.1:0";

  auto created = ControlServer::Create(settings, dispatcher, target.Logs());

  REQUIRE_FALSE(created.has_value());
  CHECK(created.error().code == ErrorCode::kConfig);
  CHECK_THAT(created.error().message, Catch::Contains("served only with CURVE"));
}

TEST_CASE("the log stream says hello to a new reader, then streams records in order", "[control]") {
  Fixture f;
  zmq::socket_t sub(f.context, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::subscribe, "");
  sub.connect(f.server->log_endpoint());
  auto next = [&]() -> nlohmann::json {
    zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
    REQUIRE(zmq::poll(&item, 1, 5s) == 1);
    zmq::message_t m;
    (void)sub.recv(m);
    return nlohmann::json::parse(m.to_string());
  };

  const auto hello = next();
  REQUIRE(hello["type"] == "hello");
  for (int i = 0; i < 3; ++i) f.target.Logs().Get("t")->info("live {}", i);

  for (int i = 0; i < 3; ++i) {
    const auto record = next();
    CHECK(record["msg"] == "live " + std::to_string(i));
    CHECK(record["seq"] == hello["next_seq"].get<uint64_t>() + static_cast<uint64_t>(i));
  }
}

TEST_CASE("a log reader that subscribes to a prefix is disconnected", "[control]") {
  Fixture f;
  zmq::socket_t sub(f.context, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  REQUIRE(zmq_socket_monitor(sub.handle(), "inproc://sub-monitor", ZMQ_EVENT_DISCONNECTED) == 0);
  zmq::socket_t monitor(f.context, zmq::socket_type::pair);
  monitor.set(zmq::sockopt::linger, 0);
  monitor.connect("inproc://sub-monitor");
  sub.set(zmq::sockopt::subscribe, "{\"ts\"");
  sub.connect(f.server->log_endpoint());

  zmq::pollitem_t item{monitor.handle(), 0, ZMQ_POLLIN, 0};
  REQUIRE(zmq::poll(&item, 1, 5s) == 1);
  zmq::message_t event;
  REQUIRE(monitor.recv(event));
  uint16_t id = 0;
  std::memcpy(&id, event.data(), sizeof id);
  CHECK(id == ZMQ_EVENT_DISCONNECTED);
  // The warning may come just after the disconnection.
  CHECK(test::WaitFor(
      [&] {
        for (const auto& record : f.target.Logs().Ring().Last(0)) {
          if (record.message.starts_with("Disconnected a log reader")) return true;
        }
        return false;
      },
      5s));
}

}  // namespace sg::control
