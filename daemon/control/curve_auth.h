// CURVE on the control socket: the list of client keys a tcp endpoint admits, and the ZAP
// handler's answer to each client that connects.
#pragma once

#include <set>
#include <string>

#include <spdlog/logger.h>
#include <zmq.hpp>

#include "common/result.h"

namespace sg::control {

/// The client public keys, 32 bytes each, of a control.curve_authorized_keys file: one Z85 key
/// a line, optionally after "public-key:"; blank lines and lines starting with '#' are skipped.
/// Fails with kConfig, naming the file and line, when the file is unreadable, a line is not a
/// key, or it lists none.
Result<std::set<std::string>> ReadAuthorizedKeys(const std::string& path);

/// Answers one ZAP request waiting on `zap` (a REP socket bound to inproc://zeromq.zap.01):
/// 200 for a CURVE client whose key is in `authorized`, 400 otherwise, logged as a warning on
/// `logger`. Does nothing when no request is waiting. Loop thread only.
void AnswerZap(zmq::socket_t& zap, const std::set<std::string>& authorized, spdlog::logger& logger);

}  // namespace sg::control
