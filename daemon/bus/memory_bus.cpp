#include "daemon/bus/memory_bus.h"

#include <condition_variable>
#include <optional>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <fmt/format.h>

#include "common/logging.h"
#include "daemon/bus/subject.h"

namespace sg::bus {

struct MemoryBus::Subscription {
  Subscription(std::string p, Handler h, size_t limit, const boost::asio::any_io_executor& executor)
      : pattern(std::move(p)),
        handler(std::move(h)),
        queue_limit(limit),
        strand(boost::asio::make_strand(executor)) {}

  const std::string pattern;
  const Handler handler;
  const size_t queue_limit;
  boost::asio::strand<boost::asio::any_io_executor> strand;
  std::atomic<size_t> queued{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<bool> active{true};
};

MemoryBus::MemoryBus(boost::asio::any_io_executor executor, std::shared_ptr<spdlog::logger> logger)
    : executor_(std::move(executor)), logger_(std::move(logger)) {}

MemoryBus::~MemoryBus() {
  std::lock_guard lock(mu_);
  for (auto& [id, sub] : subscriptions_) sub->active = false;
}

Result<void> MemoryBus::Publish(const std::string& subject, std::string data, std::string reply) {
  if (!ValidSubject(subject)) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("invalid subject '{}'", subject));
  }
  ++published_;
  PrefixCounters& prefix = ForSubject(subject);
  ++prefix.published;
  std::vector<std::shared_ptr<Subscription>> targets;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, sub] : subscriptions_) {
      if (Matches(sub->pattern, subject)) targets.push_back(sub);
    }
  }
  if (targets.empty()) return {};
  // One copy of the message, shared by every delivery.
  auto message =
      std::make_shared<const Message>(Message{subject, std::move(data), std::move(reply)});
  for (auto& sub : targets) {
    if (sub->queued.fetch_add(1) >= sub->queue_limit) {
      sub->queued.fetch_sub(1);
      ++sub->dropped;
      ++counters_->dropped;
      ++prefix.dropped;
      continue;
    }
    boost::asio::post(
        sub->strand, [sub, message, counters = counters_, logger = logger_, p = &prefix] {
          sub->queued.fetch_sub(1);
          if (!sub->active) return;
          try {
            sub->handler(*message);
            ++counters->delivered;
            ++p->delivered;
          } catch (const std::exception& e) {
            ++counters->handler_errors;
            logger->error(log::With(
                "Bus handler threw",
                {{"subject", message->subject}, {"pattern", sub->pattern}, {"error", e.what()}}));
          } catch (...) {
            ++counters->handler_errors;
            logger->error(log::With("Bus handler threw",
                                    {{"subject", message->subject}, {"pattern", sub->pattern}}));
          }
        });
  }
  return {};
}

Result<Bus::SubscriptionId> MemoryBus::Subscribe(const std::string& pattern, Handler handler,
                                                 size_t queue_limit) {
  if (!ValidPattern(pattern)) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("invalid subject pattern '{}'", pattern));
  }
  if (!handler || queue_limit == 0) {
    return Fail(ErrorCode::kInvalidArgument, "a subscription needs a handler and a queue limit");
  }
  std::lock_guard lock(mu_);
  const SubscriptionId id = next_id_++;
  subscriptions_.emplace(
      id, std::make_shared<Subscription>(pattern, std::move(handler), queue_limit, executor_));
  return id;
}

void MemoryBus::Unsubscribe(SubscriptionId id) {
  std::lock_guard lock(mu_);
  auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return;
  it->second->active = false;
  subscriptions_.erase(it);
}

Result<Message> MemoryBus::Request(const std::string& subject, std::string data,
                                   std::chrono::milliseconds timeout) {
  if (!ValidSubject(subject)) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("invalid subject '{}'", subject));
  }
  {
    std::lock_guard lock(mu_);
    bool any = false;
    for (const auto& [id, sub] : subscriptions_) any = any || Matches(sub->pattern, subject);
    if (!any) return Fail(ErrorCode::kUnavailable, fmt::format("no responders for '{}'", subject));
  }
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Message> reply;  // guarded by mu
  };
  auto waiter = std::make_shared<Waiter>();
  const std::string inbox = fmt::format("_INBOX.{}", next_inbox_++);
  auto sub = Subscribe(
      inbox,
      [waiter](const Message& m) {
        std::lock_guard lock(waiter->mu);
        if (!waiter->reply) waiter->reply = m;
        waiter->cv.notify_all();
      },
      1);
  if (!sub) return sub.error();
  auto published = Publish(subject, std::move(data), inbox);
  std::unique_lock lock(waiter->mu);
  const bool got = published.has_value() &&
                   waiter->cv.wait_for(lock, timeout, [&] { return waiter->reply.has_value(); });
  std::optional<Message> reply = std::move(waiter->reply);
  lock.unlock();
  Unsubscribe(*sub);
  if (!published) return published.error();
  if (!got) {
    return Fail(ErrorCode::kTimeout,
                fmt::format("no reply from '{}' within {}ms", subject, timeout.count()));
  }
  return std::move(*reply);
}

BusStats MemoryBus::Stats() const {
  return BusStats{published_.load(), counters_->delivered.load(), counters_->dropped.load(),
                  counters_->handler_errors.load()};
}

MemoryBus::PrefixCounters& MemoryBus::ForSubject(const std::string& subject) {
  std::lock_guard lock(prefix_mu_);
  auto& slot = PrefixEntry(prefixes_, subject);
  if (!slot) slot = std::make_unique<PrefixCounters>();
  return *slot;
}

std::vector<SubjectStats> MemoryBus::StatsByPrefix() const {
  std::lock_guard lock(prefix_mu_);
  std::vector<SubjectStats> out;
  for (const auto& [prefix, c] : prefixes_) {
    out.push_back({prefix, c->published.load(), c->delivered.load(), c->dropped.load()});
  }
  return out;
}

uint64_t MemoryBus::Dropped(SubscriptionId id) const {
  std::lock_guard lock(mu_);
  auto it = subscriptions_.find(id);
  return it == subscriptions_.end() ? 0 : it->second->dropped.load();
}

}  // namespace sg::bus
