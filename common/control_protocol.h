// The control protocol between streamgate and streamgated: one JSON object per ZeroMQ frame,
// versioned, with request ids. The command table here is the one list both sides, the man page
// streamgate-control(7) and the drift tests read.
//
//   -> {"v":1,"id":"7","cmd":"plugins.stop","args":{"name":"api-gateway"}}
//   <- {"v":1,"id":"7","ok":true,"result":{...}}
//   <- {"v":1,"id":"7","ok":false,"error":{"code":"not_found","message":"..."}}
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace sg::control {

inline constexpr int kProtocolVersion = 1;
/// The largest frame either side accepts (ZMQ_MAXMSGSIZE on the server).
inline constexpr int64_t kMaxFrameBytes = 1024 * 1024;
/// The deepest JSON nesting a request may have.
inline constexpr int kMaxDepth = 32;
/// The most keys one object of a request may have.
inline constexpr int kMaxKeys = 64;
/// The longest string, keys included, a request may have, in bytes.
inline constexpr size_t kMaxStringBytes = 8192;
/// The most values a request may hold in all: each array and object counts, and each item in it.
inline constexpr int kMaxValues = 4096;

/// One control command.
struct CommandSpec {
  std::string_view name;  // "plugins.stop"
  std::string_view help;  // one line
  bool mutates;           // changes the daemon's state
  std::string_view args;  // argument summary for the man page: "name (string), cascade (bool)"
};

/// Every command, in the order the man page lists them.
const std::vector<CommandSpec>& Commands();
const CommandSpec* FindCommand(std::string_view name);

struct Request {
  std::string id;
  std::string cmd;
  nlohmann::ordered_json args = nlohmann::ordered_json::object();
};

/// Stable error codes on the wire.
inline constexpr const char* kBadRequest = "bad_request";  // not a valid request
inline constexpr const char* kUnknownCommand = "unknown_command";
inline constexpr const char* kUnsupportedVersion = "unsupported_version";
inline constexpr const char* kBusy = "busy";  // too many requests waiting; retry

/// Parses and checks a request frame, in time linear in its size: one pass checks the limits
/// above and stops at the first one passed, before anything is built. On failure the error
/// message says what is wrong, and `id` is filled in when the frame had a usable one, so the
/// reply can carry it.
Result<Request> DecodeRequest(std::string_view frame, std::string& id);

/// The request's id as its reply carries it: the first "id" of the top-level object, a string as
/// it is, a number as the text it was written with; "" when the frame has none that can be read.
/// Reads only as far as the id, skipping what comes before it without parsing it.
std::string PeekRequestId(std::string_view frame);

std::string EncodeRequest(const Request& request);
std::string EncodeOk(const std::string& id, const nlohmann::ordered_json& result);
std::string EncodeError(const std::string& id, std::string_view code, std::string_view message);

/// A decoded reply, as the CLI sees it.
struct Reply {
  std::string id;
  bool ok = false;
  nlohmann::ordered_json result;
  std::string error_code;
  std::string error_message;
};
Result<Reply> DecodeReply(std::string_view frame);

/// The deepest nesting of JSON arrays and objects in text, without parsing it.
int JsonDepth(std::string_view text);

}  // namespace sg::control
