// The in-memory event bus of monolith mode.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include <boost/asio/any_io_executor.hpp>
#include <spdlog/logger.h>

#include "daemon/plugin_api/bus.h"

namespace sg::bus {

/// Delivers on the given executor's threads: each subscription has a strand, so its handler runs
/// one message at a time in publish order, and a counter bounds what waits for it. Thread-safe.
class MemoryBus final : public Bus {
 public:
  MemoryBus(boost::asio::any_io_executor executor, std::shared_ptr<spdlog::logger> logger);
  ~MemoryBus() override;
  MemoryBus(const MemoryBus&) = delete;
  MemoryBus& operator=(const MemoryBus&) = delete;

  Result<void> Publish(const std::string& subject, std::string data, std::string reply) override;
  Result<SubscriptionId> Subscribe(const std::string& pattern, Handler handler,
                                   size_t queue_limit) override;
  void Unsubscribe(SubscriptionId id) override;
  Result<Message> Request(const std::string& subject, std::string data,
                          std::chrono::milliseconds timeout) override;
  BusStats Stats() const override;
  std::vector<SubjectStats> StatsByPrefix() const override;
  uint64_t Dropped(SubscriptionId id) const override;

 private:
  struct Subscription;

  boost::asio::any_io_executor executor_;
  std::shared_ptr<spdlog::logger> logger_;
  mutable std::mutex mu_;
  std::map<SubscriptionId, std::shared_ptr<Subscription>> subscriptions_;  // guarded by mu_
  SubscriptionId next_id_ = 1;                                             // guarded by mu_
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> next_inbox_{1};
  // Shared with queued deliveries, which may outlive a subscription.
  struct Counters {
    std::atomic<uint64_t> delivered{0};
    std::atomic<uint64_t> dropped{0};
    std::atomic<uint64_t> handler_errors{0};
  };
  std::shared_ptr<Counters> counters_ = std::make_shared<Counters>();
  // Per subject prefix; the map only grows, to at most 65 entries, so pointers stay valid.
  struct PrefixCounters {
    std::atomic<uint64_t> published{0};
    std::atomic<uint64_t> delivered{0};
    std::atomic<uint64_t> dropped{0};
  };
  PrefixCounters& ForSubject(const std::string& subject);
  mutable std::mutex prefix_mu_;
  std::map<std::string, std::unique_ptr<PrefixCounters>> prefixes_;  // guarded by prefix_mu_
};

}  // namespace sg::bus
