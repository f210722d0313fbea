#include "common/control_protocol.h"

#include <vector>

#include <fmt/format.h>

#include "common/strings.h"

namespace sg::control {

const std::vector<CommandSpec>& Commands() {
  static const std::vector<CommandSpec> commands = {
      {"ping", "Check that the daemon answers", false, "none"},
      {"status", "The daemon's pid, version, mode, uptime, config file, endpoint and plugins",
       false, "none"},
      {"plugins.list", "Every plugin with its state, health, uptime and restarts", false, "none"},
      {"plugins.start", "Start stopped or failed plugins", true, "names (list of strings)"},
      {"plugins.stop", "Stop plugins; refused when running plugins need them, unless cascade", true,
       "names (list of strings), cascade (bool)"},
      {"plugins.restart", "Stop then start plugins", true,
       "names (list of strings), cascade (bool)"},
      {"health", "Each plugin's health and the overall status", false, "none"},
      {"config.show", "The running configuration, with sources; secrets redacted", false, "none"},
      {"config.validate", "Validate the file the daemon runs, or another file", false,
       "file (string, optional)"},
      {"config.reload", "Reload the configuration: all or nothing, with each plugin's outcome",
       true, "none"},
      {"log.level.get", "The default log level and each component's", false, "none"},
      {"log.level.set",
       "Set the log level, for all components or one, optionally reverting after a while", true,
       "level (string), component (string, optional), for_seconds (number, optional)"},
      {"logs.history", "Recent log records from the daemon's ring", false,
       "limit (number), after_seq (number, optional)"},
      {"logs.stream",
       "The log stream endpoint; registers the viewer's level for 30 seconds (renew to keep it)",
       false, "level (string, optional)"},
      {"services.list",
       "Microservice mode: every instance of the deployment, from heartbeats, with its health",
       false, "none"},
      {"shutdown", "Stop the daemon gracefully", true, "none"},
  };
  return commands;
}

const CommandSpec* FindCommand(std::string_view name) {
  for (const auto& c : Commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

int JsonDepth(std::string_view text) {
  int depth = 0;
  int max_depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

namespace {

// One pass over a request frame with nlohmann's SAX parser: checks the limits on nesting, keys
// and strings, stopping at the first one passed, and notes the top-level "id" as text. It builds
// nothing, so its cost is linear in the frame whatever the frame holds.
class RequestScan {
 public:
  using json = nlohmann::json;
  explicit RequestScan(bool stop_at_id) : stop_at_id_(stop_at_id) {}

  std::string id;       // the top-level id as text; "" without one
  bool id_bad = false;  // the top-level id is neither a string nor a number
  std::string error;    // a limit passed, or a syntax error: why

  bool null() { return Value(false); }
  bool boolean(bool /*value*/) { return Value(false); }
  bool number_integer(json::number_integer_t value) { return Id(std::to_string(value)); }
  bool number_unsigned(json::number_unsigned_t value) { return Id(std::to_string(value)); }
  // Integers past 64 bits and other numbers come here with the text as written.
  bool number_float(json::number_float_t /*value*/, const json::string_t& text) {
    return Id(text);
  }
  bool string(json::string_t& value) {
    if (!Fits(value, "string")) return false;
    return Id(value);
  }
  bool binary(json::binary_t& /*value*/) { return Value(false); }
  bool start_object(std::size_t /*size*/) {
    if (!Value(false)) return false;
    keys_.push_back(0);
    return Deeper();
  }
  bool key(json::string_t& name) {
    if (!Fits(name, "key")) return false;
    if (++keys_.back() > kMaxKeys) {
      return Stop(fmt::format("an object has more than {} keys", kMaxKeys));
    }
    // The first "id" counts, here and in PeekRequestId alike.
    expect_id_ = depth_ == 1 && name == "id" && !seen_id_;
    seen_id_ = seen_id_ || expect_id_;
    return true;
  }
  bool end_object() {
    keys_.pop_back();
    --depth_;
    return true;
  }
  bool start_array(std::size_t /*size*/) {
    if (!Value(false)) return false;
    keys_.push_back(0);
    return Deeper();
  }
  bool end_array() {
    keys_.pop_back();
    --depth_;
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*e*/) {
    return Stop("request is not valid JSON");
  }

 private:
  // Any value: when it is the top-level id's, it is no string or number if `Id` did not call.
  bool Value(bool is_id_text) {
    const bool bad_id = expect_id_ && !is_id_text;
    expect_id_ = false;
    if (!bad_id) return true;
    id_bad = true;
    return !stop_at_id_;
  }
  bool Id(const std::string& text) {
    if (!expect_id_) return Value(true);
    expect_id_ = false;
    id = text;
    id_bad = false;
    if (stop_at_id_) {
      return false;
    }
    return true;
  }
  bool Deeper() {
    if (++depth_ > kMaxDepth) return Stop(fmt::format("request nests deeper than {} levels", kMaxDepth));
    return true;
  }
  bool Fits(const std::string& text, const char* what) {
    if (text.size() <= kMaxStringBytes) return true;
    return Stop(fmt::format("a {} of {} bytes is over the limit of {}", what, text.size(),
                            kMaxStringBytes));
  }
  bool Stop(std::string why) {
    if (error.empty()) error = std::move(why);
    return false;
  }

  const bool stop_at_id_;
  bool expect_id_ = false;
  bool seen_id_ = false;
  int depth_ = 0;
  std::vector<int> keys_;  // keys so far in each open object (arrays count none)
};

}  // namespace

std::string PeekRequestId(std::string_view frame) {
  RequestScan scan(/*stop_at_id=*/true);
  (void)nlohmann::json::sax_parse(frame, &scan);
  return scan.id;
}

Result<Request> DecodeRequest(std::string_view frame, std::string& id) {
  id.clear();
  if (static_cast<int64_t>(frame.size()) > kMaxFrameBytes) {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("request of {} bytes is over the limit of {}", frame.size(), kMaxFrameBytes));
  }
  RequestScan scan(/*stop_at_id=*/false);
  (void)nlohmann::json::sax_parse(frame, &scan);
  id = scan.id;
  if (!scan.error.empty()) return Fail(ErrorCode::kInvalidArgument, scan.error);
  if (scan.id_bad) return Fail(ErrorCode::kInvalidArgument, "\"id\" must be a string or a number");
  // Within the limits, building the tree costs at most kMaxKeys per key.
  nlohmann::ordered_json j =
      nlohmann::ordered_json::parse(frame, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(ErrorCode::kInvalidArgument, "request is not valid JSON");
  if (!j.is_object()) return Fail(ErrorCode::kInvalidArgument, "request is not a JSON object");
  auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer()) {
    return Fail(ErrorCode::kInvalidArgument,
                "\"v\" (the protocol version) is missing or not an integer");
  }
  if (v->get<int64_t>() != kProtocolVersion) {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("protocol version {} is not supported; this daemon speaks {}",
                            v->dump(), kProtocolVersion));
  }
  auto cmd = j.find("cmd");
  if (cmd == j.end() || !cmd->is_string()) {
    return Fail(ErrorCode::kInvalidArgument, "\"cmd\" is missing or not a string");
  }
  Request request;
  request.id = id;
  request.cmd = cmd->get<std::string>();
  if (FindCommand(request.cmd) == nullptr) {
    std::vector<std::string> names;
    for (const auto& c : Commands()) names.emplace_back(c.name);
    return Fail(ErrorCode::kNotFound, fmt::format("unknown command '{}'{}", Printable(request.cmd),
                                                  DidYouMean(request.cmd, names)));
  }
  if (auto args = j.find("args"); args != j.end()) {
    if (!args->is_object()) return Fail(ErrorCode::kInvalidArgument, "\"args\" must be an object");
    request.args = std::move(*args);
  }
  return request;
}

namespace {

std::string Dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string EncodeRequest(const Request& request) {
  return Dump(
      {{"v", kProtocolVersion}, {"id", request.id}, {"cmd", request.cmd}, {"args", request.args}});
}

std::string EncodeOk(const std::string& id, const nlohmann::ordered_json& result) {
  return Dump({{"v", kProtocolVersion}, {"id", id}, {"ok", true}, {"result", result}});
}

std::string EncodeError(const std::string& id, std::string_view code, std::string_view message) {
  return Dump({{"v", kProtocolVersion},
               {"id", id},
               {"ok", false},
               {"error", {{"code", code}, {"message", message}}}});
}

Result<Reply> DecodeReply(std::string_view frame) {
  if (JsonDepth(frame) > kMaxDepth * 4) {
    return Fail(ErrorCode::kInternal, "the daemon sent a reply nested too deep");
  }
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(frame, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok") || !j["ok"].is_boolean()) {
    return Fail(ErrorCode::kInternal, "the daemon sent a reply that is not a control reply");
  }
  Reply reply;
  if (j.contains("id") && j["id"].is_string()) reply.id = j["id"].get<std::string>();
  reply.ok = j["ok"].get<bool>();
  if (reply.ok) {
    reply.result = j.value("result", nlohmann::ordered_json::object());
  } else {
    const auto error = j.find("error");
    if (error == j.end() || !error->is_object()) {
      return Fail(ErrorCode::kInternal, "the daemon sent an error reply without an error object");
    }
    const auto code = error->find("code");
    const auto message = error->find("message");
    reply.error_code =
        code != error->end() && code->is_string() ? code->get<std::string>() : "internal";
    reply.error_message = message != error->end() && message->is_string()
                              ? message->get<std::string>()
                              : "no message";
  }
  return reply;
}

}  // namespace sg::control
