// A private nats-server on loopback for tests and benchmarks: a free port, optionally JetStream
// with its store in a temporary directory that outlives Stop/Start (so a restart keeps the
// streams, as a real server's file store does). Readiness is polled with a deadline.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tests/support/process.h"

namespace sg::test {

class NatsServer {
 public:
  /// Starts the server; exits the test program with 77 (skipped) when nats-server is not
  /// installed, and fails (throws) when it does not become ready within 10 s.
  explicit NatsServer(bool jetstream = false);
  ~NatsServer();
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  /// Starts it again on the same port and store directory (after Stop).
  void Start();
  /// SIGTERM, then waits for the exit (SIGKILL after 10 s).
  void Stop();
  bool Running() const { return server_ != nullptr; }

  std::string Url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }
  /// The running server's process id (0 when stopped).
  pid_t pid() const { return server_ ? server_->pid() : 0; }
  const std::string& store_dir() const { return store_dir_; }
  /// The server's log of its current run (it logs to stderr).
  std::string Log() const { return server_ ? server_->Stderr() : ""; }

  /// The nats-server binary, or "" when it is not installed.
  static std::string Binary();

 private:
  bool jetstream_;
  TempDir dir_;  // logs and the JetStream store
  std::string store_dir_;
  uint16_t port_;
  std::unique_ptr<Process> server_;
};

}  // namespace sg::test
