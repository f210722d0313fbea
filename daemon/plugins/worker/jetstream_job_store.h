// The job store of microservice mode, on NATS JetStream, so that every process reaches the same
// queue. The truth is a KV bucket: one record per job, changed only by compare-and-set on its
// revision, so a lease (and every state change) is exclusive across processes. Dispatch is a
// work-queue stream with one subject per kind and a durable pull consumer per kind: each message
// ("hint") names a job that may be runnable; Lease fetches hints, reads the records and takes
// the best by CAS. The hint of a leased job goes back to the stream with a delay of the lease,
// so that if its holder dies another process finds the expired lease when the hint returns; the
// hint is acked (removed) once its job is finished.
//
// What is exact and what is not (the JobStore contract with one process; several processes):
// - Within a process, Lease honours priority, then run_at, then age among the jobs of the kind
//   it has seen (every queued job whose hint it fetched: a fetch takes up to `fetch_batch` hints
//   per call, so with a backlog larger than that, priority holds within the fetched window and
//   the rest follows in stream order).
// - Times are the caller's `now` (tests pass their own clock). Across processes, a hint held by
//   a process that does not lease it returns to the others after `hint_ack_wait`, a delayed job
//   (backoff) returns at its run_at, and an expired lease is found when the hint returns after
//   the lease's length: these use the server's clock, so another process may see such a job up
//   to that much later than the contract's "runnable" moment; never earlier, never twice.
// - List and Counts read every record (a KV watch over "job.>"): fine for admin use, O(jobs).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/result.h"
#include "config/config.h"
#include "daemon/plugin_api/nats_connection.h"
#include "daemon/plugins/worker/job_store.h"

namespace sg::plugins {

struct JetStreamJobStoreOptions {
  /// The servers, credentials and TLS, as the bus has them (nats.*).
  NatsConnection connection = [] {
    NatsConnection c;
    c.urls = {"nats://127.0.0.1:4222"};
    return c;
  }();
  /// Names the stream ("<prefix>"), its subjects ("<prefix>.jobs.<kind>"), the KV bucket
  /// ("<prefix>", stream "KV_<prefix>") and the consumers ("<prefix>_<kind>"). [A-Za-z0-9_-]{1,32}.
  std::string prefix = "SG_JOBS";
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds request_timeout{2000};  // each JetStream / KV request
  std::chrono::milliseconds reconnect_wait{250};
  /// How long a fetched hint that this process does not lease stays with it before the server
  /// hands it to another process (the consumers' AckWait).
  std::chrono::milliseconds hint_ack_wait{2000};
  /// How long a Lease waits for new hints when none is there (it returns nullopt after).
  std::chrono::milliseconds fetch_wait{100};
  int fetch_batch = 64;         // hints fetched per Lease at most; 1..1024
  bool memory_storage = false;  // file storage (survives a server restart) unless set
};

/// Connects, and creates the stream and the bucket when they do not exist yet. kUnavailable when
/// the server cannot be reached or has no JetStream (-js), kInvalidArgument for bad options.
Result<std::shared_ptr<JobStore>> MakeJetStreamJobStore(const JetStreamJobStoreOptions& options);

/// The deployment's queue as every process of microservice mode reaches it: the connection of
/// the bus (nats.url, nats.urls, credentials, TLS), names from nats.subject_prefix (so that
/// deployments sharing a server keep apart, as their subjects do), nats.request_timeout and
/// nats.reconnect_wait. The worker plugin and the daemon's "worker" service in the other
/// processes both build their store from this, so that they always meet on one stream.
JetStreamJobStoreOptions JetStreamJobStoreOptionsFrom(const config::Config& config);

/// The stream, bucket and consumer prefix for nats.subject_prefix: "SG_JOBS_<prefix>", with
/// characters outside [A-Za-z0-9_-] as '_', at most 32 characters.
std::string JetStreamPrefix(const std::string& subject_prefix);

}  // namespace sg::plugins
