// Serves the control socket (ZeroMQ ROUTER, one JSON request per frame) and the log stream
// (XPUB) beside it, on a thread of its own. Requests run on a small worker pool, so one slow
// command does not hold up the others.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "common/logging.h"
#include "common/result.h"
#include "daemon/control/dispatcher.h"

namespace sg::control {

struct ServerSettings {
  std::string endpoint;          // ipc://PATH or tcp://HOST:PORT
  std::string curve_server_key;  // control.curve_server_key: file with the server's key pair
  std::string
      curve_authorized_keys;  // control.curve_authorized_keys: client public keys, one a line
  int workers = 4;            // requests handled at once
  /// Connections to the control socket and the log stream together; more are closed as soon
  /// as they are accepted. 0: from the descriptor limit (ControlConnectionBudget).
  int max_connections = 0;
};

/// What one connection may have waiting in the daemon (streamgate-control(7) states these).
/// Requests beyond the first two limits are answered "busy"; a connection whose unread replies
/// pass kMaxUnreadBytes has its requests wait unhandled, and past kMaxUnreadBusyBytes its
/// requests are dropped without a reply until it reads.
inline constexpr size_t kMaxWaitingRequests = 10000;             // per connection
inline constexpr size_t kMaxWaitingBytes = 8 * 1024 * 1024;      // per connection
inline constexpr size_t kMaxAllWaitingBytes = 64 * 1024 * 1024;  // all connections together
inline constexpr size_t kMaxUnreadBytes = 4 * 1024 * 1024;
inline constexpr size_t kMaxUnreadBusyBytes = 8 * 1024 * 1024;
/// Requests of one connection handled at once, of ServerSettings::workers.
inline constexpr int kMaxRunningPerPeer = 2;
/// Requests up to this size are handled before larger ones, which leave one worker free.
inline constexpr size_t kSmallRequestBytes = 16 * 1024;
/// A connection that has not finished the ZMTP handshake by then is closed.
inline constexpr int kHandshakeMs = 5000;

/// The log stream endpoint that goes with a control endpoint: ipc://DIR/logs.sock beside an ipc
/// control socket, the next port up for tcp.
std::string LogEndpointFor(const std::string& control_endpoint);

class ControlServer {
 public:
  /// Binds both sockets. Fails with the reason when an endpoint cannot be bound, when a tcp
  /// endpoint has no CURVE keys, or when a key file is unreadable or malformed.
  static Result<std::unique_ptr<ControlServer>> Create(const ServerSettings& settings,
                                                       Dispatcher& dispatcher, log::LogHub& logs);
  ~ControlServer();  // stops the thread, closes the sockets and removes ipc files
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& endpoint() const;
  const std::string& log_endpoint() const;

 private:
  struct Impl;
  explicit ControlServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sg::control
