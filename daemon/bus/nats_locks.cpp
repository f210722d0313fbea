#include "daemon/bus/nats_locks.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <nats/nats.h>
#include <unistd.h>

#include "common/logging.h"
#include "daemon/plugin_api/nats_connection.h"

namespace sg::bus {
namespace {

constexpr const char* kBucket = "streamgate-locks";

Error NatsFailure(natsStatus s, const std::string& what) {
  return Fail(ErrorCode::kUnavailable,
              fmt::format("locks: {}: {} (is nats-server running with JetStream, -js, at "
                          "nats.url?)",
                          what, natsStatus_GetText(s)));
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 200) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

class NatsLocks final : public Locks, public std::enable_shared_from_this<NatsLocks> {
 public:
  NatsLocks(NatsConnection connection, std::shared_ptr<spdlog::logger> logger,
            std::chrono::seconds ttl)
      : connection_(std::move(connection)),
        logger_(std::move(logger)),
        ttl_(ttl),
        holder_(Holder()) {}

  ~NatsLocks() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (renewer_.joinable()) renewer_.join();
    Close();
  }
  NatsLocks(const NatsLocks&) = delete;
  NatsLocks& operator=(const NatsLocks&) = delete;

  Result<std::unique_ptr<Lease>> TryTake(const std::string& name) override {
    if (!ValidName(name)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "locks: '" + name.substr(0, 80) + "' is not a lock name ([A-Za-z0-9_.-])");
    }
    std::lock_guard lock(mu_);
    if (auto ready = Open(); !ready) return ready.error();
    uint64_t revision = 0;
    // A holder may let go between our create and our read (the read then finds nothing): the
    // name is free, so the create is tried again, a few times.
    for (int attempt = 0;; ++attempt) {
      const natsStatus s = kvStore_CreateString(&revision, kv_, name.c_str(), holder_.c_str());
      if (s == NATS_OK) break;
      // Taken: the key exists (JetStream answers "wrong last sequence").
      kvEntry* e = nullptr;
      const natsStatus g = kvStore_Get(&e, kv_, name.c_str());
      if (g == NATS_OK) {
        const std::string owner = kvEntry_ValueString(e);
        kvEntry_Destroy(e);
        return Fail(ErrorCode::kFailedPrecondition,
                    fmt::format("locks: '{}' is held by {}", name, owner));
      }
      if (g == NATS_NOT_FOUND && s == NATS_ERR) {
        if (attempt < 3) continue;
        return Fail(ErrorCode::kFailedPrecondition,
                    fmt::format("locks: '{}' is being taken and let go by others", name));
      }
      Close();
      return NatsFailure(s, "take '" + name + "'");
    }
    held_[name] = revision;
    if (!renewer_.joinable()) renewer_ = std::thread([this] { Renew(); });
    return std::unique_ptr<Lease>(new NatsLease(shared_from_this(), name));
  }

 private:
  class NatsLease final : public Lease {
   public:
    NatsLease(std::shared_ptr<NatsLocks> locks, std::string name)
        : locks_(std::move(locks)), name_(std::move(name)) {}
    ~NatsLease() override { locks_->Let(name_); }
    NatsLease(const NatsLease&) = delete;
    NatsLease& operator=(const NatsLease&) = delete;

   private:
    std::shared_ptr<NatsLocks> locks_;
    std::string name_;
  };

  static std::string Holder() {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    return fmt::format("{}:{}", host, getpid());
  }

  // Opens the connection and the bucket; guarded by mu_.
  Result<void> Open() {
    if (kv_ != nullptr) return {};
    natsOptions* opts = nullptr;
    OpenNatsLibrary();
    natsStatus s = natsOptions_Create(&opts);
    if (s != NATS_OK) return NatsFailure(s, "NATS options");
    if (auto applied = ApplyNatsConnection(opts, connection_); !applied) {
      natsOptions_Destroy(opts);
      return applied.error();
    }
    natsOptions_SetName(opts, "streamgate locks");
    natsOptions_SetTimeout(opts, 2000);
    natsOptions_SetMaxReconnect(opts, -1);
    s = natsConnection_Connect(&conn_, opts);
    natsOptions_Destroy(opts);
    if (s != NATS_OK) {
      conn_ = nullptr;
      return NatsFailure(s, "connect to NATS at " + NatsServers(connection_));
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 2000;
    s = natsConnection_JetStream(&js_, conn_, &jo);
    if (s == NATS_OK) s = js_KeyValue(&kv_, js_, kBucket);
    if (s == NATS_NOT_FOUND) {
      kvConfig kc;
      kvConfig_Init(&kc);
      kc.Bucket = kBucket;
      kc.History = 1;
      kc.TTL = std::chrono::duration_cast<std::chrono::nanoseconds>(ttl_).count();  // as MaxAge
      kc.StorageType = js_MemoryStorage;  // leases are short-lived: no disk needed
      s = js_CreateKeyValue(&kv_, js_, &kc);
    }
    if (s != NATS_OK) {
      Close();
      return NatsFailure(s, std::string("open the bucket ") + kBucket);
    }
    return {};
  }

  void Close() {
    if (kv_ != nullptr) kvStore_Destroy(kv_);
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (conn_ != nullptr) natsConnection_Destroy(conn_);
    kv_ = nullptr;
    js_ = nullptr;
    conn_ = nullptr;
  }

  void Let(const std::string& name) {
    std::lock_guard lock(mu_);
    auto it = held_.find(name);
    if (it == held_.end()) return;
    held_.erase(it);
    if (kv_ == nullptr) return;  // lost with the connection: it expires by itself
    if (const natsStatus s = kvStore_Purge(kv_, name.c_str(), nullptr); s != NATS_OK) {
      logger_->warn(log::With("Could not let a lock go; it expires by itself",
                              {{"lock", name}, {"error", natsStatus_GetText(s)}}));
    }
  }

  // Puts every held key again every ttl/3, so that it does not expire while held.
  void Renew() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, ttl_ / 3, [this] { return stopping_; });
      if (stopping_ || kv_ == nullptr) continue;
      for (auto& [name, revision] : held_) {
        uint64_t next = 0;
        const natsStatus s =
            kvStore_UpdateString(&next, kv_, name.c_str(), holder_.c_str(), revision);
        if (s == NATS_OK) {
          revision = next;
        } else {
          logger_->warn(log::With("Could not renew a lock; another holder may take it",
                                  {{"lock", name}, {"error", natsStatus_GetText(s)}}));
        }
      }
    }
  }

  const NatsConnection connection_;
  std::shared_ptr<spdlog::logger> logger_;
  const std::chrono::seconds ttl_;
  const std::string holder_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                 // guarded by mu_
  std::map<std::string, uint64_t> held_;  // guarded by mu_: name → our entry's revision
  natsConnection* conn_ = nullptr;        // guarded by mu_
  jsCtx* js_ = nullptr;                   // guarded by mu_
  kvStore* kv_ = nullptr;                 // guarded by mu_
  std::thread renewer_;
};

}  // namespace

std::shared_ptr<Locks> MakeNatsLocks(const config::Config& config,
                                     std::shared_ptr<spdlog::logger> logger,
                                     std::chrono::seconds ttl) {
  return std::make_shared<NatsLocks>(NatsConnectionFrom(config), std::move(logger), ttl);
}

}  // namespace sg::bus
