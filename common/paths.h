// Where the daemon keeps its runtime files (control socket, pid file), shared by the CLI so that
// both find the same ones.
#pragma once

#include <string>

#include "common/result.h"

namespace sg {

/// The runtime directory of root's daemon and of the streamgated.service unit
/// (RuntimeDirectory=streamgate).
inline constexpr const char* kSystemRuntimeDir = "/run/streamgate";

/// $XDG_RUNTIME_DIR/streamgate; else $RUNTIME_DIRECTORY, which systemd sets for a service with
/// RuntimeDirectory= (the unit's /run/streamgate); else /run/streamgate for root; else
/// /tmp/streamgate-UID.
std::string RuntimeDir();

/// The folder for state that outlives the daemon (the SQLite catalogue and job queue): the first
/// of $STATE_DIRECTORY, which systemd sets for a service with StateDirectory= (the unit's
/// /var/lib/streamgate); else /var/lib/streamgate for root; else $XDG_STATE_HOME/streamgate;
/// else $HOME/.local/state/streamgate; else /var/tmp/streamgate-UID.
std::string StateDir();

/// metadata.sqlite_path as given, or StateDir()/streamgate.db when it is empty.
std::string SqliteFile(const std::string& configured);

/// The system service's control socket, ipc:///run/streamgate/control.sock: where the CLI looks
/// when its own default socket does not exist.
std::string SystemControlEndpoint();

/// Creates `dir` (and its parents) if missing and makes it mode 0700, owned by us: another user
/// must not reach what is inside. Fails when it exists with another owner.
Result<void> EnsurePrivateDir(const std::string& dir);

/// The control endpoint to use: `configured` when set, else ipc://RuntimeDir()/control.sock, or
/// for one service of a microservice deployment ipc://RuntimeDir()/control-SERVICE.sock.
std::string ControlEndpoint(const std::string& configured, const std::string& service = "");

/// The pid file that guards an endpoint: RuntimeDir()/streamgated.pid for the default endpoint,
/// PATH.pid for ipc://PATH, and RuntimeDir()/streamgated-tcp-PORT.pid for tcp://HOST:PORT.
std::string PidFileFor(const std::string& endpoint);

}  // namespace sg
