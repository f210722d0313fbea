// A stand-in for systemd's NOTIFY_SOCKET: a datagram socket the daemon reports READY=1 and
// friends to, read with a deadline.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace sg::test {

class NotifySocket {
 public:
  /// Binds a socket at `path` (under 108 bytes).
  explicit NotifySocket(std::string path);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  const std::string& path() const { return path_; }
  /// Waits for a datagram containing `text`, keeping every datagram read; true when seen.
  bool WaitFor(const std::string& text, std::chrono::milliseconds timeout);
  const std::vector<std::string>& received() const { return received_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> received_;
};

}  // namespace sg::test
