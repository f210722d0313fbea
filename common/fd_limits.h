// The process's file descriptor budget. libzmq aborts the process when accept() on an ipc
// listener fails with EMFILE, so descriptors are shared out ahead of time: HTTP connections may
// use what is left after a fixed reserve, and the control socket caps its own connections
// inside that reserve. Nothing that a client can open is allowed to reach the limit.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sg {

/// Descriptors kept back from HTTP connections for the control socket and its connections, the
/// log stream, log files, the bus, Redis and NATS connections, storage and child processes.
inline constexpr uint64_t kReservedDescriptors = 512;
/// Live connections the control socket serves at once (ipc or tcp); inside the reserve above.
inline constexpr uint64_t kMaxControlConnections = 256;

struct DescriptorLimit {
  uint64_t soft = 0;  // what this process may open now (ulimit -n)
  uint64_t hard = 0;  // what it may raise the soft limit to
};

/// Raises the soft RLIMIT_NOFILE to the hard limit, as nginx's worker_rlimit_nofile and the Go
/// runtime do, and returns the limits in force afterwards.
DescriptorLimit RaiseDescriptorLimit();

/// The limits in force now.
DescriptorLimit CurrentDescriptorLimit();

/// How many connections the control socket and the log stream serve together: an eighth of the
/// soft limit, at least 8 and at most kMaxControlConnections.
uint64_t ControlConnectionBudget(const DescriptorLimit& limit);

/// How many cached values may live in memfds (plugin_api/shared_bytes.h), each a descriptor: an
/// eighth of the soft limit, at most 8192, and none under a limit of 4096.
uint64_t CachedFileBudget(const DescriptorLimit& limit);

/// How many HTTP connections the descriptor limit leaves room for: the soft limit less the
/// reserve and the cached files' budget (at least a quarter of the limit, so a tiny `ulimit -n`
/// still serves a few).
uint64_t HttpConnectionBudget(const DescriptorLimit& limit);

/// A soft limit whose HTTP connection budget is at least `connections`, with no more to spare
/// than rounding leaves (for the hint when server.max_connections does not fit).
uint64_t DescriptorsFor(uint64_t connections);

}  // namespace sg
