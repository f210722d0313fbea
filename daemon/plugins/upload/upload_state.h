// What the upload plugin's parts share: its settings, its counters and its table of holds
// (Shared), the upload's record as kept with its bytes, and the reasons a request fails.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "common/result.h"
#include "daemon/plugin_api/access_guard.h"
#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/jobs.h"
#include "daemon/plugin_api/locks.h"
#include "daemon/plugin_api/plugin.h"
#include "daemon/plugins/upload/holds.h"

namespace sg::plugins::upload {

using json = nlohmann::json;

// Bytes gathered before a write to storage.
inline constexpr size_t kWriteBatch = size_t{1} << 20;

inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The reasons a request failed, as metrics labels: a fixed set.
enum class Reason {
  kBadRequest,
  kVersion,
  kContentType,
  kOffset,
  kTooLarge,
  kNotFound,
  kGone,
  kLocked,
  kTooMany,
  kChecksum,
  kStalled,
  kClientGone,
  kStorage,
  kCatalogue,
  kOverloaded,
  kUnauthorized,
  kCount
};
inline constexpr const char* kReasonNames[] = {
    "bad_request", "version",   "content_type", "offset",      "too_large", "not_found",
    "gone",        "locked",    "too_many",     "checksum",    "stalled",   "client_gone",
    "storage",     "catalogue", "overloaded",   "unauthorized"};
static_assert(std::size(kReasonNames) == static_cast<size_t>(Reason::kCount));

// The upload's record, kept with its bytes (StagedObject::meta) as JSON.
struct Record {
  std::optional<uint64_t> length;  // unset while deferred (Upload-Defer-Length)
  std::string metadata;            // Upload-Metadata as the client sent it
  int64_t created = 0;             // ms since the epoch
  int64_t expires = 0;             // ms since the epoch: last activity + upload.expiry
  bool partial = false;            // a part of a later concatenation, not a video

  std::string ToJson() const {
    json j = {{"v", 1},
              {"metadata", metadata},
              {"created", created},
              {"expires", expires},
              {"partial", partial}};
    if (length) j["length"] = *length;
    return Dump(j);
  }
  static std::optional<Record> FromJson(const std::string& text) {
    const json j = json::parse(text, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    Record r;
    if (j.contains("length") && j["length"].is_number_unsigned()) {
      r.length = j["length"].get<uint64_t>();
    }
    try {  // a field of the wrong type (a file edited by hand) is a damaged record
      r.metadata = j.value("metadata", "");
      r.created = j.value("created", int64_t{0});
      r.expires = j.value("expires", int64_t{0});
      r.partial = j.value("partial", false);
    } catch (const json::exception&) {
      return std::nullopt;
    }
    return r;
  }
};

// What HEAD answers from while a request writes an upload that has `kept` bytes so far.
inline Held Writing(uint64_t kept, const Record& record) {
  return Held{true, kept, record.length, record.expires, record.partial};
}

struct Settings {
  uint64_t max_size = uint64_t{16} << 30;
  std::chrono::milliseconds expiry{24 * 3600 * 1000};
  int per_client = 8;
  uint64_t sync_every = uint64_t{64} << 20;
  std::vector<std::string> cors_origins = {"*"};
  std::chrono::milliseconds lock_wait{5000};
};

// What the plugin shares with work on other threads, which may finish after a Stop.
struct Shared {
  std::shared_ptr<spdlog::logger> logger;
  Settings settings;
  Storage* storage = nullptr;
  BlockingPool* blocking = nullptr;
  ServiceRegistry* services = nullptr;
  Bus* bus = nullptr;
  std::shared_ptr<AccessGuard> access;    // null (everything open) only without a daemon: tests
  boost::asio::any_io_executor executor;  // the daemon's: timers that outlive a request's thread

  mutable std::mutex mu;
  const std::shared_ptr<Holds> holds = std::make_shared<Holds>();  // uploads requests work on
  std::map<std::string, int> per_client;  // guarded by mu: body-carrying requests by address
  std::map<std::pair<std::string, unsigned>, uint64_t> answers;  // guarded by mu
  uint64_t failures[static_cast<size_t>(Reason::kCount)] = {};   // guarded by mu
  std::unique_ptr<JobQueue::Registration> expire_handler;        // guarded by mu
  bool running = false;                                          // guarded by mu

  std::atomic<uint64_t> bytes{0};       // bytes kept (synced) from clients
  std::atomic<uint64_t> created{0};     // uploads created
  std::atomic<uint64_t> completed{0};   // uploads finished and committed
  std::atomic<uint64_t> terminated{0};  // uploads deleted by their client
  std::atomic<uint64_t> expired{0};     // uploads collected after upload.expiry
  std::atomic<uint64_t> syncs{0};       // fsyncs that made bytes count
  std::atomic<int64_t> transfers{0};    // bodies being received now
  std::atomic<uint64_t> staged{0};      // unfinished uploads, as last counted

  bool EnterClient(const std::string& remote) {
    std::lock_guard lock(mu);
    int& n = per_client[remote];
    if (n >= settings.per_client) {
      if (n == 0) per_client.erase(remote);
      return false;
    }
    ++n;
    return true;
  }
  void LeaveClient(const std::string& remote) {
    std::lock_guard lock(mu);
    auto it = per_client.find(remote);
    if (it != per_client.end() && --it->second <= 0) per_client.erase(it);
  }
  void Answered(std::string_view method, unsigned status) {
    std::lock_guard lock(mu);
    ++answers[{std::string(method), status}];
  }
  void Failed(Reason reason) {
    std::lock_guard lock(mu);
    ++failures[static_cast<size_t>(reason)];
  }

  Result<std::shared_ptr<Catalogue>> FindCatalogue() const {
    return services->Find<Catalogue>("metadata");
  }
};

// Where a finished upload goes: its video's source object, or a part of a later concatenation.
inline std::string SourceKey(const std::string& id) { return "videos/" + id + "/source"; }
inline std::string PartKey(const std::string& id) { return "uploads/" + id; }

// In microservice mode the "locks" service makes an upload's hold deployment-wide, so that two
// upload instances never write one upload at once. Null (and fine) in monolith mode, where the
// plugin's own map is the whole truth. The error is the answer to send (LeaseRefused).
using Lease = std::unique_ptr<Locks::Lease>;

inline Result<Lease> TakeLease(Shared& s, const std::string& id) {
  auto locks = s.services->Find<Locks>("locks");
  if (!locks) return Lease();
  auto lease = (*locks)->TryTake("upload." + id);
  if (!lease) return lease.error();
  return std::move(*lease);
}

}  // namespace sg::plugins::upload
