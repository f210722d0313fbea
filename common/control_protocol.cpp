#include "common/control_protocol.h"

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

Result<Request> DecodeRequest(std::string_view frame, std::string& id) {
  id.clear();
  if (static_cast<int64_t>(frame.size()) > kMaxFrameBytes) {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("request of {} bytes is over the limit of {}", frame.size(), kMaxFrameBytes));
  }
  if (JsonDepth(frame) > kMaxDepth) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("request nests deeper than {} levels", kMaxDepth));
  }
  nlohmann::ordered_json j =
      nlohmann::ordered_json::parse(frame, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(ErrorCode::kInvalidArgument, "request is not valid JSON");
  if (!j.is_object()) return Fail(ErrorCode::kInvalidArgument, "request is not a JSON object");
  if (auto it = j.find("id"); it != j.end()) {
    if (it->is_string()) {
      id = it->get<std::string>().substr(0, 128);
    } else if (it->is_number_integer()) {
      id = std::to_string(it->get<int64_t>());
    } else {
      return Fail(ErrorCode::kInvalidArgument, "\"id\" must be a string or an integer");
    }
  }
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
