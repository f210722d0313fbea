// The control protocol between streamgate and streamgated: one JSON object per ZeroMQ frame,
// versioned, with request ids. The command table here is the one list both sides, the man page
// streamgate-control(7) and the drift tests read.
//
//   -> {"v":1,"id":"7","cmd":"plugins.stop","args":{"names":["api-gateway"],"cascade":false}}
//   <- {"v":1,"id":"7","ok":true,"result":{...}}
//   <- {"v":1,"id":"7","ok":false,"error":{"code":"not_found","message":"..."}}
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace sg::control {

inline constexpr int kProtocolVersion = 1;
/// The largest request frame the daemon accepts: ZMQ_MAXMSGSIZE on its socket, and DecodeRequest
/// refuses a larger one handed to it by other means.
inline constexpr int64_t kMaxFrameBytes = 1024 * 1024;
/// The largest reply frame the CLI accepts (ZMQ_MAXMSGSIZE on its socket): replies carry whole
/// lists (logs.history, config.show), so the bound is wider than for requests.
inline constexpr int64_t kMaxReplyFrameBytes = int64_t{64} * 1024 * 1024;
/// The deepest JSON nesting a request may have.
inline constexpr int kMaxDepth = 32;
/// The most keys one object of a request may have.
inline constexpr int kMaxKeys = 64;
/// The longest string, keys included, a request may have, in bytes.
inline constexpr size_t kMaxStringBytes = 8192;
/// The most values a request may hold in all: each array and object counts, and each item in it.
inline constexpr int kMaxValues = 4096;

/// The control commands, in the order of the table below. The daemon binds a handler to each
/// (daemon/control/handlers.cpp, checked at compile time); the CLI names them by these ids, never
/// by literals.
enum class Command {
  kPing,
  kStatus,
  kPluginsList,
  kPluginsStart,
  kPluginsStop,
  kPluginsRestart,
  kHealth,
  kConfigShow,
  kConfigValidate,
  kConfigReload,
  kLogLevelGet,
  kLogLevelSet,
  kLogsHistory,
  kLogsStream,
  kServicesList,
  kVideosList,
  kVideosShow,
  kVideosDelete,
  kJobsList,
  kJobsShow,
  kJobsRetry,
  kJobsCancel,
  kAuthKeysCreate,
  kAuthKeysList,
  kAuthKeysRevoke,
  kAuthToken,
  kAuthRotate,
  kShutdown,
};
inline constexpr size_t kCommandCount = static_cast<size_t>(Command::kShutdown) + 1;

/// One control command: one entry of the table, which streamgate-control(7) follows entry by
/// entry (tests/unit/common/control_table_test.cpp checks it).
struct CommandSpec {
  Command id;
  std::string_view name;  // "plugins.stop"
  std::string_view help;  // one line
  bool mutates;           // changes the daemon's state
  std::string_view args;  // "none", or "name (type), name (type, optional)": each name is a key
                          // of "args" and is described in the command's man page paragraph
};

/// Every command, in the order of Command and of the man page.
inline constexpr std::array<CommandSpec, kCommandCount> kCommands = {{
    {Command::kPing, "ping", "Check that the daemon answers", false, "none"},
    {Command::kStatus, "status",
     "The daemon's pid, version, mode, uptime, config file, endpoint and plugins", false, "none"},
    {Command::kPluginsList, "plugins.list",
     "Every plugin with its state, health, uptime and restarts", false, "none"},
    {Command::kPluginsStart, "plugins.start", "Start stopped or failed plugins", true,
     "names (list of strings)"},
    {Command::kPluginsStop, "plugins.stop",
     "Stop plugins; refused when running plugins need them, unless cascade", true,
     "names (list of strings), cascade (bool)"},
    {Command::kPluginsRestart, "plugins.restart", "Stop then start plugins", true,
     "names (list of strings), cascade (bool)"},
    {Command::kHealth, "health", "Each plugin's health and the overall status", false, "none"},
    {Command::kConfigShow, "config.show",
     "The running configuration, with sources; secrets redacted", false, "none"},
    {Command::kConfigValidate, "config.validate",
     "Validate the file the daemon runs, or another file", false, "file (string, optional)"},
    {Command::kConfigReload, "config.reload",
     "Reload the configuration: all or nothing, with each plugin's outcome", true, "none"},
    {Command::kLogLevelGet, "log.level.get", "The default log level and each component's", false,
     "none"},
    {Command::kLogLevelSet, "log.level.set",
     "Set the log level, for all components or one, optionally reverting after a while", true,
     "level (string), component (string, optional), for_seconds (number, optional)"},
    {Command::kLogsHistory, "logs.history", "Recent log records from the daemon's ring", false,
     "limit (number), after_seq (number, optional)"},
    {Command::kLogsStream, "logs.stream",
     "The log stream endpoint; registers the viewer's level for 30 seconds (renew to keep it)",
     false, "level (string, optional)"},
    {Command::kServicesList, "services.list",
     "Microservice mode: every instance of the deployment, from heartbeats, with its health", false,
     "none"},
    {Command::kVideosList, "videos.list",
     "A page of the video catalogue, newest first, optionally by state or owner", false,
     "state (string, optional), owner (string, optional), limit (number, optional), "
     "cursor (string, optional)"},
    {Command::kVideosShow, "videos.show", "One video's record", false, "id (string)"},
    {Command::kVideosDelete, "videos.delete",
     "Mark a video deleted and queue the deletion of its storage objects", true, "id (string)"},
    {Command::kJobsList, "jobs.list",
     "Jobs of the queue, newest first, optionally by state or kind", false,
     "state (string, optional), kind (string, optional), limit (number, optional)"},
    {Command::kJobsShow, "jobs.show", "One job with its attempts, last error and lease", false,
     "id (string)"},
    {Command::kJobsRetry, "jobs.retry", "Queue a dead or cancelled job again, attempts reset", true,
     "id (string)"},
    {Command::kJobsCancel, "jobs.cancel",
     "Cancel a queued job, or tell a running job's handler to stop", true, "id (string)"},
    {Command::kAuthKeysCreate, "auth.keys.create",
     "Make an API key (shown once, stored hashed) for POST /api/v1/auth/token", true,
     "name (string), owner (string, optional), scope (string, optional)"},
    {Command::kAuthKeysList, "auth.keys.list", "API keys, without their secrets", false, "none"},
    {Command::kAuthKeysRevoke, "auth.keys.revoke",
     "Revoke an API key: it gets no new tokens (those it got run out)", true, "id (string)"},
    {Command::kAuthToken, "auth.token", "A token for the local operator, who may do anything", true,
     "scope (string, optional), ttl_seconds (integer, optional)"},
    {Command::kAuthRotate, "auth.rotate",
     "Make a new signing key; the previous one verifies for auth.key_overlap", true, "none"},
    {Command::kShutdown, "shutdown", "Stop the daemon gracefully", true, "none"},
}};

// Each entry sits at its id's index, so Spec() is a plain lookup.
static_assert(
    [] {
      for (size_t i = 0; i < kCommands.size(); ++i) {
        if (static_cast<size_t>(kCommands[i].id) != i || kCommands[i].name.empty()) return false;
      }
      return true;
    }(),
    "kCommands must list every Command once, in enum order, each with a name");

/// Every command, in the order the man page lists them.
inline std::span<const CommandSpec> Commands() { return kCommands; }
/// The table entry of a command.
constexpr const CommandSpec& Spec(Command command) {
  return kCommands[static_cast<size_t>(command)];
}
/// The wire name of a command: "plugins.stop".
constexpr std::string_view Name(Command command) { return Spec(command).name; }
/// The command of that wire name, or nullptr.
const CommandSpec* FindCommand(std::string_view name);

struct Request {
  std::string id;
  std::string cmd;                   // the wire name
  Command command = Command::kPing;  // set by DecodeRequest from cmd
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
