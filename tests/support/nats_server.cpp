#include "tests/support/nats_server.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include <signal.h>
#include <unistd.h>

#include "tests/support/http_client.h"

namespace sg::test {

std::string NatsServer::Binary() {
  for (const char* path :
       {"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

NatsServer::NatsServer(bool jetstream) : jetstream_(jetstream), port_(FreePort()) {
  if (Binary().empty()) {
    std::fprintf(stderr, "nats-server is not installed (apt-get install nats-server): skipped\n");
    std::exit(77);  // SKIP_RETURN_CODE in tests/CMakeLists.txt
  }
  store_dir_ = dir_.path() + "/jetstream";
  Start();
}

NatsServer::~NatsServer() { Stop(); }

void NatsServer::Start() {
  if (server_) return;
  std::vector<std::string> argv = {Binary(), "-a", "127.0.0.1", "-p", std::to_string(port_)};
  if (jetstream_) {
    argv.insert(argv.end(), {"-js", "-sd", store_dir_});
  }
  server_ = std::make_unique<Process>(argv, dir_);
  // The port accepts before JetStream has recovered its streams; "Server is ready" comes after
  // both, so a client's first JetStream request finds them.
  const bool ready = WaitFor(
      [&] {
        return !server_->Running() ||
               (server_->Stderr().find("Server is ready") != std::string::npos &&
                WaitForPort(port_, std::chrono::milliseconds(0)));
      },
      std::chrono::seconds(10));
  if (!ready || !server_->Running()) {
    const std::string log = server_->Stderr();
    server_.reset();
    throw std::runtime_error("nats-server did not start on port " + std::to_string(port_) + ": " +
                             log);
  }
}

void NatsServer::Stop() {
  if (!server_) return;
  server_->Signal(SIGTERM);
  server_->Wait(std::chrono::seconds(10));
  server_.reset();  // SIGKILLs it if it still runs
}

}  // namespace sg::test
