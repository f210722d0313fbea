#include "daemon/control/dispatcher.h"

#include <catch2/catch.hpp>

#include "tests/support/fake_control_target.h"

namespace sg::control {
namespace {

nlohmann::json Send(Dispatcher& d, const std::string& frame) {
  const std::string reply = d.Handle(frame);
  auto j = nlohmann::json::parse(reply, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  CHECK(j["v"] == 1);
  return j;
}

}  // namespace

TEST_CASE("every command in the table has a handler", "[control]") {
  test::FakeControlTarget target;
  Dispatcher d(target);

  for (const auto& c : Commands()) {
    nlohmann::json args = nlohmann::json::object();
    if (std::string(c.name).starts_with("plugins.") && c.name != "plugins.list")
      args["names"] = {"cache"};
    if (c.name == "log.level.set") args["level"] = "debug";
    const auto reply =
        Send(d, nlohmann::json{{"v", 1}, {"id", "1"}, {"cmd", c.name}, {"args", args}}.dump());
    INFO(c.name << ": " << reply.dump());
    CHECK(reply["ok"] == true);
  }
}

TEST_CASE("replies carry the request id and the result", "[control]") {
  test::FakeControlTarget target;
  Dispatcher d(target);

  const auto reply = Send(d, R"({"v":1,"id":"42","cmd":"ping"})");

  CHECK(reply["id"] == "42");
  CHECK(reply["result"]["pong"] == true);
  CHECK(Send(d, R"({"v":1,"id":7,"cmd":"ping"})")["id"] == "7");
}

TEST_CASE("bad frames get error replies with stable codes", "[control][hostile]") {
  test::FakeControlTarget target;
  Dispatcher d(target);
  const auto code = [&](const std::string& frame) {
    return Send(d, frame)["error"]["code"].get<std::string>();
  };

  CHECK(code("") == "bad_request");
  CHECK(code("\xff\xfe garbage") == "bad_request");
  CHECK(code("[1,2,3]") == "bad_request");
  CHECK(code(R"({"id":"1","cmd":"ping"})") == "bad_request");  // no version
  CHECK(code(R"({"v":2,"id":"1","cmd":"ping"})") == "unsupported_version");
  CHECK(code(R"({"v":1,"id":"1","cmd":5})") == "bad_request");
  CHECK(code(R"({"v":1,"id":"1","cmd":"ping","args":[]})") == "bad_request");
  CHECK(code(R"({"v":1,"id":{},"cmd":"ping"})") == "bad_request");
  CHECK(code(R"({"v":1,"id":"1","cmd":"plugins.stop","args":{"names":"cache"}})") == "bad_request");
  CHECK(
      code(R"({"v":1,"id":"1","cmd":"plugins.stop","args":{"names":["cache"],"cascade":"yes"}})") ==
      "bad_request");
  CHECK(code(R"({"v":1,"id":"1","cmd":"log.level.set","args":{"level":"loud"}})") == "bad_request");
  CHECK(
      code(R"({"v":1,"id":"1","cmd":"log.level.set","args":{"level":"info","for_seconds":-1}})") ==
      "bad_request");
  CHECK(code(R"({"v":1,"id":"1","cmd":"plugins.stop","args":{"names":["nope"]}})") == "not_found");
  CHECK(code(std::string(100000, '[') + std::string(100000, ']')) == "bad_request");
}

TEST_CASE("an unknown command suggests the closest", "[control]") {
  test::FakeControlTarget target;
  Dispatcher d(target);

  const auto reply = Send(d, R"({"v":1,"id":"1","cmd":"plugins.lsit"})");

  CHECK(reply["error"]["code"] == "unknown_command");
  CHECK(reply["error"]["message"] ==
        "unknown command 'plugins.lsit' (did you mean 'plugins.list'?)");
}

TEST_CASE("the id of a bad request is echoed when it could be read", "[control]") {
  test::FakeControlTarget target;
  Dispatcher d(target);

  CHECK(Send(d, R"({"v":1,"id":"9","cmd":"nope"})")["id"] == "9");
}

TEST_CASE("logs.history returns the newest records after a sequence number", "[control]") {
  test::FakeControlTarget target;
  Dispatcher d(target);
  for (int i = 0; i < 20; ++i) target.Logs().Get("t")->info("record {}", i);

  const auto last = Send(d, R"({"v":1,"id":"1","cmd":"logs.history","args":{"limit":3}})");
  const auto after =
      Send(d, R"({"v":1,"id":"1","cmd":"logs.history","args":{"limit":0,"after_seq":18}})");

  REQUIRE(last["result"]["records"].size() == 3);
  CHECK(last["result"]["records"][2]["msg"] == "record 19");
  CHECK(after["result"]["records"].size() == 2);
  CHECK(after["result"]["next_seq"] == 21);
}

}  // namespace sg::control
