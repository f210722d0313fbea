#include "daemon/control/accept_guard.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace sg::control {
namespace {

using Accept4Fn = int (*)(int, sockaddr*, socklen_t*, int);

// The next accept4 after ours: libc's, or a sanitizer's in front of it.
Accept4Fn RealAccept4() {
  static const auto real = reinterpret_cast<Accept4Fn>(dlsym(RTLD_NEXT, "accept4"));
  return real;
}

std::mutex mu;
std::vector<std::string> guarded;  // guarded by mu: "ipc://PATH" or "tcp:PORT"
int spare = -1;                    // guarded by mu: a descriptor kept to be given up
std::atomic<uint64_t> refused{0};

std::string Key(const std::string& endpoint) {
  if (endpoint.starts_with("ipc://")) return endpoint;
  const size_t colon = endpoint.rfind(':');
  return colon == std::string::npos ? endpoint : "tcp:" + endpoint.substr(colon + 1);
}

// The key of the address a socket is bound to (an accepted one has its listener's).
std::string SocketKey(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return {};
  if (address.ss_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&address);
    return "ipc://" + std::string(un->sun_path, strnlen(un->sun_path, sizeof un->sun_path));
  }
  if (address.ss_family == AF_INET) {
    return "tcp:" + std::to_string(ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port));
  }
  if (address.ss_family == AF_INET6) {
    return "tcp:" +
           std::to_string(ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port));
  }
  return {};
}

}  // namespace

void GuardAccepts(const std::string& endpoint) {
  std::lock_guard lock(mu);
  guarded.push_back(Key(endpoint));
  if (spare < 0) spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void UnguardAccepts(const std::string& endpoint) {
  std::lock_guard lock(mu);
  auto it = std::find(guarded.begin(), guarded.end(), Key(endpoint));
  if (it != guarded.end()) guarded.erase(it);
}

bool BoundTo(int fd, const std::string& endpoint) {
  const std::string key = SocketKey(fd);
  return !key.empty() && key == Key(endpoint);
}

uint64_t AcceptsRefusedForDescriptors() { return refused.load(std::memory_order_relaxed); }

}  // namespace sg::control

// Interposes on libc's accept4 for the whole process; see accept_guard.h.
extern "C" int accept4(int fd, sockaddr* address, socklen_t* length, int flags) {
  using namespace sg::control;
  const int accepted = RealAccept4()(fd, address, length, flags);
  if (accepted >= 0 || (errno != EMFILE && errno != ENFILE)) return accepted;
  const int error = errno;
  const std::string key = SocketKey(fd);
  std::lock_guard lock(mu);
  if (key.empty() || std::find(guarded.begin(), guarded.end(), key) == guarded.end()) {
    errno = error;
    return -1;
  }
  if (spare >= 0) close(spare);
  const int victim = RealAccept4()(fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (victim >= 0) {
    close(victim);
    refused.fetch_add(1, std::memory_order_relaxed);
  }
  spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
  errno = ECONNABORTED;
  return -1;
}
