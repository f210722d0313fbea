// nginx as the reference server of a benchmark: Debian's binary in the foreground, this
// program's child (so it stops with it), its pid file, error log and temporary folders in a
// test folder, no access log.
#pragma once

#include <cstdint>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <signal.h>

#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace sg::test {

/// nginx running; stopped gracefully when this goes (SIGQUIT: the master takes its workers
/// with it, where a SIGKILL of the master alone would leave them behind).
class Nginx {
 public:
  explicit Nginx(std::unique_ptr<Process> master) : master_(std::move(master)) {}
  ~Nginx() {
    master_->Signal(SIGQUIT);
    (void)master_->Wait(std::chrono::seconds(10));
  }
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;
  pid_t pid() const { return master_->pid(); }

 private:
  std::unique_ptr<Process> master_;
};

/// Starts nginx with `workers` worker processes and `http` inside its http block (the servers,
/// and any directives of their own), and waits until `port` accepts connections. Null, with
/// nginx's own words on stderr, when it does not.
inline std::unique_ptr<Nginx> StartNginx(const TempDir& dir, long workers, const std::string& http,
                                         uint16_t port) {
  const std::string conf = dir.Write(
      "nginx.conf", fmt::format("user root root;\nworker_processes {0};\npid {1}/nginx.pid;\n"
                                "error_log {1}/error.log;\nevents {{ worker_connections 4096; }}\n"
                                "http {{\n  access_log off;\n  client_body_temp_path {1}/body;\n"
                                "  proxy_temp_path {1}/proxy;\n{2}}}\n",
                                workers, dir.path(), http));
  auto master = std::make_unique<Process>(
      std::vector<std::string>{"/usr/sbin/nginx", "-p", dir.path(), "-e", dir.path() + "/error.log",
                               "-c", conf, "-g", "daemon off;"},
      dir);
  if (!WaitForPort(port, std::chrono::seconds(10))) {
    std::cerr << "nginx did not start (" << conf << "): " << master->Stderr()
              << "\nits error.log: " << ReadFile(dir.path() + "/error.log") << '\n';
    return nullptr;
  }
  return std::make_unique<Nginx>(std::move(master));
}

}  // namespace sg::test
