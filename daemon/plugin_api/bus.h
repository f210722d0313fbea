// The event bus plugins publish and subscribe on. Subjects are dot-separated tokens
// ("video.uploaded"); patterns may use '*' for one token and '>' for one or more trailing tokens,
// as NATS does. The in-memory bus (monolith) and the NATS bus (microservice) both implement it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace sg {

struct Message {
  std::string subject;
  std::string data;
  std::string reply;  // where a reply goes; "" when none is wanted
};

/// Counts for the subjects that start with one token ("video" for video.uploaded).
struct SubjectStats {
  std::string prefix;
  uint64_t published = 0;
  uint64_t delivered = 0;
  uint64_t dropped = 0;
};

struct BusStats {
  uint64_t published = 0;       // messages accepted by Publish
  uint64_t delivered = 0;       // handler calls completed
  uint64_t dropped = 0;         // deliveries dropped because a subscriber's queue was full
  uint64_t handler_errors = 0;  // handlers that threw
};

/// Thread-safe. Handlers run on the bus's threads, one at a time per subscription and in publish
/// order; a handler must not block for long, and what it throws is logged and dropped.
class Bus {
 public:
  using Handler = std::function<void(const Message&)>;
  using SubscriptionId = uint64_t;

  virtual ~Bus() = default;

  /// Publishes without waiting for any subscriber. Fails only for an invalid subject.
  virtual Result<void> Publish(const std::string& subject, std::string data,
                               std::string reply = {}) = 0;

  /// Subscribes a handler to a pattern. `queue_limit` bounds the messages waiting for it: past
  /// that, new ones are dropped and counted, so a slow subscriber never slows the publisher.
  virtual Result<SubscriptionId> Subscribe(const std::string& pattern, Handler handler,
                                           size_t queue_limit = 1024) = 0;

  /// Stops deliveries to a subscription; messages already queued for it are discarded.
  virtual void Unsubscribe(SubscriptionId id) = 0;

  /// Sends a request and waits for the first reply. kUnavailable when nobody subscribes to the
  /// subject, kTimeout when no reply comes in time. Blocks the calling thread: do not call it
  /// from a bus handler.
  virtual Result<Message> Request(const std::string& subject, std::string data,
                                  std::chrono::milliseconds timeout) = 0;

  /// Totals since the bus was created.
  virtual BusStats Stats() const = 0;
  /// Totals by the first token of the subject. At most 64 prefixes are told apart; the rest
  /// count as "other", so that metrics labels stay bounded.
  virtual std::vector<SubjectStats> StatsByPrefix() const = 0;
  /// Messages dropped for one subscription.
  virtual uint64_t Dropped(SubscriptionId id) const = 0;
};

}  // namespace sg
