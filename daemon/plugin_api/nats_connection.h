// How to reach the NATS server, from the nats.* keys: one reading of them, and one way to put
// them on libnats's options, shared by the bus and by the job queue's JetStream store, so that a
// secured server (user and password, token, TLS) is reached the same way by both.
#pragma once

#include <string>
#include <vector>

#include <nats/nats.h>

#include "common/result.h"
#include "config/config.h"

namespace sg {

struct NatsConnection {
  std::vector<std::string> urls;  // nats.url, then nats.urls
  std::string user;               // nats.user
  std::string password;           // nats.password
  std::string token;              // nats.token
  std::string tls_ca;             // nats.tls_ca: a CA file turns TLS on
  std::string tls_cert;           // nats.tls_cert
  std::string tls_key;            // nats.tls_key
};

/// Opens libnats once per process, before its first options or connection, with no spinning on
/// its locks: its default spins up to 2,000 times before it sleeps, which on a machine with few
/// cores keeps the lock's holder off the CPU (a sixth of a job queue client's CPU went there).
/// Every maker of NATS options calls this first.
void OpenNatsLibrary();

/// nats.url, nats.urls, nats.user, nats.password, nats.token, nats.tls_ca, nats.tls_cert and
/// nats.tls_key.
NatsConnection NatsConnectionFrom(const config::Config& config);

/// Sets the servers, the credentials and TLS of `connection` on `opts`. kConfig naming the keys
/// when libnats refuses them (a CA file it cannot read, say).
Result<void> ApplyNatsConnection(natsOptions* opts, const NatsConnection& connection);

/// The servers for messages, "nats://a:4222,nats://b:4222", without any password a URL holds.
std::string NatsServers(const NatsConnection& connection);

}  // namespace sg
