// The event bus of microservice mode, on NATS (the C client, libnats), behind the same Bus
// interface as the memory bus. Every subject is put under a prefix ("streamgate." by default), so
// several deployments can share a server; reply inboxes are used as NATS makes them.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "daemon/plugin_api/bus.h"
#include "daemon/plugin_api/nats_connection.h"

namespace sg::bus {

// Where the server is and how to log in and talk TLS to it (NatsConnection, shared with the job
// queue's JetStream store), and the bus's own settings.
struct NatsOptions : NatsConnection {
  std::string subject_prefix = "streamgate";  // nats.subject_prefix
  std::chrono::milliseconds reconnect_wait{
      1000};                // nats.reconnect_wait (doubles, with jitter, to 30 s)
  int max_reconnects = -1;  // nats.max_reconnects; -1 for forever
  int reconnect_buffer_bytes = 8 * 1024 * 1024;  // nats.reconnect_buffer: publishes kept while away
  std::string name;                              // the connection's name on the server
};

/// Thread-safe. Handlers run on libnats's delivery threads, one thread per subscription, so a
/// subscription's messages arrive one at a time and in order.
class NatsBus final : public Bus {
 public:
  /// Connects, or starts connecting in the background when the server is not up yet (the bus
  /// then buffers publishes and reconnects by itself). Fails only for bad options.
  static Result<std::unique_ptr<NatsBus>> Create(const NatsOptions& options,
                                                 std::shared_ptr<spdlog::logger> logger);
  ~NatsBus() override;
  NatsBus(const NatsBus&) = delete;
  NatsBus& operator=(const NatsBus&) = delete;

  Result<void> Publish(const std::string& subject, std::string data, std::string reply) override;
  Result<SubscriptionId> Subscribe(const std::string& pattern, Handler handler,
                                   size_t queue_limit) override;
  void Unsubscribe(SubscriptionId id) override;
  Result<Message> Request(const std::string& subject, std::string data,
                          std::chrono::milliseconds timeout) override;
  BusStats Stats() const override;
  std::vector<SubjectStats> StatsByPrefix() const override;
  uint64_t Dropped(SubscriptionId id) const override;

  /// "connected", "reconnecting", "connecting", "closed".
  std::string State() const;
  bool Connected() const;
  uint64_t Reconnects() const { return reconnects_.load(); }
  /// The server currently in use, or "".
  std::string Server() const;

  struct Impl;

 private:
  explicit NatsBus(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::atomic<uint64_t> reconnects_{0};
};

}  // namespace sg::bus
