// ControlServer's connection limit: the socket monitors' events count accepted connections on
// both endpoints, and those over the limit are shut down at once.
#include <cstring>

#include <sys/socket.h>
#include <sys/stat.h>
#include <zmq_addon.hpp>

#include "daemon/control/accept_guard.h"
#include "daemon/control/control_server_impl.h"

namespace sg::control {

// Counts connections from the monitors' ACCEPTED and DISCONNECTED events, which carry the
// descriptor; one accepted over the limit is shut down at once, and libzmq then closes it.
void ControlServer::Impl::OnMonitor(zmq::socket_t& monitor) {
  for (int budget = 0; budget < 10000; ++budget) {
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(monitor, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
      break;
    }
    if (frames.empty() || frames[0].size() < 6) continue;
    uint16_t event = 0;
    uint32_t value = 0;
    std::memcpy(&event, frames[0].data(), sizeof event);
    std::memcpy(&value, static_cast<const char*>(frames[0].data()) + 2, sizeof value);
    const int fd = static_cast<int>(value);
    if (event == ZMQ_EVENT_DISCONNECTED) {
      connections.erase(fd);
      refused.erase(fd);
      continue;
    }
    if (event != ZMQ_EVENT_ACCEPTED) continue;
    connections.insert(fd);
    if (connections.size() <= max_connections) continue;
    // Only a descriptor that is still a connection to one of our endpoints: by the time the
    // event is read, a closed one's number may be in use again.
    if (refused.insert(fd).second && OurConnection(fd)) (void)shutdown(fd, SHUT_RDWR);
    ++refusals;
  }
  // At most one warning every 10 seconds, with the totals so far.
  const uint64_t total = refusals + AcceptsRefusedForDescriptors();
  const auto now = std::chrono::steady_clock::now();
  if (total > reported_refusals && now - last_refusal_log >= std::chrono::seconds(10)) {
    last_refusal_log = now;
    reported_refusals = total;
    logger->warn(
        log::With("Refused control connections over the limit",
                  {{"limit", static_cast<int64_t>(max_connections)},
                   {"refused", static_cast<int64_t>(refusals)},
                   {"out_of_descriptors", static_cast<int64_t>(AcceptsRefusedForDescriptors())}}));
  }
}

bool ControlServer::Impl::OurConnection(int fd) const {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  return BoundTo(fd, endpoint) || BoundTo(fd, log_endpoint);
}

}  // namespace sg::control
