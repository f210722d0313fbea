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
    const std::string name(c.name);
    const bool needs_id = name == "videos.show" || name == "videos.delete" || name == "jobs.show" ||
                          name == "jobs.retry" || name == "jobs.cancel" ||
                          name == "auth.keys.revoke";
    if (needs_id) args["id"] = "01HZZZZZZZZZZZZZZZZZZZZZZZ";
    if (name == "auth.keys.create") args["name"] = "ci";
    const auto reply =
        Send(d, nlohmann::json{{"v", 1}, {"id", "1"}, {"cmd", c.name}, {"args", args}}.dump());
    INFO(c.name << ": " << reply.dump());
    if (name.starts_with("videos.") || name.starts_with("jobs.") || name.starts_with("auth.")) {
      // These reach a plugin's service, which the fake target has none of: the handler runs and
      // says which plugin is not running.
      REQUIRE(reply["ok"] == false);
      CHECK(reply["error"]["code"] == "unavailable");
      CHECK_THAT(reply["error"]["message"].get<std::string>(), Catch::Contains("is not running"));
    } else {
      CHECK(reply["ok"] == true);
    }
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

TEST_CASE("requests over the stated limits are bad requests, keeping the id",
          "[control][hostile]") {
  test::FakeControlTarget target;
  Dispatcher d(target);
  std::string keys;
  for (int i = 0; i < 90000; ++i) keys += (i == 0 ? "\"k" : ",\"k") + std::to_string(i) + "\":0";
  const auto many = Send(d, R"({"v":1,"id":"m","cmd":"ping","args":{)" + keys + "}}");
  CHECK(many["id"] == "m");
  CHECK(many["error"]["code"] == "bad_request");
  CHECK(many["error"]["message"] == "an object has more than 64 keys");

  // 64 keys in each of a few objects is within the limits; more values in all than 4096 is not.
  std::string object = "{";
  for (int i = 0; i < 64; ++i) object += (i == 0 ? "\"k" : ",\"k") + std::to_string(i) + "\":0";
  object += "}";
  std::string objects = object;
  for (int i = 0; i < 40; ++i) objects += "," + object;
  CHECK(Send(d, R"({"v":1,"id":"o","cmd":"ping","args":{"a":[)" + objects + "]}}")["ok"] == true);
  std::string numbers = "0";
  while (numbers.size() < 900000) numbers += ",0";
  const auto values = Send(d, R"({"v":1,"id":"n","cmd":"ping","args":{"a":[)" + numbers + "]}}");
  CHECK(values["id"] == "n");
  CHECK(values["error"]["message"] == "request holds more than 4096 values");

  const auto deep = Send(d, R"({"v":1,"id":"d","cmd":"ping","args":)" + std::string(40, '[') +
                                std::string(40, ']') + "}");
  CHECK(deep["id"] == "d");
  CHECK(deep["error"]["message"] == "request nests deeper than 32 levels");

  const auto string = Send(d, R"({"v":1,"id":"s","cmd":"ping","args":{"x":")" +
                                  std::string(kMaxStringBytes + 1, 'x') + "\"}}");
  CHECK(string["id"] == "s");
  CHECK(string["error"]["code"] == "bad_request");
  const auto key = Send(d, R"({"v":1,"id":"k","cmd":"ping","args":{")" +
                               std::string(kMaxStringBytes + 1, 'x') + "\":1}}");
  CHECK(key["error"]["code"] == "bad_request");
}

TEST_CASE("ids are echoed as sent: strings as they are, numbers as their text", "[control]") {
  test::FakeControlTarget target;
  Dispatcher d(target);
  for (const std::string id :
       {"0", "-1", "9223372036854775807", "9223372036854775808", "18446744073709551615",
        "18446744073709551616", "340282366920938463463374607431768211456", "2.5", "1E300"}) {
    INFO(id);
    const std::string frame = R"({"v":1,"id":)" + id + R"(,"cmd":"ping"})";
    CHECK(Send(d, frame)["id"] == id);
    CHECK(PeekRequestId(frame) == id);
  }
  // The first id counts, in the reply and for the control server's own replies (busy) alike.
  const std::string twice = R"({"v":1,"id":"first","id":"second","cmd":"ping"})";
  CHECK(Send(d, twice)["id"] == "first");
  CHECK(PeekRequestId(twice) == "first");
  CHECK(PeekRequestId(R"({"args":{"id":"inner"},"id":"outer"})") == "outer");
  CHECK(PeekRequestId(R"([{"id":"nested"}])").empty());
  CHECK(PeekRequestId(R"({"id":{"no":1},"x":1})").empty());
  CHECK(Send(d, R"({"v":1,"id":-0,"cmd":"ping"})")["id"] == "-0");
  CHECK(Send(d, R"({"v":1,"i\u0064":"escaped","cmd":"ping"})")["id"] == "escaped");
  // An id after a large value is found by skipping the value, strings and brackets included.
  const std::string after = R"({"args":{"a":["]}\"[{",)" + std::string(100000, '[') +
                            std::string(100000, ']') + R"(]},"id":"last","v":1,"cmd":"ping"})";
  CHECK(PeekRequestId(after) == "last");
  CHECK(Send(d, after)["id"] == "last");  // though the request nests too deep
  CHECK(PeekRequestId(R"({"id" : "spaced" })") == "spaced");
  // A number is checked against JSON's grammar, whole: a NUL does not end it.
  CHECK(PeekRequestId(std::string(R"({"id":12)") + std::string(1, '\0') + "34}").empty());
  CHECK(PeekRequestId(R"({"id":012})").empty());
  CHECK(PeekRequestId(R"({"id":1.})").empty());
  CHECK(PeekRequestId(R"({"id":-1.5E-7})") == "-1.5E-7");
  CHECK(PeekRequestId(R"({"x":"unterminated,"id":"no")").empty());
  CHECK(Send(d, R"({"v":1,"id":null,"cmd":"ping"})")["error"]["code"] == "bad_request");
}

TEST_CASE("log.level.set needs a level and takes only components that exist", "[control]") {
  test::FakeControlTarget target;
  target.Logs().Get("kernel");
  Dispatcher d(target);

  const auto empty = Send(d, R"({"v":1,"id":"1","cmd":"log.level.set","args":{"level":""}})");
  CHECK(empty["error"]["code"] == "bad_request");
  CHECK(empty["error"]["message"] == "log.level.set: \"level\" is required and must not be empty");

  const auto unknown = Send(
      d, R"({"v":1,"id":"2","cmd":"log.level.set","args":{"level":"info","component":"kernal"}})");
  CHECK(unknown["error"]["code"] == "bad_request");
  CHECK(unknown["error"]["message"] ==
        "log.level.set: \"component\": 'kernal' is not a component (did you mean 'kernel'?); "
        "components: kernel");
  CHECK_FALSE(target.Logs().Levels().contains("kernal"));

  CHECK(
      Send(d,
           R"({"v":1,"id":"3","cmd":"log.level.set","args":{"level":"info","component":"kernel"}})")
          ["ok"] == true);
}

}  // namespace sg::control
