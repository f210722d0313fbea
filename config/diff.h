// What changed between two configurations: the keys a reload would change, and which of them the
// running daemon cannot apply without a restart. Pure functions, so a test can check a reload's
// report without a daemon.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace sg::config {

/// One key whose value differs between two configurations.
struct KeyChange {
  std::string key;
  std::string from;  // as `config show` prints it (Config::Show), secrets redacted
  std::string to;
  /// The key's declaration says so (KeySpec::reload is Reload::kRestartDaemon): the daemon
  /// applies it itself at startup. Every other key goes to the plugins on reload.
  bool needs_daemon_restart = false;
};

/// The keys whose values differ from `before` to `after`, in schema order; empty when none do.
std::vector<KeyChange> Diff(const Config& before, const Config& after);

}  // namespace sg::config
