#include "daemon/bus/nats_bus.h"

#include <fmt/format.h>
#include <nats/nats.h>

#include "common/logging.h"
#include "daemon/bus/subject.h"

namespace sg::bus {
namespace {

constexpr const char* kInboxPrefix = "_INBOX.";

std::string StatusText(natsStatus s) { return natsStatus_GetText(s); }

// One subscription's state, kept until the bus goes: libnats may still be inside its callback
// while we unsubscribe.
struct Sub {
  Bus::Handler handler;
  std::string pattern;
  natsSubscription* nats = nullptr;
  std::shared_ptr<spdlog::logger> logger;
  std::string prefix;  // "streamgate." stripped from subjects handed to the handler
  // Shared with the bus: a delivery thread may still finish a message after the bus is gone.
  std::shared_ptr<std::atomic<uint64_t>> delivered;
  std::shared_ptr<std::atomic<uint64_t>> errors;
  std::atomic<bool> active{true};
};

void OnMessage(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* sub = static_cast<Sub*>(closure);
  if (sub->active) {
    Message m;
    const char* subject = natsMsg_GetSubject(msg);
    m.subject = subject != nullptr ? subject : "";
    if (m.subject.rfind(sub->prefix, 0) == 0) m.subject.erase(0, sub->prefix.size());
    const char* reply = natsMsg_GetReply(msg);
    m.reply = reply != nullptr ? reply : "";
    m.data.assign(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
    try {
      sub->handler(m);
      ++*sub->delivered;
    } catch (const std::exception& e) {
      ++*sub->errors;
      sub->logger->error(
          log::With("Bus handler threw", {{"subject", m.subject}, {"error", e.what()}}));
    } catch (...) {
      ++*sub->errors;
      sub->logger->error(log::With("Bus handler threw", {{"subject", m.subject}}));
    }
  }
  natsMsg_Destroy(msg);
}

}  // namespace

// What libnats's connection callbacks see. It outlives the bus (libnats may call back from its
// own threads while the connection closes), so it lives in a process-wide list; the bus marks
// it closing, under its lock, before the logs it writes to can go.
struct Callbacks {
  std::mutex mu;
  bool closing = false;  // guarded by mu
  std::shared_ptr<spdlog::logger> logger;
  std::atomic<uint64_t>* reconnects = nullptr;
  template <typename Fn>
  void Log(Fn&& fn) {
    std::lock_guard lock(mu);
    if (!closing) fn(*logger);
  }
};

// Never destroyed: libnats's threads (a connect still retrying, say) may outlive main() and call
// back while exit handlers run, so nothing they reach may be freed by static destruction.
struct Retained {
  std::mutex mu;
  std::vector<std::shared_ptr<Callbacks>> callbacks;  // guarded by mu
  std::vector<std::unique_ptr<Sub>> subs;             // guarded by mu
};
Retained& Kept() {
  static auto* const kept = new Retained;
  return *kept;
}

struct NatsBus::Impl {
  NatsOptions options;
  std::shared_ptr<spdlog::logger> logger;
  natsOptions* opts = nullptr;
  natsConnection* conn = nullptr;
  std::string prefix;  // options.subject_prefix + "."
  mutable std::mutex mu;
  std::map<SubscriptionId, std::unique_ptr<Sub>> subs;  // guarded by mu; kept after Unsubscribe
  SubscriptionId next_id = 1;                           // guarded by mu
  std::atomic<uint64_t> published{0};
  std::shared_ptr<std::atomic<uint64_t>> delivered = std::make_shared<std::atomic<uint64_t>>(0);
  std::shared_ptr<std::atomic<uint64_t>> handler_errors =
      std::make_shared<std::atomic<uint64_t>>(0);
  std::map<std::string, std::pair<uint64_t, uint64_t>>
      by_prefix;  // guarded by mu: published, delivered
  NatsBus* owner = nullptr;
  std::shared_ptr<Callbacks> callbacks;

  std::string Wire(const std::string& subject) const {
    return subject.rfind(kInboxPrefix, 0) == 0 ? subject : prefix + subject;
  }
};

NatsBus::NatsBus(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) { impl_->owner = this; }

NatsBus::~NatsBus() {
  {
    std::lock_guard lock(impl_->callbacks->mu);
    impl_->callbacks->closing = true;
  }
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [id, sub] : impl_->subs) {
      sub->active = false;
      if (sub->nats != nullptr) natsSubscription_Unsubscribe(sub->nats);
    }
  }
  if (impl_->conn != nullptr) {
    natsConnection_Close(impl_->conn);
    natsConnection_Destroy(impl_->conn);
  }
  // Subscriptions go after the connection, whose threads may have been inside a callback; their
  // state stays reachable for a delivery thread that is still finishing one.
  std::lock_guard lock(Kept().mu);
  for (auto& [id, sub] : impl_->subs) {
    if (sub->nats != nullptr) natsSubscription_Destroy(sub->nats);
    sub->nats = nullptr;
    Kept().subs.push_back(std::move(sub));
  }
  if (impl_->opts != nullptr) natsOptions_Destroy(impl_->opts);
}

Result<std::unique_ptr<NatsBus>> NatsBus::Create(const NatsOptions& options,
                                                 std::shared_ptr<spdlog::logger> logger) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->logger = std::move(logger);
  impl->prefix = options.subject_prefix + ".";
  auto fail = [&](natsStatus s, const std::string& what) -> Error {
    return Fail(ErrorCode::kConfig, fmt::format("nats: {}: {}", what, StatusText(s)));
  };
  OpenNatsLibrary();
  natsStatus s = natsOptions_Create(&impl->opts);
  if (s != NATS_OK) return fail(s, "options");
  if (auto applied = ApplyNatsConnection(impl->opts, options); !applied) return applied.error();
  natsOptions_SetName(impl->opts, options.name.c_str());
  natsOptions_SetMaxReconnect(impl->opts, options.max_reconnects);
  natsOptions_SetReconnectWait(impl->opts, options.reconnect_wait.count());
  natsOptions_SetReconnectJitter(impl->opts, 100, 1000);
  natsOptions_SetReconnectBufSize(impl->opts, options.reconnect_buffer_bytes);
  natsOptions_SetTimeout(impl->opts, 2000);
  // Send each publish at once instead of waiting for the flusher (about 1 ms): control messages
  // and service calls are few and want latency more than batching.
  natsOptions_SetSendAsap(impl->opts, true);
  impl->callbacks = std::make_shared<Callbacks>();
  impl->callbacks->logger = impl->logger;
  {
    std::lock_guard lock(Kept().mu);
    Kept().callbacks.push_back(impl->callbacks);
  }
  Callbacks* raw = impl->callbacks.get();
  natsOptions_SetDisconnectedCB(
      impl->opts,
      [](natsConnection*, void* c) {
        static_cast<Callbacks*>(c)->Log([](spdlog::logger& l) {
          l.warn("NATS disconnected; reconnecting, publishes are buffered meanwhile");
        });
      },
      raw);
  natsOptions_SetReconnectedCB(
      impl->opts,
      [](natsConnection* nc, void* c) {
        auto* self = static_cast<Callbacks*>(c);
        char url[256] = {};
        natsConnection_GetConnectedUrl(nc, url, sizeof url);
        self->Log([&](spdlog::logger& l) {
          ++*self->reconnects;
          l.info(log::With("NATS reconnected", {{"server", std::string(url)}}));
        });
      },
      raw);
  natsOptions_SetClosedCB(
      impl->opts,
      [](natsConnection*, void* c) {
        static_cast<Callbacks*>(c)->Log(
            [](spdlog::logger& l) { l.info("NATS connection closed"); });
      },
      raw);
  // A server that is not up yet is no startup failure: keep trying in the background.
  natsOptions_SetRetryOnFailedConnect(
      impl->opts, true,
      [](natsConnection*, void* c) {
        static_cast<Callbacks*>(c)->Log([](spdlog::logger& l) { l.info("NATS connected"); });
      },
      raw);
  auto bus = std::unique_ptr<NatsBus>(new NatsBus(std::move(impl)));
  bus->impl_->callbacks->reconnects = &bus->reconnects_;
  s = natsConnection_Connect(&bus->impl_->conn, bus->impl_->opts);
  if (s == NATS_NOT_YET_CONNECTED) {
    bus->impl_->logger->warn(log::With("NATS not reachable yet; retrying in the background",
                                       {{"servers", NatsServers(options)}}));
  } else if (s != NATS_OK) {
    return Fail(ErrorCode::kUnavailable, fmt::format("nats: connect: {}", StatusText(s)));
  } else {
    bus->impl_->logger->info(log::With("NATS connected", {{"server", bus->Server()}}));
  }
  return bus;
}

Result<void> NatsBus::Publish(const std::string& subject, std::string data, std::string reply) {
  if (!ValidSubject(subject))
    return Fail(ErrorCode::kInvalidArgument, fmt::format("invalid subject '{}'", subject));
  const std::string wire = impl_->Wire(subject);
  const std::string wire_reply = reply.empty() ? std::string() : impl_->Wire(reply);
  // PublishRequest refuses an empty reply subject: a plain publish has none.
  const natsStatus s =
      wire_reply.empty()
          ? natsConnection_Publish(impl_->conn, wire.c_str(), data.data(),
                                   static_cast<int>(data.size()))
          : natsConnection_PublishRequest(impl_->conn, wire.c_str(), wire_reply.c_str(),
                                          data.data(), static_cast<int>(data.size()));
  if (s != NATS_OK) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("nats: publish {}: {}", subject, StatusText(s)));
  }
  ++impl_->published;
  std::lock_guard lock(impl_->mu);
  ++PrefixEntry(impl_->by_prefix, subject).first;
  return {};
}

Result<Bus::SubscriptionId> NatsBus::Subscribe(const std::string& pattern, Handler handler,
                                               size_t queue_limit) {
  if (!ValidPattern(pattern)) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("invalid subject pattern '{}'", pattern));
  }
  auto sub = std::make_unique<Sub>();
  sub->handler = std::move(handler);
  sub->pattern = pattern;
  sub->logger = impl_->logger;
  sub->prefix = impl_->prefix;
  sub->delivered = impl_->delivered;
  sub->errors = impl_->handler_errors;
  const std::string wire = impl_->Wire(pattern);
  natsStatus s =
      natsConnection_Subscribe(&sub->nats, impl_->conn, wire.c_str(), OnMessage, sub.get());
  if (s != NATS_OK)
    return Fail(ErrorCode::kUnavailable,
                fmt::format("nats: subscribe {}: {}", pattern, StatusText(s)));
  // Past the limit, NATS drops for this subscriber alone and counts it.
  natsSubscription_SetPendingLimits(sub->nats, static_cast<int>(queue_limit), 64 * 1024 * 1024);
  std::lock_guard lock(impl_->mu);
  const SubscriptionId id = impl_->next_id++;
  impl_->subs.emplace(id, std::move(sub));
  return id;
}

void NatsBus::Unsubscribe(SubscriptionId id) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->subs.find(id);
  if (it == impl_->subs.end() || !it->second->active) return;
  it->second->active = false;
  natsSubscription_Unsubscribe(it->second->nats);
}

Result<Message> NatsBus::Request(const std::string& subject, std::string data,
                                 std::chrono::milliseconds timeout) {
  if (!ValidSubject(subject))
    return Fail(ErrorCode::kInvalidArgument, fmt::format("invalid subject '{}'", subject));
  natsMsg* reply = nullptr;
  const std::string wire = impl_->Wire(subject);
  const natsStatus s = natsConnection_Request(&reply, impl_->conn, wire.c_str(), data.data(),
                                              static_cast<int>(data.size()), timeout.count());
  ++impl_->published;
  if (s == NATS_TIMEOUT) {
    return Fail(ErrorCode::kTimeout,
                fmt::format("no reply from '{}' within {}ms", subject, timeout.count()));
  }
  if (s == NATS_NO_RESPONDERS) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("no responders for '{}': is its service running?", subject));
  }
  if (s != NATS_OK)
    return Fail(ErrorCode::kUnavailable,
                fmt::format("nats: request {}: {}", subject, StatusText(s)));
  Message m;
  m.subject = subject;
  m.data.assign(natsMsg_GetData(reply), static_cast<size_t>(natsMsg_GetDataLength(reply)));
  natsMsg_Destroy(reply);
  return m;
}

BusStats NatsBus::Stats() const {
  BusStats stats{impl_->published.load(), impl_->delivered->load(), 0,
                 impl_->handler_errors->load()};
  std::lock_guard lock(impl_->mu);
  for (const auto& [id, sub] : impl_->subs) {
    int64_t dropped = 0;
    if (sub->active && natsSubscription_GetDropped(sub->nats, &dropped) == NATS_OK) {
      stats.dropped += static_cast<uint64_t>(dropped);
    }
  }
  return stats;
}

std::vector<SubjectStats> NatsBus::StatsByPrefix() const {
  std::lock_guard lock(impl_->mu);
  std::vector<SubjectStats> out;
  for (const auto& [prefix, counts] : impl_->by_prefix) out.push_back({prefix, counts.first, 0, 0});
  return out;
}

uint64_t NatsBus::Dropped(SubscriptionId id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->subs.find(id);
  int64_t dropped = 0;
  if (it == impl_->subs.end() || !it->second->active) return 0;
  natsSubscription_GetDropped(it->second->nats, &dropped);
  return static_cast<uint64_t>(dropped);
}

std::string NatsBus::State() const {
  switch (natsConnection_Status(impl_->conn)) {
    case NATS_CONN_STATUS_CONNECTED:
      return "connected";
    case NATS_CONN_STATUS_RECONNECTING:
      return "reconnecting";
    case NATS_CONN_STATUS_CONNECTING:
      return "connecting";
    case NATS_CONN_STATUS_CLOSED:
      return "closed";
    default:
      return "disconnected";
  }
}

bool NatsBus::Connected() const {
  return natsConnection_Status(impl_->conn) == NATS_CONN_STATUS_CONNECTED;
}

std::string NatsBus::Server() const {
  char url[256] = {};
  if (natsConnection_GetConnectedUrl(impl_->conn, url, sizeof url) != NATS_OK) return "";
  return url;
}

}  // namespace sg::bus
