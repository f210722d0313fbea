// What changed between two configurations: the keys a reload would change, and which of them the
// running daemon cannot apply without a restart. Pure functions, so a test can check a reload's
// report without a daemon.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace sg::config {

/// One key whose value differs between two configurations.
struct KeyChange {
  std::string key;
  std::string from;  // as `config show` prints it (Config::Show), secrets redacted
  std::string to;
  bool needs_daemon_restart = false;  // see NeedsDaemonRestart
};

/// Whether a change of `key` takes effect only after the daemon restarts: the keys the daemon
/// applies itself at startup (mode, name, control endpoint, blocking pool, NATS, logging other
/// than its level). Every other key goes to the plugins on reload.
bool NeedsDaemonRestart(std::string_view key);

/// The keys whose values differ from `before` to `after`, in schema order; empty when none do.
std::vector<KeyChange> Diff(const Config& before, const Config& after);

}  // namespace sg::config
