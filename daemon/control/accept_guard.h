// libzmq 4.3 aborts the process when accept() on an ipc listener fails with EMFILE (its
// ipc_listener asserts on every errno it does not list, and EMFILE is not listed). The control
// server counts and caps its connections so that this should not happen, but a burst of
// connections can outrun the count. As a last line, streamgated defines accept4() itself: on a
// guarded listener that is out of descriptors, it frees a spare descriptor, accepts the waiting
// connection and closes it at once, takes the spare back, and reports ECONNABORTED, which libzmq
// takes as a connection that went away. Every other accept4() call passes straight through.
#pragma once

#include <cstdint>
#include <string>

namespace sg::control {

/// Guards the listener bound to `endpoint` (ipc://PATH or tcp://HOST:PORT) until Unguard.
void GuardAccepts(const std::string& endpoint);
void UnguardAccepts(const std::string& endpoint);

/// Whether a socket is bound to `endpoint`, or, for one accepted, was accepted on it.
bool BoundTo(int fd, const std::string& endpoint);

/// Connections refused so far because the process was out of descriptors.
uint64_t AcceptsRefusedForDescriptors();

}  // namespace sg::control
