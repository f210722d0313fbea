// The CLI's side of the control socket: finds the endpoint, sends one request, waits for its
// reply with a deadline, and says plainly when no daemon answers.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/control_protocol.h"
#include "common/result.h"

namespace sg::cli {

struct ClientSettings {
  std::string endpoint;  // ipc://PATH or tcp://HOST:PORT
  std::chrono::milliseconds timeout{5000};
  std::string curve_server_key;  // tcp only: a file with the server's public key
  std::string curve_client_key;  // tcp only: our key pair file
};

/// Errors from Call(): kUnavailable when no daemon answered (exit 3); kFailedPrecondition,
/// kNotFound and friends carry the daemon's own error; kInternal for a garbled reply.
class ControlClient {
 public:
  static Result<std::unique_ptr<ControlClient>> Connect(const ClientSettings& settings);
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  /// Sends a command of the table (common/control_protocol.h) and returns its result. `timeout`
  /// overrides the settings' for slow commands.
  Result<nlohmann::ordered_json> Call(
      control::Command cmd, nlohmann::ordered_json args = nlohmann::ordered_json::object(),
      std::optional<std::chrono::milliseconds> timeout = {});

  const std::string& endpoint() const;
  /// True when the last Call's outcome, success or error, is the daemon's reply; false when no
  /// daemon answered. Tells a daemon's own kUnavailable (a plugin not running) from a missing
  /// daemon.
  bool answered() const;

 private:
  struct Impl;
  explicit ControlClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Maps a wire error code ("not_found") back to an ErrorCode.
ErrorCode FromWireCode(const std::string& code);

}  // namespace sg::cli
