// The JetStream job store on a real `nats-server -js`: what only it has (several connections
// sharing one queue, a server restart, the hints behind dispatch). The JobStore contract itself
// is checked on every backend by job_store_test.cpp.
#include "daemon/plugins/worker/jetstream_job_store.h"

#include <atomic>
#include <set>
#include <thread>

#include <catch2/catch.hpp>
#include <nats/nats.h>

#include "tests/support/http_client.h"
#include "tests/support/nats_server.h"
#include "tests/support/process.h"

namespace sg::plugins {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kT0 = 1'800'000'000'000;  // the tests' clock, ms since the epoch

test::NatsServer& SharedServer() {
  static test::NatsServer server(/*jetstream=*/true);
  return server;
}

std::string FreshPrefix() {
  static std::atomic<int> n{0};
  return "T" + std::to_string(getpid()) + "_" + std::to_string(n++);
}

std::shared_ptr<JobStore> Open(const std::string& url, const std::string& prefix) {
  JetStreamJobStoreOptions options;
  options.connection.urls = {url};
  options.prefix = prefix;
  options.request_timeout = 1000ms;
  options.reconnect_wait = 50ms;
  options.hint_ack_wait = 500ms;  // hints held by one connection reach the other sooner
  auto store = MakeJetStreamJobStore(options);
  INFO((store ? "" : store.error().message));
  REQUIRE(store);
  return *store;
}

JobSpec Spec(const std::string& kind, const std::string& payload = "{}", int priority = 0) {
  JobSpec spec;
  spec.kind = kind;
  spec.payload = payload;
  spec.priority = priority;
  return spec;
}

TEST_CASE("jetstream store: enqueue, lease by priority, finish", "[worker][jetstream]") {
  auto store = Open(SharedServer().Url(), FreshPrefix());
  auto low = store->Enqueue(Spec("transcode", "low", -5), 3, kT0);
  auto high = store->Enqueue(Spec("transcode", "high", 50), 3, kT0 + 1);
  auto mid = store->Enqueue(Spec("transcode", "mid", 0), 3, kT0 + 2);
  REQUIRE(low);
  REQUIRE(high);
  REQUIRE(mid);
  CHECK(high->state == JobState::kQueued);
  CHECK(high->max_attempts == 3);

  std::vector<std::string> order;
  for (int i = 0; i < 3; ++i) {
    auto job = store->Lease("transcode", "w:1", 10s, kT0 + 10);
    REQUIRE(job);
    REQUIRE(job->has_value());
    CHECK((*job)->state == JobState::kRunning);
    CHECK((*job)->attempts == 1);
    CHECK((*job)->lease_owner == "w:1");
    CHECK((*job)->lease_until == kT0 + 10 + 10000);
    order.push_back((*job)->payload);
    REQUIRE(store->Succeed((*job)->id, "w:1", kT0 + 20));
  }
  CHECK(order == std::vector<std::string>{"high", "mid", "low"});
  auto none = store->Lease("transcode", "w:1", 10s, kT0 + 30);
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
  auto done = store->Get(high->id);
  REQUIRE(done);
  CHECK(done->state == JobState::kSucceeded);
  // Other kinds are not touched.
  auto other = store->Lease("thumbnail", "w:1", 10s, kT0 + 30);
  REQUIRE(other);
  CHECK_FALSE(other->has_value());
}

TEST_CASE("jetstream store: the caller's clock decides delays, backoff and lease expiry",
          "[worker][jetstream]") {
  auto store = Open(SharedServer().Url(), FreshPrefix());
  JobSpec spec = Spec("k");
  spec.delay = 60s;
  auto job = store->Enqueue(spec, 2, kT0);
  REQUIRE(job);
  CHECK(job->run_at == kT0 + 60000);
  auto early = store->Lease("k", "a", 5s, kT0 + 59999);
  REQUIRE(early);
  CHECK_FALSE(early->has_value());
  auto on_time = store->Lease("k", "a", 5s, kT0 + 60000);
  REQUIRE(on_time);
  REQUIRE(on_time->has_value());

  // A failure with a retry: queued again, runnable at retry_at.
  REQUIRE(store->Fail(job->id, "a", AttemptFailure{"disk full", kT0 + 70000}, kT0 + 61000));
  auto queued = store->Get(job->id);
  REQUIRE(queued);
  CHECK(queued->state == JobState::kQueued);
  CHECK(queued->last_error == "disk full");
  auto before = store->Lease("k", "a", 5s, kT0 + 69999);
  REQUIRE(before);
  CHECK_FALSE(before->has_value());
  auto second = store->Lease("k", "a", 5s, kT0 + 70000);
  REQUIRE(second);
  REQUIRE(second->has_value());
  CHECK((*second)->attempts == 2);

  // Its holder vanishes: once the lease expires another worker takes it over; the old holder's
  // calls fail with kFailedPrecondition.
  auto not_yet = store->Lease("k", "b", 5s, kT0 + 74999);
  REQUIRE(not_yet);
  CHECK_FALSE(not_yet->has_value());
  REQUIRE(store->Renew(job->id, "a", 5s, 0.5, kT0 + 74000));  // renewed: until 79000
  auto renewed = store->Lease("k", "b", 5s, kT0 + 78000);
  REQUIRE(renewed);
  CHECK_FALSE(renewed->has_value());
  // Expired: another worker takes it over (the worker, not the store, counts attempts out).
  auto expired = store->Lease("k", "b", 5s, kT0 + 79001);
  REQUIRE(expired);
  REQUIRE(expired->has_value());
  CHECK((*expired)->attempts == 3);
  auto renew = store->Renew(job->id, "a", 5s, 0.6, kT0 + 79002);
  REQUIRE_FALSE(renew);
  CHECK(renew.error().code == ErrorCode::kFailedPrecondition);
  REQUIRE(store->Fail(job->id, "b", AttemptFailure{"for good", std::nullopt}, kT0 + 79003));
  auto dead = store->Get(job->id);
  REQUIRE(dead);
  CHECK(dead->state == JobState::kDead);
  CHECK(dead->last_error == "for good");

  // Retried by hand: attempts reset, runs again.
  auto retried = store->Retry(job->id, kT0 + 80000);
  REQUIRE(retried);
  CHECK(retried->state == JobState::kQueued);
  CHECK(retried->attempts == 0);
  auto third = store->Lease("k", "b", 5s, kT0 + 80000);
  REQUIRE(third);
  REQUIRE(third->has_value());
  CHECK((*third)->attempts == 1);
  auto again = store->Retry(job->id, kT0 + 80001);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == ErrorCode::kFailedPrecondition);
}

TEST_CASE("jetstream store: an expired lease with attempts left is taken over",
          "[worker][jetstream]") {
  auto store = Open(SharedServer().Url(), FreshPrefix());
  auto job = store->Enqueue(Spec("k"), 5, kT0);
  REQUIRE(job);
  auto first = store->Lease("k", "a", 1s, kT0);
  REQUIRE(first);
  REQUIRE(first->has_value());
  auto taken = store->Lease("k", "b", 1s, kT0 + 1001);
  REQUIRE(taken);
  REQUIRE(taken->has_value());
  CHECK((*taken)->lease_owner == "b");
  CHECK((*taken)->attempts == 2);
  auto stale = store->Succeed(job->id, "a", kT0 + 1002);
  REQUIRE_FALSE(stale);
  CHECK(stale.error().code == ErrorCode::kFailedPrecondition);
  REQUIRE(store->Succeed(job->id, "b", kT0 + 1003));
}

TEST_CASE("jetstream store: cancel, idempotency keys, list and counts", "[worker][jetstream]") {
  auto store = Open(SharedServer().Url(), FreshPrefix());
  JobSpec spec = Spec("mail", "once");
  spec.idempotency_key = "order 42 / ünïcode";
  auto first = store->Enqueue(spec, 5, kT0);
  auto second = store->Enqueue(spec, 5, kT0 + 1);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->id == second->id);
  spec.kind = "sms";  // the key is per kind
  auto other_kind = store->Enqueue(spec, 5, kT0 + 2);
  REQUIRE(other_kind);
  CHECK(other_kind->id != first->id);

  // Cancel a queued job: it never runs.
  auto cancelled = store->Cancel(other_kind->id, kT0 + 3);
  REQUIRE(cancelled);
  CHECK(cancelled->state == JobState::kCancelled);
  auto none = store->Lease("sms", "w", 5s, kT0 + 4);
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
  auto twice = store->Cancel(other_kind->id, kT0 + 5);
  REQUIRE_FALSE(twice);
  CHECK(twice.error().code == ErrorCode::kFailedPrecondition);

  // Cancel a running job: its holder's Renew fails, then it acknowledges.
  auto running = store->Lease("mail", "w", 5s, kT0 + 6);
  REQUIRE(running);
  REQUIRE(running->has_value());
  REQUIRE(store->Cancel(first->id, kT0 + 7));
  auto renew = store->Renew(first->id, "w", 5s, 0.1, kT0 + 8);
  REQUIRE_FALSE(renew);
  CHECK(renew.error().code == ErrorCode::kFailedPrecondition);
  CHECK_FALSE(store->AcknowledgeCancel(first->id, "someone-else", kT0 + 9));
  REQUIRE(store->AcknowledgeCancel(first->id, "w", kT0 + 9));

  auto list = store->List(JobFilter{});
  REQUIRE(list);
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].id == other_kind->id);  // newest first
  CHECK((*list)[0].payload == "once");
  auto mail = store->List(JobFilter{std::nullopt, std::string("mail"), 100});
  REQUIRE(mail);
  REQUIRE(mail->size() == 1);
  CHECK(store->List(JobFilter{std::nullopt, std::nullopt, 0}).error().code ==
        ErrorCode::kInvalidArgument);
  auto counts = store->Counts();
  REQUIRE(counts);
  REQUIRE(counts->size() == 2);
  CHECK((*counts)[0].kind == "mail");
  CHECK((*counts)[0].state == JobState::kCancelled);
  CHECK((*counts)[0].count == 1);
}

TEST_CASE("jetstream store: bad input gets clear errors", "[worker][jetstream]") {
  auto store = Open(SharedServer().Url(), FreshPrefix());
  for (const std::string& id :
       std::vector<std::string>{"", "nope", "../../etc", "job.>", "01ARZ3NDEKTSV4RRFFQ69G5F.>",
                                std::string(5000, 'A'), std::string("\0x", 2)}) {
    auto got = store->Get(id);
    REQUIRE_FALSE(got);
    CHECK(got.error().code == ErrorCode::kNotFound);
  }
  for (const std::string& kind :
       std::vector<std::string>{"", "a.b", ">", "*", "UPPER", std::string(65, 'a')}) {
    auto lease = store->Lease(kind, "w", 1s, kT0);
    REQUIRE_FALSE(lease);
    CHECK(lease.error().code == ErrorCode::kInvalidArgument);
    CHECK(store->Enqueue(Spec(kind), 1, kT0).error().code == ErrorCode::kInvalidArgument);
  }
  JetStreamJobStoreOptions bad;
  bad.connection.urls = {SharedServer().Url()};
  bad.prefix = "has.dot";
  auto opened = MakeJetStreamJobStore(bad);
  REQUIRE_FALSE(opened);
  CHECK(opened.error().code == ErrorCode::kInvalidArgument);
  bad.prefix = "OK";
  bad.connection.urls = {"nats://127.0.0.1:1"};  // nothing listens there
  bad.connect_timeout = 500ms;
  opened = MakeJetStreamJobStore(bad);
  REQUIRE_FALSE(opened);
  CHECK(opened.error().code == ErrorCode::kUnavailable);

  // Payloads are opaque bytes, up to 1 MiB (stored beside the record when large).
  std::string binary(1 << 20, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i * 7);
  auto big = store->Enqueue(Spec("k", binary), 1, kT0);
  REQUIRE(big);
  auto leased = store->Lease("k", "w", 1s, kT0);
  REQUIRE(leased);
  REQUIRE(leased->has_value());
  CHECK((*leased)->payload == binary);
  auto small = store->Enqueue(Spec("k", std::string("\xff\xfe\0z", 4)), 1, kT0 + 1);
  REQUIRE(small);
  auto got = store->Get(small->id);
  REQUIRE(got);
  CHECK(got->payload == std::string("\xff\xfe\0z", 4));
}

TEST_CASE("jetstream store: a record damaged by hand is an error and not a crash",
          "[worker][jetstream]") {
  const std::string prefix = FreshPrefix();
  auto store = Open(SharedServer().Url(), prefix);
  auto job = store->Enqueue(Spec("k"), 1, kT0);
  REQUIRE(job);
  // Someone writes the record with fields of the wrong type (with the nats CLI, say).
  natsConnection* nc = nullptr;
  REQUIRE(natsConnection_ConnectTo(&nc, SharedServer().Url().c_str()) == NATS_OK);
  for (const std::string& bad :
       {std::string(R"({"state":"queued","attempts":"three","kind":"k"})") + "\n{}",
        std::string(R"({"state":7})") + "\n", std::string("[1,2]\n"), std::string("no newline")}) {
    const std::string subject = "$KV." + prefix + ".job." + job->id;
    REQUIRE(natsConnection_Publish(nc, subject.c_str(), bad.data(), static_cast<int>(bad.size())) ==
            NATS_OK);
    REQUIRE(natsConnection_Flush(nc) == NATS_OK);
    test::WaitFor([&] { return !store->Get(job->id); }, 5s);
    auto got = store->Get(job->id);
    REQUIRE_FALSE(got);
    INFO(got.error().message);
    CHECK(got.error().message.find(job->id) != std::string::npos);
  }
  natsConnection_Destroy(nc);
  // The store keeps serving: another job goes through.
  auto next = store->Enqueue(Spec("other"), 1, kT0);
  REQUIRE(next);
  auto leased = store->Lease("other", "w", 1s, kT0);
  REQUIRE(leased);
  REQUIRE(leased->has_value());
  CHECK((*leased)->id == next->id);
}

TEST_CASE("jetstream store: two connections never lease one job twice", "[worker][jetstream]") {
  const std::string prefix = FreshPrefix();
  auto a = Open(SharedServer().Url(), prefix);
  auto b = Open(SharedServer().Url(), prefix);
  constexpr int kJobs = 200;
  for (int i = 0; i < kJobs; ++i) REQUIRE(a->Enqueue(Spec("k", std::to_string(i)), 1, kT0));
  std::mutex mu;
  std::multiset<std::string> leased;
  // Both lease until every job was leased once, or the deadline passes (a lost job then fails
  // the count below).
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  auto run = [&](JobStore& store, const std::string& owner) {
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mu);
        if (leased.size() >= static_cast<size_t>(kJobs)) return;
      }
      auto job = store.Lease("k", owner, 60s, kT0 + 1);
      if (!job || !job->has_value()) continue;  // the other took the rest, or a hint is late
      {
        std::lock_guard lock(mu);
        leased.insert((*job)->id);
      }
      (void)store.Succeed((*job)->id, owner, kT0 + 2);
    }
  };
  std::thread ta([&] { run(*a, "a"); });
  std::thread tb([&] { run(*b, "b"); });
  ta.join();
  tb.join();
  std::set<std::string> unique(leased.begin(), leased.end());
  CHECK(leased.size() == static_cast<size_t>(kJobs));
  CHECK(unique.size() == static_cast<size_t>(kJobs));
}

// The bucket republishes each record with its revision, so that a Lease that saw the queued
// record needs no read before its compare-and-set. Two stores that both saw it race for it: one
// write wins, the other's CAS fails and it reads again.
TEST_CASE(
    "jetstream store: records are republished with their revision and racing on them leases each "
    "job once",
    "[worker][jetstream]") {
  const std::string url = SharedServer().Url();
  const std::string prefix = FreshPrefix();
  auto a = Open(url, prefix);
  auto b = Open(url, prefix);
  natsConnection* nc = nullptr;
  REQUIRE(natsConnection_ConnectTo(&nc, url.c_str()) == NATS_OK);
  natsSubscription* notes = nullptr;
  REQUIRE(natsConnection_SubscribeSync(&notes, nc, (prefix + ".rec.>").c_str()) == NATS_OK);
  REQUIRE(natsConnection_Flush(nc) == NATS_OK);
  // Both lease first (nothing yet), so both take the notes of what is enqueued next.
  REQUIRE(a->Lease("k", "a", 60s, kT0));
  REQUIRE(b->Lease("k", "b", 60s, kT0));

  auto first = a->Enqueue(Spec("k", "first"), 1, kT0);
  REQUIRE(first);
  natsMsg* m = nullptr;
  REQUIRE(natsSubscription_NextMsg(&m, notes, 5000) == NATS_OK);
  CHECK(std::string(natsMsg_GetSubject(m)) == prefix + ".rec." + first->id);
  const char* seq = nullptr;
  CHECK(natsMsgHeader_Get(m, "Nats-Sequence", &seq) == NATS_OK);
  CHECK(std::string(natsMsg_GetData(m), natsMsg_GetDataLength(m)).find("first") !=
        std::string::npos);
  natsMsg_Destroy(m);
  natsSubscription_Destroy(notes);
  natsConnection_Destroy(nc);

  constexpr int kJobs = 200;
  std::mutex mu;
  std::multiset<std::string> leased;
  std::atomic<bool> enqueued{false};
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  auto run = [&](JobStore& store, const std::string& owner) {
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mu);
        if (enqueued && leased.size() >= static_cast<size_t>(kJobs) + 1) return;
      }
      auto job = store.Lease("k", owner, 60s, kT0 + 1);
      if (!job || !job->has_value()) continue;
      {
        std::lock_guard lock(mu);
        leased.insert((*job)->id);
      }
      CHECK(store.Succeed((*job)->id, owner, kT0 + 2));
    }
  };
  // Jobs enqueued while both lease: each sees every record as it is written.
  std::thread ta([&] { run(*a, "a"); });
  std::thread tb([&] { run(*b, "b"); });
  for (int i = 0; i < kJobs; ++i) REQUIRE(a->Enqueue(Spec("k", std::to_string(i)), 1, kT0));
  enqueued = true;
  ta.join();
  tb.join();
  std::set<std::string> unique(leased.begin(), leased.end());
  CHECK(leased.size() == static_cast<size_t>(kJobs) + 1);
  CHECK(unique.size() == static_cast<size_t>(kJobs) + 1);
  auto counts = a->Counts();
  REQUIRE(counts);
  REQUIRE(counts->size() == 1);
  CHECK((*counts)[0].state == JobState::kSucceeded);
  CHECK((*counts)[0].count == kJobs + 1);
}

// A bucket made before records were republished (the server cannot add that to a stream): the
// store keeps working, its Leases read each record.
TEST_CASE("jetstream store: a bucket made without republishing still serves",
          "[worker][jetstream]") {
  const std::string url = SharedServer().Url();
  const std::string prefix = FreshPrefix();
  {
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    kvStore* kv = nullptr;
    REQUIRE(natsConnection_ConnectTo(&nc, url.c_str()) == NATS_OK);
    REQUIRE(natsConnection_JetStream(&js, nc, nullptr) == NATS_OK);
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = prefix.c_str();
    kc.History = 1;
    REQUIRE(js_CreateKeyValue(&kv, js, &kc) == NATS_OK);
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
  }
  auto store = Open(url, prefix);
  REQUIRE(store->Lease("k", "w", 60s, kT0));
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto job = store->Enqueue(Spec("k", std::to_string(i)), 1, kT0);
    REQUIRE(job);
    ids.insert(job->id);
  }
  std::set<std::string> leased;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (leased.size() < ids.size() && std::chrono::steady_clock::now() < deadline) {
    auto job = store->Lease("k", "w", 60s, kT0 + 1);
    REQUIRE(job);
    if (!job->has_value()) continue;
    leased.insert((*job)->id);
    REQUIRE(store->Succeed((*job)->id, "w", kT0 + 2));
  }
  CHECK(leased == ids);
}

TEST_CASE("jetstream store: a nats-server restart: unavailable while down, jobs kept",
          "[worker][jetstream]") {
  test::NatsServer server(/*jetstream=*/true);
  auto store = Open(server.Url(), "RESTART");
  auto kept = store->Enqueue(Spec("k", "kept"), 3, kT0);
  REQUIRE(kept);
  auto running = store->Enqueue(Spec("k", "running"), 3, kT0 + 1);
  REQUIRE(running);
  auto leased = store->Lease("k", "w", 5s, kT0 + 2);
  REQUIRE(leased);
  REQUIRE(leased->has_value());
  CHECK((*leased)->payload == "kept");

  server.Stop();
  // The client notices the closed socket at once; every call says so, none hangs or crashes.
  REQUIRE(test::WaitFor(
      [&] {
        auto r = store->Get(kept->id);
        return !r && r.error().code == ErrorCode::kUnavailable;
      },
      10s));
  auto enqueue = store->Enqueue(Spec("k"), 3, kT0 + 3);
  REQUIRE_FALSE(enqueue);
  CHECK(enqueue.error().code == ErrorCode::kUnavailable);
  CHECK(enqueue.error().message.find("nats-server") != std::string::npos);
  auto lease = store->Lease("k", "w", 5s, kT0 + 3);
  REQUIRE_FALSE(lease);
  CHECK(lease.error().code == ErrorCode::kUnavailable);
  CHECK(store->Renew(kept->id, "w", 5s, 0.5, kT0 + 3).error().code == ErrorCode::kUnavailable);
  CHECK(store->List(JobFilter{}).error().code == ErrorCode::kUnavailable);

  server.Start();
  REQUIRE(test::WaitFor([&] { return store->Get(kept->id).has_value(); }, 20s));
  // The file store kept both jobs, the lease included.
  auto after = store->Get(kept->id);
  REQUIRE(after);
  CHECK(after->state == JobState::kRunning);
  CHECK(after->lease_owner == "w");
  REQUIRE(store->Succeed(kept->id, "w", kT0 + 4));
  std::optional<Job> next;
  REQUIRE(test::WaitFor(
      [&] {
        auto r = store->Lease("k", "w", 5s, kT0 + 5);
        if (r && r->has_value()) next = **r;
        return next.has_value();
      },
      20s));
  CHECK(next->id == running->id);
  REQUIRE(store->Succeed(next->id, "w", kT0 + 6));

  // A new store (a process started after the restart) sees the same queue.
  auto fresh = Open(server.Url(), "RESTART");
  auto counts = fresh->Counts();
  REQUIRE(counts);
  REQUIRE(counts->size() == 1);
  CHECK(counts->front().state == JobState::kSucceeded);
  CHECK(counts->front().count == 2);
}

}  // namespace
TEST_CASE(
    "the store reaches a nats-server that requires a user and password, with the bus's "
    "connection settings",
    "[jobs][jetstream]") {
  (void)SharedServer();  // exits 77 when nats-server is not installed
  test::TempDir dir;
  const uint16_t port = test::FreePort();
  test::Process server({test::NatsServer::Binary(), "-js", "-sd", dir.path(), "-a", "127.0.0.1",
                        "-p", std::to_string(port), "--user", "sg", "--pass", "s3cret"},
                       dir);
  REQUIRE(test::WaitForPort(port, 10s));
  JetStreamJobStoreOptions options;
  options.connection.urls = {"nats://127.0.0.1:" + std::to_string(port)};
  options.prefix = FreshPrefix();
  options.connect_timeout = 1000ms;

  // Without credentials the server refuses: an error, not a crash, and no password in it.
  auto refused = MakeJetStreamJobStore(options);
  REQUIRE_FALSE(refused);
  options.connection.user = "sg";
  options.connection.password = "wrong";
  refused = MakeJetStreamJobStore(options);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("wrong") == std::string::npos);

  options.connection.password = "s3cret";
  auto store = MakeJetStreamJobStore(options);
  INFO((store ? "" : store.error().message));
  REQUIRE(store);
  auto job = (*store)->Enqueue(Spec("k"), 3, kT0);
  REQUIRE(job);
  auto leased = (*store)->Lease("k", "w", 1s, kT0);
  REQUIRE(leased);
  REQUIRE(leased->has_value());
  CHECK((*leased)->id == job->id);
}

}  // namespace sg::plugins
