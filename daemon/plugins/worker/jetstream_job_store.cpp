#include "daemon/plugins/worker/jetstream_job_store.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include <nats/nats.h>
#include <nlohmann/json.hpp>

#include "daemon/plugins/worker/nats_exchange.h"
#include "daemon/plugins/worker/sql_job_store.h"

namespace sg::plugins {
namespace {

using json = nlohmann::json;

// Payloads up to this size live in the job's record; larger ones in a key of their own, so that a
// record (payload included) stays under the server's max_payload (1 MiB by default).
constexpr size_t kInlinePayload = 512 * 1024;
// Records up to this size that a fetch reads ahead are kept until their Lease.
constexpr int kCachedRecord = 16 * 1024;
// Queued records seen republished (Noted) that this process keeps for its Leases, at most, and
// the largest one kept (a larger record is read by its Lease): 16 MiB at worst.
constexpr size_t kMaxNoted = 4096;
constexpr size_t kMaxNotedRecord = 4096;
// CAS retries when another process changed the record between our read and our write.
constexpr int kCasAttempts = 8;
// Locally known jobs per kind beyond which the farthest ones are forgotten (their hints bring
// them back).
constexpr size_t kMaxKnown = 100000;
// A hint of a record that does not exist (an Enqueue that died half-way) is dropped after this
// many deliveries.
constexpr uint64_t kOrphanDeliveries = 5;
// Leases that look again at a held hint without a record before it goes back to the server.
constexpr int kOrphanChecks = 50;

// How often a Lease that has a runnable job in hand still takes new hints.
constexpr std::chrono::milliseconds kRefetch{10};
// How long a Lease waits for hints the server has said are on their way.
constexpr std::chrono::milliseconds kBurstWait{5};
// How long a pull request for hints stays open (a new one follows when it ends).
constexpr std::chrono::milliseconds kPullExpiry{5000};
// How long SucceedThenLease waits for a new hint before its succeed's write goes alone.
constexpr std::chrono::milliseconds kPendingWait{5};

constexpr int64_t kMaxLeaseMs = int64_t{24} * 3600 * 1000;

// Ids are ULIDs (NewJobId): 26 of Crockford's base32. Anything else names no job and is never
// used in a key.
bool ValidId(const std::string& id) {
  return id.size() == 26 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') ||
                  (c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U');
         });
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s.substr(0, 80)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (s.size() > 80) out += "...";
  return out + "'";
}

Error NotFound(const std::string& id) {
  return sg::Fail(ErrorCode::kNotFound, "job " + Quote(id) + " not found");
}

bool ValidPrefix(const std::string& prefix) {
  if (prefix.empty() || prefix.size() > 32) return false;
  return std::all_of(prefix.begin(), prefix.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

// Leasable now: queued and due, or running under an expired lease.
bool Runnable(const Job& j, int64_t now) {
  return (j.state == JobState::kQueued && j.run_at <= now) ||
         (j.state == JobState::kRunning && j.lease_until <= now);
}

bool Terminal(JobState state) {
  return state == JobState::kSucceeded || state == JobState::kDead || state == JobState::kCancelled;
}

bool TransportFailure(natsStatus s) {
  return s == NATS_TIMEOUT || s == NATS_CONNECTION_CLOSED || s == NATS_NO_SERVER ||
         s == NATS_CONNECTION_DISCONNECTED || s == NATS_NOT_YET_CONNECTED ||
         s == NATS_NO_RESPONDERS || s == NATS_IO_ERROR || s == NATS_STALE_CONNECTION ||
         s == NATS_CONNECTION_AUTH_FAILED || s == NATS_SSL_ERROR;
}

// One job record as stored: the Job without its payload as JSON, a newline, then the payload's
// bytes (opaque, not necessarily UTF-8) unless it lives in "pay.<id>".
struct Record {
  Job job;
  bool external_payload = false;
  bool cancel_requested = false;  // a running job was cancelled; its holder is to stop
  uint64_t revision = 0;
};

std::string Encode(const Record& r) {
  const Job& job = r.job;
  const bool external_payload = r.external_payload;
  json meta = {{"id", job.id},
               {"kind", job.kind},
               {"priority", job.priority},
               {"key", job.idempotency_key},
               {"state", std::string(JobStateName(job.state))},
               {"attempts", job.attempts},
               {"max_attempts", job.max_attempts},
               {"error", job.last_error},
               {"progress", job.progress},
               {"created_at", job.created_at},
               {"updated_at", job.updated_at},
               {"run_at", job.run_at},
               {"owner", job.lease_owner},
               {"lease_until", job.lease_until},
               {"ext", external_payload},
               {"cancel", r.cancel_requested}};
  // Handler error messages may hold any bytes: replace invalid UTF-8 rather than fail.
  std::string out = meta.dump(-1, ' ', false, json::error_handler_t::replace);
  out.push_back('\n');
  if (!external_payload) out += job.payload;
  return out;
}

std::optional<Record> Decode(const char* data, int len) {
  const std::string_view all(data, static_cast<size_t>(len));
  const size_t nl = all.find('\n');
  if (nl == std::string_view::npos) return std::nullopt;
  const json meta = json::parse(all.substr(0, nl), nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) return std::nullopt;
  Record r;
  Job& j = r.job;
  // A field of the wrong type (a record written by hand, say) makes value() throw: such a
  // record is as damaged as one that is not JSON.
  try {
    const auto state = ParseJobState(meta.value("state", ""));
    if (!state) return std::nullopt;
    j.id = meta.value("id", "");
    j.kind = meta.value("kind", "");
    j.priority = meta.value("priority", 0);
    j.idempotency_key = meta.value("key", "");
    j.state = *state;
    j.attempts = meta.value("attempts", 0);
    j.max_attempts = meta.value("max_attempts", 0);
    j.last_error = meta.value("error", "");
    j.progress = meta.value("progress", 0.0);
    j.created_at = meta.value("created_at", int64_t{0});
    j.updated_at = meta.value("updated_at", int64_t{0});
    j.run_at = meta.value("run_at", int64_t{0});
    j.lease_owner = meta.value("owner", "");
    j.lease_until = meta.value("lease_until", int64_t{0});
    r.external_payload = meta.value("ext", false);
    r.cancel_requested = meta.value("cancel", false);
  } catch (const json::exception&) {
    return std::nullopt;
  }
  if (!r.external_payload) j.payload = std::string(all.substr(nl + 1));
  return r;
}

// A job this process knows may become runnable for a kind: from a hint it fetched, or a lease
// it took. `msg` is the hint while this process holds it (else null: it is with the server).
struct Known {
  bool busy = false;  // a Lease is reading or taking it, without the kind's lock
  int orphan_checks = 0;
  int priority = 0;
  int64_t due = 0;  // run_at, or lease_until while running
  int64_t created_at = 0;
  natsMsg* msg = nullptr;
  uint64_t seq = 0;
  // The record as read with its hint (ReadRecords); a Lease takes it and writes over it by CAS.
  std::optional<Record> record;
};

class JetStreamJobStore final : public JobStore {
 public:
  explicit JetStreamJobStore(JetStreamJobStoreOptions options) : options_(std::move(options)) {}

  ~JetStreamJobStore() override {
    for (auto& [kind, k] : kinds_) {
      // Held hints go back now rather than after AckWait, for the other processes.
      for (auto& [id, known] : k->known) {
        if (known.msg != nullptr) {
          NakHint(known.msg, 0);
          natsMsg_Destroy(known.msg);
        }
      }
      if (k->inbox != nullptr) natsSubscription_Destroy(k->inbox);
    }
    if (notes_ != nullptr) natsSubscription_Destroy(notes_);
    if (kv_ != nullptr) kvStore_Destroy(kv_);
    exchange_.reset();  // its subscriptions before the connection
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (conn_ != nullptr) natsConnection_Destroy(conn_);
    if (opts_ != nullptr) natsOptions_Destroy(opts_);
  }

  Result<void> Open() {
    if (!ValidPrefix(options_.prefix)) {
      return sg::Fail(ErrorCode::kInvalidArgument,
                      "job store prefix '" + options_.prefix +
                          "' is not a valid JetStream name: use 1 to 32 of [A-Za-z0-9_-]");
    }
    if (options_.fetch_batch < 1 || options_.fetch_batch > 1024) {
      return sg::Fail(ErrorCode::kInvalidArgument, "fetch_batch must be 1..1024");
    }
    if (options_.fetch_wait.count() < 1 || options_.request_timeout.count() < 1) {
      return sg::Fail(ErrorCode::kInvalidArgument,
                      "fetch_wait and request_timeout must be positive");
    }
    OpenNatsLibrary();
    natsStatus s = natsOptions_Create(&opts_);
    if (s != NATS_OK) return NatsError(s, "NATS options");
    if (auto applied = ApplyNatsConnection(opts_, options_.connection); !applied) {
      return applied.error();
    }
    natsOptions_SetName(opts_, "streamgate job store");
    // Every call waits for its answer: write at once rather than wake the flusher thread.
    natsOptions_SetSendAsap(opts_, true);
    natsOptions_SetTimeout(opts_, options_.connect_timeout.count());
    natsOptions_SetMaxReconnect(opts_, -1);  // forever: a restarted server must be found again
    natsOptions_SetReconnectWait(opts_, options_.reconnect_wait.count());
    // The server forgets open pull requests when the connection drops: ask again after.
    natsOptions_SetReconnectedCB(
        opts_,
        [](natsConnection*, void* self) { ++static_cast<JetStreamJobStore*>(self)->reconnects_; },
        this);
    s = natsConnection_Connect(&conn_, opts_);
    if (s != NATS_OK) return NatsError(s, "connect to NATS at " + NatsServers(options_.connection));
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = options_.request_timeout.count();
    s = natsConnection_JetStream(&js_, conn_, &jo);
    if (s != NATS_OK) return NatsError(s, "JetStream context");

    // The dispatch stream: work-queue retention, so an acked hint is gone.
    const std::string subjects = options_.prefix + ".jobs.>";
    const char* subject_list[] = {subjects.c_str()};
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = options_.prefix.c_str();
    sc.Subjects = subject_list;
    sc.SubjectsLen = 1;
    sc.Retention = js_WorkQueuePolicy;
    sc.Storage = options_.memory_storage ? js_MemoryStorage : js_FileStorage;
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    s = js_GetStreamInfo(&si, js_, sc.Name, nullptr, &jerr);
    if (s == NATS_NOT_FOUND) s = js_AddStream(&si, js_, &sc, nullptr, &jerr);
    if (si != nullptr) jsStreamInfo_Destroy(si);
    if (s != NATS_OK) {
      return NatsError(s, "create the job stream '" + options_.prefix +
                              "' (does nats-server run with JetStream, -js?)");
    }

    s = js_KeyValue(&kv_, js_, options_.prefix.c_str());
    if (s == NATS_NOT_FOUND) {
      kvConfig kc;
      kvConfig_Init(&kc);
      kc.Bucket = options_.prefix.c_str();
      kc.History = 1;
      kc.StorageType = sc.Storage;
      // Records republished (Republishes, below): set when the bucket is made, as the server
      // cannot add it to a stream later.
      const std::string source = RecordSubject(">");
      const std::string destination = NoteSubject(">");
      jsRePublish rp;
      jsRePublish_Init(&rp);
      rp.Source = source.c_str();
      rp.Destination = destination.c_str();
      kc.RePublish = &rp;
      s = js_CreateKeyValue(&kv_, js_, &kc);
    }
    if (s != NATS_OK) return NatsError(s, "create the job bucket '" + options_.prefix + "'");
    exchange_ = std::make_unique<NatsExchange>(conn_);
    const std::string bucket_stream = "KV_" + options_.prefix;
    si = nullptr;
    if (js_GetStreamInfo(&si, js_, bucket_stream.c_str(), nullptr, &jerr) == NATS_OK) {
      direct_get_ = si->Config != nullptr && si->Config->AllowDirect;
      republished_ = direct_get_ && si->Config != nullptr && Republishes(*si->Config);
    }
    if (si != nullptr) jsStreamInfo_Destroy(si);
    return {};
  }

  Result<Job> Enqueue(const JobSpec& spec, int max_attempts, int64_t now) override {
    if (auto valid = ValidateJobSpec(spec); !valid) return valid.error().Wrap("enqueue");
    if (auto c = Connected(); !c) return c.error();
    Job job;
    job.id = NewJobId(now);
    job.kind = spec.kind;
    job.payload = spec.payload;
    job.priority = spec.priority;
    job.idempotency_key = spec.idempotency_key;
    job.state = JobState::kQueued;
    job.max_attempts = spec.max_attempts > 0 ? spec.max_attempts : max_attempts;
    job.created_at = now;
    job.updated_at = now;
    job.run_at = now + spec.delay.count();

    if (!spec.idempotency_key.empty()) {
      // The key names the job first: of two concurrent Enqueues, one creates it.
      const std::string key = "idem." + spec.kind + "." + Hex(spec.idempotency_key);
      natsStatus s = kvStore_CreateString(nullptr, kv_, key.c_str(), job.id.c_str());
      if (s != NATS_OK) {
        kvEntry* e = nullptr;
        const natsStatus g = kvStore_Get(&e, kv_, key.c_str());
        if (g != NATS_OK) return NatsError(TransportFailure(s) ? s : g, "enqueue: idempotency key");
        const std::string existing = kvEntry_ValueString(e);
        kvEntry_Destroy(e);
        auto found = GetRecord(existing);
        if (found) return Completed(std::move(*found));
        if (found.error().code != ErrorCode::kNotFound) return found.error();
        // The Enqueue that took the key died before writing its job: write it under that id.
        job.id = existing;
      }
    }
    return Create(job);
  }

  Result<Job> Get(const std::string& id) override {
    if (auto c = Connected(); !c) return c.error();
    auto r = GetRecord(id);
    if (!r) return r.error();
    return Completed(std::move(*r));
  }

  Result<std::vector<Job>> List(const JobFilter& filter) override {
    if (filter.limit < 1 || filter.limit > 1000) {
      return sg::Fail(ErrorCode::kInvalidArgument,
                      "list jobs: limit must be 1..1000, not " + std::to_string(filter.limit));
    }
    if (filter.kind) {
      if (auto valid = ValidateJobKind(*filter.kind); !valid) return valid.error().Wrap("list");
    }
    auto all = Scan();
    if (!all) return all.error();
    std::vector<Record> out;
    for (auto& r : *all) {
      if (filter.state && r.job.state != *filter.state) continue;
      if (filter.kind && r.job.kind != *filter.kind) continue;
      out.push_back(std::move(r));
    }
    std::sort(out.begin(), out.end(), [](const Record& a, const Record& b) {
      if (a.job.created_at != b.job.created_at) return a.job.created_at > b.job.created_at;
      return a.job.id > b.job.id;
    });
    if (out.size() > static_cast<size_t>(filter.limit)) out.resize(filter.limit);
    std::vector<Job> jobs;
    for (auto& r : out) {
      auto job = Completed(std::move(r.job), r.external_payload);
      if (!job) return job.error();
      jobs.push_back(std::move(*job));
    }
    return jobs;
  }

  Result<Job> Retry(const std::string& id, int64_t now) override {
    return Change(id, [&](Record& r) -> Result<bool> {
      Job& j = r.job;
      if (j.state != JobState::kDead && j.state != JobState::kCancelled) {
        return sg::Fail(ErrorCode::kFailedPrecondition,
                        "retry job " + Quote(id) + ": it is " + std::string(JobStateName(j.state)) +
                            "; only a dead or cancelled job can be retried");
      }
      r.cancel_requested = false;
      j.state = JobState::kQueued;
      j.attempts = 0;
      j.run_at = now;
      j.updated_at = now;
      j.lease_owner.clear();
      j.lease_until = 0;
      j.progress = 0;
      return true;  // its old hint was acked when it ended: it needs a new one
    });
  }

  Result<Job> Cancel(const std::string& id, int64_t now) override {
    return Change(id, [&](Record& r) -> Result<bool> {
      Job& j = r.job;
      if (j.state != JobState::kQueued && j.state != JobState::kRunning) {
        return sg::Fail(ErrorCode::kFailedPrecondition,
                        "cancel job " + Quote(id) + ": it is " +
                            std::string(JobStateName(j.state)) +
                            "; only a queued or running job can be cancelled");
      }
      j.updated_at = now;
      if (j.state == JobState::kRunning && j.lease_until > now) {
        // Its holder learns it at its next Renew and acknowledges.
        r.cancel_requested = true;
        return false;
      }
      // Queued, or running under an expired lease (its holder is gone): cancelled at once.
      j.state = JobState::kCancelled;
      j.lease_owner.clear();
      j.lease_until = 0;
      r.cancel_requested = false;
      return false;
    });
  }

  Result<std::vector<JobCounts>> Counts() override {
    auto all = Scan();
    if (!all) return all.error();
    std::map<std::pair<std::string, int>, int64_t> counts;
    for (const auto& r : *all) ++counts[{r.job.kind, static_cast<int>(r.job.state)}];
    std::vector<JobCounts> out;
    out.reserve(counts.size());
    for (const auto& [k, n] : counts) {
      out.push_back({k.first, static_cast<JobState>(k.second), n});
    }
    return out;
  }

  Result<std::optional<Job>> Lease(const std::string& kind, const std::string& owner,
                                   std::chrono::milliseconds lease, int64_t now) override {
    return LeaseWith(kind, owner, lease, now, nullptr);
  }

  Result<void> Renew(const std::string& id, const std::string& owner,
                     std::chrono::milliseconds lease, double progress, int64_t now) override {
    if (lease.count() < 1 || lease.count() > kMaxLeaseMs) {
      return sg::Fail(ErrorCode::kInvalidArgument, "renew: lease must be 1 ms to 24 h, not " +
                                                       std::to_string(lease.count()) + " ms");
    }
    if (!(progress >= 0)) progress = 0;  // NaN too
    auto r = Change(id, [&](Record& rec) -> Result<bool> {
      Job& j = rec.job;
      if (auto held = Held(rec, owner, "renew the lease of"); !held) return held.error();
      j.lease_until = now + lease.count();
      j.progress = std::min(progress, 1.0);
      j.updated_at = now;
      return false;
    });
    if (!r) return r.error();
    return {};
  }

  Result<void> Succeed(const std::string& id, const std::string& owner, int64_t now) override {
    auto r = Change(id, [&](Record& rec) -> Result<bool> {
      if (auto held = Held(rec, owner, "complete"); !held) return held.error();
      MarkSucceeded(rec, now);
      return false;
    });
    if (!r) return r.error();
    ForgetKnown(r->kind, id);
    return {};
  }

  // The succeed's write rides with the next lease's write when there is one to make at once.
  SucceededThenLeased SucceedThenLease(const std::string& id, const std::string& owner,
                                       const std::string& kind, std::chrono::milliseconds lease,
                                       int64_t now) override {
    std::optional<Record> held = Remembered(id);
    if (!held || held->job.kind != kind || !Held(*held, owner, "complete")) {
      return JobStore::SucceedThenLease(id, owner, kind, lease, now);
    }
    PendingWrite pending;
    pending.id = id;
    pending.record = std::move(*held);
    MarkSucceeded(pending.record, now);
    SucceededThenLeased out{Result<void>(), LeaseWith(kind, owner, lease, now, &pending)};
    if (!pending.sent) pending.result = Write(id, pending.record);
    if (pending.result) {
      ForgetRemembered(id);
      ForgetKnown(kind, id);
    } else if (pending.result.error().code == ErrorCode::kFailedPrecondition) {
      out.succeeded = Succeed(id, owner, now);  // changed meanwhile: decide on the stored record
    } else {
      out.succeeded = pending.result;
    }
    return out;
  }

  Result<void> Fail(const std::string& id, const std::string& owner, const AttemptFailure& failure,
                    int64_t now) override {
    auto r = Change(id, [&](Record& rec) -> Result<bool> {
      Job& j = rec.job;
      if (auto held = Held(rec, owner, "fail"); !held) return held.error();
      j.last_error = failure.error;
      j.updated_at = now;
      j.lease_owner.clear();
      j.lease_until = 0;
      if (failure.retry_at) {
        j.state = JobState::kQueued;
        j.run_at = *failure.retry_at;
        return true;  // a hint at its run_at, rather than when the lease would have expired
      }
      j.state = JobState::kDead;
      return false;
    });
    if (!r) return r.error();
    if (failure.retry_at) {
      Reschedule(r->kind, id, *failure.retry_at);
    } else {
      ForgetKnown(r->kind, id);
    }
    return {};
  }

  Result<void> AcknowledgeCancel(const std::string& id, const std::string& owner,
                                 int64_t now) override {
    auto r = Change(id, [&](Record& rec) -> Result<bool> {
      Job& j = rec.job;
      if (j.state == JobState::kCancelled) {
        // Its lease expired and Cancel ended it: what the holder wanted.
        return false;
      }
      if (j.state != JobState::kRunning || j.lease_owner != owner) {
        return Held(rec, owner, "acknowledge the cancel of").error();
      }
      rec.cancel_requested = false;
      j.state = JobState::kCancelled;
      j.updated_at = now;
      j.lease_owner.clear();
      j.lease_until = 0;
      return false;
    });
    if (!r) return r.error();
    ForgetKnown(r->kind, id);
    return {};
  }

 private:
  struct KindState {
    std::mutex mu;  // one Lease of the kind at a time in this process
    // The hints come to an inbox of ours, asked for by pull requests to the kind's consumer
    // that stay open (one at a time): a hint costs no round trip of its own, as a fetch per
    // Lease would (the library's fetch asks anew, and waits, each call).
    natsSubscription* inbox = nullptr;
    std::string inbox_prefix;  // "<inbox>.": a pull request's replies come to "<inbox>.<n>"
    std::string next_subject;  // $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>
    uint64_t pull = 0;         // the number of the open pull request
    int pull_left = 0;         // hints it may still bring
    std::chrono::steady_clock::time_point pull_until;  // when it expires
    uint64_t reconnects = 0;  // reconnects_ when it was made: a reconnect ends it
    std::unordered_map<std::string, Known> known;
    std::chrono::steady_clock::time_point fetched;  // the last FetchHints
  };

  // A write that waits to go out with the next one (SucceedThenLease).
  struct PendingWrite {
    std::string id;
    Record record;
    bool sent = false;
    Result<void> result;
  };

  static void MarkSucceeded(Record& rec, int64_t now) {
    Job& j = rec.job;
    j.state = JobState::kSucceeded;
    j.progress = 1;
    j.updated_at = now;
    j.lease_owner.clear();
    j.lease_until = 0;
  }

  // Lease; `pending` (if any) is written together with the lease's write, or before a wait.
  Result<std::optional<Job>> LeaseWith(const std::string& kind, const std::string& owner,
                                       std::chrono::milliseconds lease, int64_t now,
                                       PendingWrite* pending) {
    if (owner.empty()) return sg::Fail(ErrorCode::kInvalidArgument, "lease: the owner is empty");
    if (lease.count() < 1 || lease.count() > kMaxLeaseMs) {
      return sg::Fail(ErrorCode::kInvalidArgument, "lease: lease must be 1 ms to 24 h, not " +
                                                       std::to_string(lease.count()) + " ms");
    }
    if (auto valid = ValidateJobKind(kind); !valid) return valid.error().Wrap("lease");
    if (auto c = Connected(); !c) return c.error();
    auto kr = ForKind(kind);
    if (!kr) return kr.error();
    KindState& k = **kr;
    std::unique_lock lock(k.mu);
    // The hints that have come (pushed to our inbox), and when none has and no job is at hand,
    // a wait for the first. With a runnable job in hand, only now and then (for hints of higher
    // priority): new hints are read ahead, a round trip under the kind's lock. A pending write
    // waits for a new hint only briefly (then it goes alone), so that the job it finishes is
    // seen finished soon.
    const auto fetch_now = std::chrono::steady_clock::now();
    const bool in_hand = std::any_of(k.known.begin(), k.known.end(), [&](const auto& e) {
      return !e.second.busy && e.second.due <= now;
    });
    if (!in_hand || fetch_now - k.fetched >= kRefetch) {
      k.fetched = fetch_now;
      const auto wait = pending != nullptr && !pending->sent
                            ? std::min(options_.fetch_wait, kPendingWait)
                            : options_.fetch_wait;
      if (auto f = FetchHints(k, lock, now, wait, /*may_wait=*/!in_hand); !f) return f.error();
    }

    // The records are read and written without the lock, so that the kind's worker threads
    // lease in parallel; `busy` keeps two of them off one candidate.
    std::optional<Record> leased;
    std::unordered_map<std::string, int> tries;
    for (;;) {
      // The best candidate by what we know; its record decides.
      auto best = k.known.end();
      for (auto it = k.known.begin(); it != k.known.end(); ++it) {
        if (it->second.due > now || it->second.busy) continue;
        if (auto t = tries.find(it->first); t != tries.end() && t->second < 0) continue;
        if (best == k.known.end() || Before(it->second, it->first, best->second, best->first)) {
          best = it;
        }
      }
      if (best == k.known.end()) break;
      const std::string id = best->first;
      best->second.busy = true;
      std::optional<Record> read_ahead = std::move(best->second.record);
      best->second.record.reset();
      lock.unlock();
      Outcome outcome = TryLease(id, owner, lease, now, std::move(read_ahead), pending);
      lock.lock();
      auto it = k.known.find(id);
      if (it != k.known.end()) it->second.busy = false;
      if (outcome.error) return *outcome.error;
      if (outcome.orphan) {
        DropOrphan(k, id, now);
        tries[id] = -1;  // not again in this call
        continue;
      }
      if (outcome.finished) {
        Forget(k, id, /*ack=*/true);
        continue;
      }
      if (outcome.conflict) {
        if (++tries[id] >= kCasAttempts) tries[id] = -1;  // changed under us: look again
        continue;
      }
      if (it == k.known.end()) {
        if (!outcome.record) continue;
        it = k.known.try_emplace(id).first;  // forgotten meanwhile: known again, as leased
      }
      Known& known = it->second;
      known.priority = outcome.priority;
      known.due = outcome.due;
      if (!outcome.record) continue;  // not runnable (yet)
      // The hint returns when the lease would expire, for whoever finds it expired.
      if (known.msg != nullptr) {
        NakHint(known.msg, ServerDelay(lease.count()));
        natsMsg_Destroy(known.msg);
        known.msg = nullptr;
      }
      leased = std::move(outcome.record);
      break;
    }
    // Hints of jobs not runnable yet go back to the server until their time, for any process;
    // this process still knows them (for its callers' clock).
    for (auto& [id, known] : k.known) {
      if (known.msg != nullptr && known.due > now && !known.busy) {
        NakHint(known.msg, ServerDelay(known.due - now));
        natsMsg_Destroy(known.msg);
        known.msg = nullptr;
      }
    }
    Trim(k);
    lock.unlock();
    if (!leased) return std::optional<Job>();
    Remember(*leased);
    auto full = Completed(std::move(*leased));
    if (!full) return full.error();
    return std::optional<Job>(std::move(*full));
  }

  static bool Before(const Known& a, const std::string& aid, const Known& b,
                     const std::string& bid) {
    if (a.priority != b.priority) return a.priority > b.priority;
    if (a.due != b.due) return a.due < b.due;
    if (a.created_at != b.created_at) return a.created_at < b.created_at;
    return aid < bid;
  }

  // What reading (and maybe taking) one candidate came to.
  struct Outcome {
    std::optional<Error> error;  // the store failed
    bool orphan = false;         // no such record
    bool finished = false;       // terminal, or just ended cancelled: its hint is done
    bool conflict = false;       // changed between our read and write
    int priority = 0;
    int64_t due = 0;               // when to look again (not runnable) or the lease's end
    std::optional<Record> record;  // leased
  };

  // `read_ahead`: the record as a fetch read it. It may be stale: a lease over it is a CAS on its
  // revision, and anything else it says is checked on a fresh read.
  Outcome TryLease(const std::string& id, const std::string& owner, std::chrono::milliseconds lease,
                   int64_t now, std::optional<Record> read_ahead, PendingWrite* pending) {
    Outcome out;
    if (!read_ahead) read_ahead = TakeNoted(id);
    if (read_ahead) {
      const Job& j = read_ahead->job;
      if (!Runnable(j, now) || read_ahead->cancel_requested) read_ahead.reset();
    }
    auto rec = read_ahead ? Result<Record>(std::move(*read_ahead)) : GetRecord(id);
    if (!rec) {
      if (rec.error().code == ErrorCode::kNotFound) {
        out.orphan = true;
      } else {
        out.error = rec.error();
      }
      return out;
    }
    Job& j = rec->job;
    out.priority = j.priority;
    if (Terminal(j.state)) {
      out.finished = true;
      return out;
    }
    if (!Runnable(j, now)) {
      out.due = j.state == JobState::kQueued ? j.run_at : j.lease_until;
      return out;
    }
    if (j.state == JobState::kRunning && rec->cancel_requested) {
      // Cancelled, and its holder went away before acknowledging: it ends cancelled rather
      // than running again.
      j.state = JobState::kCancelled;
      j.lease_owner.clear();
      j.lease_until = 0;
      j.updated_at = now;
      rec->cancel_requested = false;
    } else {
      j.state = JobState::kRunning;
      j.attempts += 1;
      j.progress = 0;
      rec->cancel_requested = false;
      j.lease_owner = owner;
      j.lease_until = now + lease.count();
      j.updated_at = now;
    }
    Result<void> w;
    if (pending != nullptr && !pending->sent) {
      auto both = WriteAll({{pending->id, &pending->record}, {id, &*rec}});
      pending->sent = true;
      pending->result = std::move(both[0]);
      w = std::move(both[1]);
    } else {
      w = Write(id, *rec);
    }
    if (!w) {
      if (w.error().code == ErrorCode::kFailedPrecondition) {
        out.conflict = true;
      } else {
        out.error = w.error();
      }
      return out;
    }
    if (j.state == JobState::kCancelled) {
      out.finished = true;
      return out;
    }
    out.due = j.lease_until;
    out.record = std::move(*rec);
    return out;
  }

  // The record of a job this store leased, as last written: the holder's Renew, Succeed and
  // Fail write over it without reading it first (the CAS tells when it is stale).
  void Remember(const Record& r) {
    std::lock_guard lock(mu_);
    leased_[r.job.id] = r;
  }
  std::optional<Record> Remembered(const std::string& id) {
    std::lock_guard lock(mu_);
    auto it = leased_.find(id);
    if (it == leased_.end()) return std::nullopt;
    return it->second;
  }
  void ForgetRemembered(const std::string& id) {
    std::lock_guard lock(mu_);
    leased_.erase(id);
  }

  // A delay for the server's clock from one on the caller's: at least 1 ms, at most a minute, so
  // that a caller's clock far from the server's cannot park a hint for long.
  static int64_t ServerDelay(int64_t ms) { return std::clamp<int64_t>(ms, 1, 60000); }

  // Whether `owner` holds the job; why not, otherwise (the handler must stop).
  static Result<void> Held(const Record& r, const std::string& owner, const std::string& verb) {
    const Job& j = r.job;
    const std::string what = verb + " job " + Quote(j.id);
    if (j.state == JobState::kCancelled ||
        (j.state == JobState::kRunning && j.lease_owner == owner && r.cancel_requested)) {
      return sg::Fail(ErrorCode::kFailedPrecondition, what + ": cancelled; stop the handler");
    }
    if (j.state == JobState::kRunning && j.lease_owner != owner) {
      return sg::Fail(ErrorCode::kFailedPrecondition,
                      what + ": lease lost to " + Quote(j.lease_owner) + "; stop the handler");
    }
    if (j.state != JobState::kRunning) {
      return sg::Fail(ErrorCode::kFailedPrecondition, what + ": lease lost; the job is now " +
                                                          std::string(JobStateName(j.state)) +
                                                          "; stop the handler");
    }
    return {};
  }

  Result<void> Connected() {
    if (natsConnection_Status(conn_) != NATS_CONN_STATUS_CONNECTED) {
      return sg::Fail(ErrorCode::kUnavailable, "the job store is not connected to NATS at " +
                                                   NatsServers(options_.connection) +
                                                   " (reconnecting every " +
                                                   std::to_string(options_.reconnect_wait.count()) +
                                                   " ms): is nats-server running?");
    }
    return {};
  }

  Error NatsError(natsStatus s, const std::string& what) const {
    std::string detail = natsStatus_GetText(s);
    const char* last = nats_GetLastError(nullptr);
    if (last != nullptr && *last != '\0' && detail.find(last) == std::string::npos) {
      detail += " (" + std::string(last) + ")";
    }
    if (TransportFailure(s)) {
      return {ErrorCode::kUnavailable, what + ": " + detail +
                                           "; is nats-server with JetStream reachable at " +
                                           NatsServers(options_.connection) + "?"};
    }
    if (s == NATS_NOT_FOUND) return {ErrorCode::kNotFound, what + ": " + detail};
    if (s == NATS_MAX_PAYLOAD) {
      return {ErrorCode::kInvalidArgument,
              what +
                  ": larger than the NATS server's max_payload; raise max_payload in its "
                  "configuration"};
    }
    return {ErrorCode::kInternal, what + ": " + detail};
  }

  Result<Record> GetRecord(const std::string& id) {
    if (!ValidId(id)) return NotFound(id);
    if (direct_get_) {
      auto replies = exchange_->Combined({DirectGet(id)}, options_.request_timeout);
      if (!replies) return replies.error().Wrap("read job " + id);
      return RecordFromReply((*replies)[0].get(), id);
    }
    kvEntry* e = nullptr;
    const std::string key = "job." + id;
    const natsStatus s = kvStore_Get(&e, kv_, key.c_str());
    if (s == NATS_NOT_FOUND) return NotFound(id);
    if (s != NATS_OK) return NatsError(s, "read job " + id);
    auto r = Decode(static_cast<const char*>(kvEntry_Value(e)), kvEntry_ValueLen(e));
    const uint64_t revision = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    if (!r) return sg::Fail(ErrorCode::kInternal, "job record " + id + " is corrupt");
    r->revision = revision;
    return std::move(*r);
  }

  // A direct get of a record: the bucket's stream answers with the last value of its key.
  NatsRequest DirectGet(const std::string& id) const {
    NatsRequest r;
    r.subject =
        "$JS.API.DIRECT.GET.KV_" + options_.prefix + ".$KV." + options_.prefix + ".job." + id;
    return r;
  }

  // A direct get's reply as a record; kNotFound for none (or a deleted one).
  Result<Record> RecordFromReply(natsMsg* m, const std::string& id) const {
    if (m == nullptr) return NatsError(NATS_TIMEOUT, "read job " + id);
    const char* status = nullptr;
    if (natsMsgHeader_Get(m, "Status", &status) == NATS_OK && status != nullptr) {
      if (std::string_view(status) == "404") return NotFound(id);
      const char* why = nullptr;
      natsMsgHeader_Get(m, "Description", &why);
      return sg::Fail(ErrorCode::kUnavailable, "read job " + id + ": the server answered " +
                                                   status + (why ? std::string(" ") + why : ""));
    }
    const char* op = nullptr;
    if (natsMsgHeader_Get(m, "KV-Operation", &op) == NATS_OK && op != nullptr) return NotFound(id);
    const char* seq = nullptr;
    auto r = Decode(natsMsg_GetData(m), natsMsg_GetDataLength(m));
    if (!r || r->job.id != id || natsMsgHeader_Get(m, "Nats-Sequence", &seq) != NATS_OK ||
        seq == nullptr) {
      return sg::Fail(ErrorCode::kInternal, "job record " + id + " is corrupt");
    }
    r->revision = std::strtoull(seq, nullptr, 10);
    return std::move(*r);
  }

  // The payload, when it lives in a key of its own.
  Result<Job> Completed(Job job, bool external_payload = false) {
    if (!external_payload) return job;
    kvEntry* e = nullptr;
    const std::string key = "pay." + job.id;
    const natsStatus s = kvStore_Get(&e, kv_, key.c_str());
    if (s != NATS_OK) return NatsError(s, "read the payload of job " + job.id);
    job.payload.assign(static_cast<const char*>(kvEntry_Value(e)),
                       static_cast<size_t>(kvEntry_ValueLen(e)));
    kvEntry_Destroy(e);
    return job;
  }
  Result<Job> Completed(Record r) { return Completed(std::move(r.job), r.external_payload); }

  // Compare-and-set writes on the records' revisions, sent together; kFailedPrecondition for a
  // record that changed meanwhile. A written record takes its new revision.
  std::vector<Result<void>> WriteAll(const std::vector<std::pair<std::string, Record*>>& writes) {
    std::vector<NatsRequest> requests;
    requests.reserve(writes.size());
    for (const auto& [id, r] : writes) {
      NatsRequest q;
      q.subject = RecordSubject(id);
      q.data = Encode(*r);
      q.headers = {{"Nats-Expected-Last-Subject-Sequence", std::to_string(r->revision)}};
      requests.push_back(std::move(q));
    }
    auto acks = PublishTogether(requests, /*combined=*/true);
    std::vector<Result<void>> out;
    out.reserve(writes.size());
    for (size_t i = 0; i < writes.size(); ++i) {
      const auto& [id, r] = writes[i];
      if (!acks) {
        out.push_back(acks.error().Wrap("write job " + id));
        continue;
      }
      const JsPubReply& ack = (*acks)[i];
      if (ack.status == NATS_OK) {
        r->revision = ack.sequence;
        out.emplace_back();
      } else if (ack.err_code == JSStreamWrongLastSequenceErr) {
        out.push_back(sg::Fail(ErrorCode::kFailedPrecondition, "job " + id + " changed meanwhile"));
      } else {
        out.push_back(PubError(ack, "write job " + id));
      }
    }
    return out;
  }
  Result<void> Write(const std::string& id, Record& r) { return WriteAll({{id, &r}})[0]; }

  // The hint of a job: its id, with what Lease orders by in headers.
  NatsRequest Hint(const Job& j) const {
    NatsRequest r;
    r.subject = options_.prefix + ".jobs." + j.kind;
    r.data = j.id;
    r.headers = {{"Sg-Priority", std::to_string(j.priority)},
                 {"Sg-Run-At", std::to_string(j.run_at)},
                 {"Sg-Created-At", std::to_string(j.created_at)}};
    return r;
  }

  // Sends JetStream publishes together and reads their acks: one round trip for all. `combined`:
  // in a round with other threads' requests (NatsExchange::Combined).
  Result<std::vector<JsPubReply>> PublishTogether(const std::vector<NatsRequest>& requests,
                                                  bool combined = false) {
    auto replies = combined ? exchange_->Combined(requests, options_.request_timeout)
                            : exchange_->Exchange(requests, options_.request_timeout);
    if (!replies) return replies.error();
    std::vector<JsPubReply> out;
    out.reserve(replies->size());
    for (auto& reply : *replies) out.push_back(ParsePubReply(reply.get()));
    return out;
  }

  Error PubError(const JsPubReply& r, const std::string& what) const {
    if (r.status == NATS_ERR && !r.description.empty()) {
      return {ErrorCode::kInternal, what + ": " + r.description};
    }
    return NatsError(r.status, what);
  }

  Result<void> Publish(const Job& j) {
    auto acks = PublishTogether({Hint(j)});
    if (!acks) return acks.error().Wrap("dispatch job " + j.id);
    if ((*acks)[0].status != NATS_OK) return PubError((*acks)[0], "dispatch job " + j.id);
    return {};
  }

  // The hint and the record go out together, the hint first: a hint whose record is missing is
  // harmless (dropped after a few deliveries), a record without a hint would never run, so a
  // record whose hint the server refused is deleted again. A KV create is a publish to the
  // bucket's subject that expects no earlier value.
  Result<Job> Create(Job job) {
    const bool external = job.payload.size() > kInlinePayload;
    if (external) {
      const std::string key = "pay." + job.id;
      const natsStatus s = kvStore_Put(nullptr, kv_, key.c_str(), job.payload.data(),
                                       static_cast<int>(job.payload.size()));
      if (s != NATS_OK) return NatsError(s, "store the payload of job " + job.id);
    }
    const std::string key = "job." + job.id;
    Record record;
    record.job = job;
    record.external_payload = external;
    NatsRequest create;
    create.subject = RecordSubject(job.id);
    create.data = Encode(record);
    create.headers = {{"Nats-Expected-Last-Subject-Sequence", "0"}};
    auto acks = PublishTogether({Hint(job), create});
    if (!acks) return acks.error().Wrap("enqueue job " + job.id);
    const JsPubReply& hinted = (*acks)[0];
    const JsPubReply& created = (*acks)[1];
    if (hinted.status != NATS_OK) {
      if (created.status == NATS_OK) kvStore_Delete(kv_, key.c_str());
      return PubError(hinted, "dispatch job " + job.id);
    }
    if (created.status == NATS_OK) return job;
    if (created.err_code == JSStreamWrongLastSequenceErr) {
      // The key has a value: a record another Enqueue with the same idempotency key wrote first,
      // or the delete left by a refused hint (which kvStore_Create writes over).
      auto found = GetRecord(job.id);
      if (found) return Completed(std::move(*found));
      if (found.error().code != ErrorCode::kNotFound) return found.error();
      const natsStatus s = kvStore_Create(nullptr, kv_, key.c_str(), create.data.data(),
                                          static_cast<int>(create.data.size()));
      if (s == NATS_OK) return job;
      return NatsError(s, "store job " + job.id);
    }
    return PubError(created, "store job " + job.id);
  }

  // The bucket's stream republishes each record it stores (core NATS, its revision in the
  // Nats-Sequence header) to "<prefix>.rec.<id>": a Lease that has seen the queued record of its
  // hint so writes by compare-and-set at once, without reading it first. An optimisation only: a
  // note lost or stale costs a read (the CAS tells). A bucket made before this (the server cannot
  // add republishing to a stream) has none, and its Leases read as before.
  bool Republishes(const jsStreamConfig& cfg) const {
    const jsRePublish* rp = cfg.RePublish;
    return rp != nullptr && rp->Source != nullptr && rp->Destination != nullptr &&
           !rp->HeadersOnly && RecordSubject(">") == rp->Source &&
           NoteSubject(">") == rp->Destination;
  }
  std::string RecordSubject(const std::string& id) const {
    return "$KV." + options_.prefix + ".job." + id;
  }
  std::string NoteSubject(const std::string& id) const { return options_.prefix + ".rec." + id; }

  // Subscribes to the republished records (once, by the first kind this process leases: a
  // process that only enqueues has no use for them) and keeps those of `kind`. Without the
  // subscription (it failed) Leases read, as on a bucket that does not republish.
  void SubscribeNotes(const std::string& kind) {
    if (!republished_) return;
    std::lock_guard lock(notes_mu_);
    noted_kinds_.insert(kind);
    if (notes_ != nullptr || notes_failed_) return;
    natsStatus s = natsConnection_SubscribeSync(&notes_, conn_, NoteSubject(">").c_str());
    // Every process that leases sees every record written, drained at its next Lease: beyond
    // this much waiting, notes are dropped (those jobs' Leases read).
    if (s == NATS_OK) s = natsSubscription_SetPendingLimits(notes_, 4096, 2 * 1024 * 1024);
    if (s != NATS_OK) {
      if (notes_ != nullptr) natsSubscription_Destroy(notes_);
      notes_ = nullptr;
      notes_failed_ = true;
    }
  }

  // The queued record of `id` as last republished, if one came and is still its latest; drains
  // what has come first.
  std::optional<Record> TakeNoted(const std::string& id) {
    std::lock_guard lock(notes_mu_);
    if (notes_ == nullptr) return std::nullopt;
    for (;;) {
      natsMsg* m = nullptr;
      const natsStatus status = natsSubscription_NextMsg(&m, notes_, 0);
      if (status == NATS_SLOW_CONSUMER) {
        // Notes were dropped (said once, then the rest comes): what is kept may be stale.
        if (m != nullptr) natsMsg_Destroy(m);
        noted_.clear();
        noted_order_.clear();
        continue;
      }
      if (status != NATS_OK) break;
      Note(m);
      natsMsg_Destroy(m);
    }
    auto it = noted_.find(id);
    if (it == noted_.end()) return std::nullopt;
    Record r = std::move(it->second);
    noted_.erase(it);
    return r;
  }

  // One republished record (notes_mu_ held): kept while queued, forgotten once it is not. It
  // carries the headers a direct get's reply does (Nats-Sequence, KV-Operation for a delete).
  void Note(natsMsg* m) {
    const std::string_view subject(natsMsg_GetSubject(m));
    const size_t prefix = NoteSubject("").size();
    if (subject.size() <= prefix) return;
    const std::string id(subject.substr(prefix));
    const std::string_view data(natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m)));
    // Cheap refusals first: most notes are of records that are not queued (leases, successes).
    const std::string_view meta = data.substr(0, data.find('\n'));
    if (data.size() > kMaxNotedRecord || meta.find("\"state\":\"queued\"") == meta.npos) {
      noted_.erase(id);
      return;
    }
    auto r = RecordFromReply(m, id);
    if (!r || r->job.state != JobState::kQueued || !noted_kinds_.contains(r->job.kind)) {
      noted_.erase(id);
      return;
    }
    auto [it, fresh] = noted_.insert_or_assign(id, std::move(*r));
    if (!fresh) return;
    noted_order_.push_back(id);
    while (noted_order_.size() > kMaxNoted) {
      noted_.erase(noted_order_.front());  // the oldest (or a newer note of its id: a read then)
      noted_order_.pop_front();
    }
  }

  // The records of `ids` in one round trip (direct gets); a record missing, unreadable or too
  // large to keep is left out: its Lease reads it then.
  std::unordered_map<std::string, Record> ReadRecords(const std::vector<std::string>& ids) {
    std::unordered_map<std::string, Record> out;
    if (!direct_get_ || ids.empty()) return out;
    std::vector<NatsRequest> requests;
    requests.reserve(ids.size());
    for (const auto& id : ids) requests.push_back(DirectGet(id));
    auto replies = exchange_->Combined(requests, options_.request_timeout);
    if (!replies) return out;
    for (size_t i = 0; i < ids.size(); ++i) {
      natsMsg* m = (*replies)[i].get();
      if (m == nullptr || natsMsg_GetDataLength(m) > kCachedRecord) continue;
      if (auto r = RecordFromReply(m, ids[i])) out.emplace(ids[i], std::move(*r));
    }
    return out;
  }

  // Reads, lets `change` edit (or refuse), and writes by CAS, again on a conflict. `change`
  // returns true when the job needs a new hint (it becomes queued), published before the write.
  Result<Job> Change(const std::string& id, const std::function<Result<bool>(Record&)>& change) {
    if (auto c = Connected(); !c) return c.error();
    std::optional<Record> cached = Remembered(id);
    for (int attempt = 0;; ++attempt) {
      // First over what this store last wrote, if it leased the job; read when that was stale.
      const bool from_cache = cached.has_value();
      Result<Record> r = from_cache ? Result<Record>(std::move(*cached)) : GetRecord(id);
      cached.reset();
      if (!r) return r.error();
      auto hint = change(*r);
      if (!hint) {
        if (from_cache) continue;  // decide on the stored record
        ForgetRemembered(id);
        return hint.error();
      }
      if (*hint) {
        if (auto p = Publish(r->job); !p) return p.error();
      }
      auto w = Write(id, *r);
      if (w) {
        if (r->job.state == JobState::kRunning) {
          Remember(*r);
        } else {
          ForgetRemembered(id);
        }
        return Completed(std::move(*r));
      }
      if (w.error().code != ErrorCode::kFailedPrecondition || attempt + 1 >= kCasAttempts) {
        return w.error();
      }
    }
  }

  // Scans every record (List, Counts).
  Result<std::vector<Record>> Scan() {
    if (auto c = Connected(); !c) return c.error();
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    wo.IgnoreDeletes = true;
    wo.Timeout = options_.request_timeout.count();
    kvWatcher* w = nullptr;
    natsStatus s = kvStore_Watch(&w, kv_, "job.>", &wo);
    if (s != NATS_OK) return NatsError(s, "list jobs");
    std::vector<Record> out;
    for (;;) {
      kvEntry* e = nullptr;
      s = kvWatcher_Next(&e, w, options_.request_timeout.count());
      if (s != NATS_OK) break;
      if (e == nullptr) break;  // the initial values are all there
      auto r = Decode(static_cast<const char*>(kvEntry_Value(e)), kvEntry_ValueLen(e));
      if (r && kvEntry_Operation(e) == kvOp_Put) out.push_back(std::move(*r));
      kvEntry_Destroy(e);
    }
    kvWatcher_Destroy(w);
    if (s != NATS_OK) return NatsError(s, "list jobs");
    return out;
  }

  Result<KindState*> ForKind(const std::string& kind) {
    KindState* k = nullptr;
    {
      std::lock_guard lock(mu_);
      auto& slot = kinds_[kind];
      if (!slot) slot = std::make_unique<KindState>();
      k = slot.get();
    }
    std::lock_guard lock(k->mu);
    if (k->inbox != nullptr) return k;
    const std::string durable = options_.prefix + "_" + kind;
    const std::string subject = options_.prefix + ".jobs." + kind;
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = durable.c_str();
    cc.FilterSubject = subject.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = std::chrono::nanoseconds(options_.hint_ack_wait).count();
    cc.MaxDeliver = -1;
    // Hints of running and delayed jobs wait unacked (with a delay): allow many.
    cc.MaxAckPending = 1000000;
    jsConsumerInfo* ci = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_AddConsumer(&ci, js_, options_.prefix.c_str(), &cc, nullptr, &jerr);
    if (ci != nullptr) jsConsumerInfo_Destroy(ci);
    if (s != NATS_OK) return NatsError(s, "create the consumer of kind '" + kind + "'");
    natsInbox* inbox = nullptr;
    s = natsInbox_Create(&inbox);
    if (s != NATS_OK) return NatsError(s, "subscribe to kind '" + kind + "'");
    k->inbox_prefix = std::string(inbox) + ".";
    natsInbox_Destroy(inbox);
    s = natsConnection_SubscribeSync(&k->inbox, conn_, (k->inbox_prefix + "*").c_str());
    if (s != NATS_OK) return NatsError(s, "subscribe to kind '" + kind + "'");
    k->next_subject = "$JS.API.CONSUMER.MSG.NEXT." + options_.prefix + "." + durable;
    SubscribeNotes(kind);
    return k;
  }

  // A pull request for `want` hints, unless one is open: it stays open until it has brought
  // them or expires, so hints come as they are published.
  Result<void> Pull(KindState& k, int want) {
    const auto t = std::chrono::steady_clock::now();
    const uint64_t reconnects = reconnects_.load();
    if (k.pull_left > 0 && t < k.pull_until && k.reconnects == reconnects) return {};
    if (want <= 0) return {};
    ++k.pull;
    const std::string reply = k.inbox_prefix + std::to_string(k.pull);
    const std::string body = "{\"batch\":" + std::to_string(want) + ",\"expires\":" +
                             std::to_string(std::chrono::nanoseconds(kPullExpiry).count()) + "}";
    const natsStatus s = natsConnection_PublishRequest(conn_, k.next_subject.c_str(), reply.c_str(),
                                                       body.data(), static_cast<int>(body.size()));
    if (s != NATS_OK) return NatsError(s, "fetch jobs");
    k.pull_left = want;
    k.pull_until = t + kPullExpiry - std::chrono::milliseconds(100);
    k.reconnects = reconnects;
    return {};
  }

  // One message of the inbox: a hint (taken; how many more the consumer has to deliver) or the
  // status that ends a pull request (nullopt). A hint keeps its own subject; a status comes on
  // the request's reply subject.
  std::optional<uint64_t> Received(KindState& k, natsMsg* msg) {
    const char* status = nullptr;
    if (natsMsgHeader_Get(msg, "Status", &status) == NATS_OK && status != nullptr) {
      // 404 or 408 (nothing more, or expired), 409 (the consumer changed): the request ended.
      if (natsMsg_GetSubject(msg) == k.inbox_prefix + std::to_string(k.pull)) k.pull_left = 0;
      natsMsg_Destroy(msg);
      return std::nullopt;
    }
    // Only one request is open at a time (an earlier one brought all it asked for, or expired).
    if (k.pull_left > 0) --k.pull_left;
    const uint64_t pending = Meta(msg).pending;
    Take(k, msg);
    return pending;
  }

  // Replies to a hint as the JetStream API defines (the inbox is a plain subscription, so the
  // library's natsMsg_Ack does not apply): "+ACK", "-NAK" (with a delay), "+TERM".
  void ReplyToHint(natsMsg* msg, const std::string& what) {
    const char* reply = natsMsg_GetReply(msg);
    if (reply == nullptr || *reply == '\0') return;
    natsConnection_Publish(conn_, reply, what.data(), static_cast<int>(what.size()));
  }
  void AckHint(natsMsg* msg) { ReplyToHint(msg, "+ACK"); }
  void TermHint(natsMsg* msg) { ReplyToHint(msg, "+TERM"); }
  void NakHint(natsMsg* msg, int64_t delay_ms) {
    ReplyToHint(msg, delay_ms <= 0 ? std::string("-NAK")
                                   : "-NAK {\"delay\":" + std::to_string(delay_ms * 1000000) + "}");
  }

  // The stream sequence and delivery count of a hint, from its reply subject:
  // $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>, or
  // with a domain and an account hash after "$JS.ACK" (12 tokens).
  struct HintMeta {
    uint64_t seq = 0;
    uint64_t delivered = 0;
    uint64_t pending = 0;  // the consumer's messages still to deliver
  };
  static HintMeta Meta(natsMsg* msg) {
    HintMeta meta;
    const char* reply = natsMsg_GetReply(msg);
    if (reply == nullptr) return meta;
    std::vector<std::string_view> tokens;
    std::string_view rest(reply);
    for (size_t dot; (dot = rest.find('.')) != std::string_view::npos;
         rest.remove_prefix(dot + 1)) {
      tokens.push_back(rest.substr(0, dot));
    }
    tokens.push_back(rest);
    if (tokens.size() < 9 || tokens[0] != "$JS" || tokens[1] != "ACK") return meta;
    const size_t at = tokens.size() == 9 ? 4 : 6;  // the delivery count's token
    if (at + 4 >= tokens.size()) return meta;
    auto number = [&](size_t i) {
      return std::strtoull(std::string(tokens[i]).c_str(), nullptr, 10);
    };
    meta.delivered = number(at);
    meta.seq = number(at + 1);
    meta.pending = number(at + 4);  // after the consumer sequence and the time
    return meta;
  }

  // Takes the hints that have come into `known`; when none has and `may_wait` (no job is at
  // hand), waits up to `wait` for the first, without the kind's lock (`lock`, held otherwise),
  // so that the kind's other threads lease and finish meanwhile.
  Result<void> FetchHints(KindState& k, std::unique_lock<std::mutex>& lock, int64_t now,
                          std::chrono::milliseconds wait, bool may_wait) {
    int held = 0;
    for (const auto& [id, known] : k.known) held += known.msg != nullptr ? 1 : 0;
    const int want = options_.fetch_batch - held;
    if (want <= 0) return {};
    if (auto p = Pull(k, want); !p) return p.error();
    // A hint says how many more the consumer has for delivery: while that is not 0 and the
    // request asks for more, they are on their way (the server sends what it has at once), and
    // are waited for briefly, so that a Lease chooses among all there are, as the contract's
    // order wants, rather than among the first to arrive.
    uint64_t coming = 0;
    for (int taken = 0; taken < want;) {
      natsMsg* msg = nullptr;
      natsStatus s = NATS_OK;
      if (taken == 0 && may_wait) {
        may_wait = false;
        lock.unlock();
        s = natsSubscription_NextMsg(&msg, k.inbox, wait.count());
        lock.lock();
      } else {
        const int64_t timeout = coming > 0 && k.pull_left > 0 ? kBurstWait.count() : 0;
        s = natsSubscription_NextMsg(&msg, k.inbox, timeout);
      }
      if (s == NATS_TIMEOUT) break;
      if (s != NATS_OK) return NatsError(s, "fetch jobs");
      if (auto pending = Received(k, msg)) {
        ++taken;
        coming = *pending;
      } else if (taken == 0) {
        may_wait = true;  // a request's end, not a hint: still waiting for the first
      }
      if (k.pull_left == 0) {
        // The request ended (brought all or expired): another, for what is still wanted.
        if (auto p = Pull(k, want - taken); !p) return p.error();
      }
    }
    // The records of the runnable ones, read together: a Lease then needs only its write.
    std::vector<std::string> ids;
    for (const auto& [id, known] : k.known) {
      if (known.msg != nullptr && !known.busy && !known.record && known.due <= now) {
        ids.push_back(id);
      }
    }
    std::vector<std::string> unread;
    for (const auto& id : ids) {
      if (auto noted = TakeNoted(id)) {
        k.known[id].record = std::move(noted);
      } else {
        unread.push_back(id);
      }
    }
    if (unread.size() > 1) {
      for (auto& [id, record] : ReadRecords(unread)) {
        if (auto it = k.known.find(id); it != k.known.end()) it->second.record = std::move(record);
      }
    }
    return {};
  }

  static int64_t Header(natsMsg* msg, const char* name) {
    const char* v = nullptr;
    if (natsMsgHeader_Get(msg, name, &v) != NATS_OK || v == nullptr) return 0;
    return std::strtoll(v, nullptr, 10);
  }

  void Take(KindState& k, natsMsg* msg) {
    const std::string id(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
    if (!ValidId(id)) {  // not ours: drop it
      TermHint(msg);
      natsMsg_Destroy(msg);
      return;
    }
    const uint64_t seq = Meta(msg).seq;
    auto [it, fresh] = k.known.try_emplace(id);
    Known& known = it->second;
    if (!fresh && known.msg != nullptr) {
      // The same hint delivered again (AckWait passed): keep the newest delivery. A second hint
      // for the job (a retry's): one is enough.
      if (known.seq != seq) AckHint(known.msg);
      natsMsg_Destroy(known.msg);
    }
    if (!fresh) known.record.reset();  // delivered again: the record has likely changed
    known.msg = msg;
    known.seq = seq;
    known.priority = static_cast<int>(Header(msg, "Sg-Priority"));
    known.created_at = Header(msg, "Sg-Created-At");
    const int64_t run_at = Header(msg, "Sg-Run-At");
    // A hint that returns (a lease's length later, or a retry's) asks for a look at the record.
    known.due = fresh ? run_at : std::min(known.due, run_at);
  }

  void Forget(KindState& k, const std::string& id, bool ack) {
    auto it = k.known.find(id);
    if (it == k.known.end()) return;
    if (it->second.msg != nullptr) {
      if (ack) AckHint(it->second.msg);
      natsMsg_Destroy(it->second.msg);
    }
    k.known.erase(it);
  }

  // A hint whose record is not there (yet).
  void DropOrphan(KindState& k, const std::string& id, int64_t now) {
    auto it = k.known.find(id);
    if (it == k.known.end()) return;
    natsMsg* msg = it->second.msg;
    if (msg != nullptr && ++it->second.orphan_checks <= kOrphanChecks) {
      // Most likely its Enqueue is writing the record right now (the hint goes first): keep the
      // hint and look again at the next Lease, rather than after a server-side delay.
      it->second.due = now;
      return;
    }
    if (msg == nullptr) {
      k.known.erase(it);
      return;
    }
    const uint64_t delivered = Meta(msg).delivered;
    if (delivered >= kOrphanDeliveries) {
      AckHint(msg);
    } else {
      // Still no record: back to the server for a while (its Enqueue may have died).
      NakHint(msg, int64_t{10} << std::min<uint64_t>(delivered, 6));
    }
    natsMsg_Destroy(msg);
    k.known.erase(it);
  }

  void Trim(KindState& k) {
    while (k.known.size() > kMaxKnown) {
      auto far = k.known.end();
      for (auto it = k.known.begin(); it != k.known.end(); ++it) {
        if (it->second.msg == nullptr && (far == k.known.end() || it->second.due > far->second.due))
          far = it;
      }
      if (far == k.known.end()) return;
      k.known.erase(far);
    }
  }

  KindState* Existing(const std::string& kind) {
    std::lock_guard lock(mu_);
    auto it = kinds_.find(kind);
    return it == kinds_.end() ? nullptr : it->second.get();
  }

  void ForgetKnown(const std::string& kind, const std::string& id) {
    if (KindState* k = Existing(kind)) {
      std::lock_guard lock(k->mu);
      Forget(*k, id, /*ack=*/false);
    }
  }

  void Reschedule(const std::string& kind, const std::string& id, int64_t run_at) {
    if (KindState* k = Existing(kind)) {
      std::lock_guard lock(k->mu);
      auto it = k->known.find(id);
      if (it != k->known.end()) it->second.due = run_at;
    }
  }

  JetStreamJobStoreOptions options_;
  natsOptions* opts_ = nullptr;
  natsConnection* conn_ = nullptr;
  jsCtx* js_ = nullptr;
  kvStore* kv_ = nullptr;
  std::unique_ptr<NatsExchange> exchange_;
  std::atomic<uint64_t> reconnects_{0};
  bool direct_get_ = false;   // the bucket's stream answers direct gets (batched reads)
  bool republished_ = false;  // ... and republishes what it stores (Republishes)
  std::mutex notes_mu_;       // notes_, notes_failed_, noted_kinds_, noted_, noted_order_
  natsSubscription* notes_ = nullptr;
  bool notes_failed_ = false;
  std::set<std::string> noted_kinds_;              // the kinds this process leases
  std::unordered_map<std::string, Record> noted_;  // by id: queued records as republished
  std::deque<std::string> noted_order_;            // noted_'s ids, oldest first
  std::mutex mu_;                                  // kinds_, leased_
  std::map<std::string, std::unique_ptr<KindState>> kinds_;
  std::unordered_map<std::string, Record> leased_;  // by id: Remember
};

}  // namespace

std::string JetStreamPrefix(const std::string& subject_prefix) {
  std::string prefix = "SG_JOBS";
  if (!subject_prefix.empty()) prefix += "_";
  for (char c : subject_prefix) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    prefix += ok ? c : '_';
  }
  return prefix.substr(0, 32);
}

JetStreamJobStoreOptions JetStreamJobStoreOptionsFrom(const config::Config& config) {
  JetStreamJobStoreOptions js;
  js.connection = NatsConnectionFrom(config);
  js.prefix = JetStreamPrefix(config.String("nats.subject_prefix"));
  js.request_timeout = config.Duration("nats.request_timeout");
  js.reconnect_wait = config.Duration("nats.reconnect_wait");
  return js;
}

Result<std::shared_ptr<JobStore>> MakeJetStreamJobStore(const JetStreamJobStoreOptions& options) {
  auto store = std::make_shared<JetStreamJobStore>(options);
  if (auto r = store->Open(); !r) return r.error();
  return std::shared_ptr<JobStore>(std::move(store));
}

}  // namespace sg::plugins
