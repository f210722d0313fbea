// The JobStore contract (job_store.h), one suite over every store of tests/support/job_stores.h,
// with the clock passed in: state, order, leases, retries, cancels and bad input.
#include "daemon/plugins/worker/job_store.h"

#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/job_stores.h"

namespace sg {
namespace {

using plugins::AttemptFailure;
using plugins::JobStore;
using std::chrono::milliseconds;

constexpr int64_t kNow = 1'800'000'000'000;  // ms since the epoch, any fixed time
constexpr milliseconds kLease{30000};

JobSpec Spec(const std::string& kind, const std::string& payload = "{}") {
  JobSpec spec;
  spec.kind = kind;
  spec.payload = payload;
  return spec;
}

Job MustEnqueue(JobStore& store, const JobSpec& spec, int64_t now = kNow) {
  auto job = store.Enqueue(spec, 5, now);
  if (!job) FAIL("enqueue: " << job.error().message);
  return *job;
}

std::optional<Job> MustLease(JobStore& store, const std::string& kind, const std::string& owner,
                             int64_t now, milliseconds lease = kLease) {
  auto job = store.Lease(kind, owner, lease, now);
  if (!job) FAIL("lease: " << job.error().message);
  return *job;
}

TEST_CASE("a job store keeps what is enqueued and lists and counts it", "[jobs]") {
  for (const auto& backend : test::JobStoreBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto store = backend.open_fresh();
      REQUIRE(store);
      JobSpec spec = Spec("transcode", R"({"video":"v1"})");
      spec.priority = 7;

      Job a = MustEnqueue(*store, spec, kNow);
      Job b = MustEnqueue(*store, Spec("transcode"), kNow + 1);
      Job c = MustEnqueue(*store, Spec("delete-video"), kNow + 2);

      CHECK(a.id.size() == 26);
      CHECK(a.id < b.id);
      CHECK(a.kind == "transcode");
      CHECK(a.payload == R"({"video":"v1"})");
      CHECK(a.priority == 7);
      CHECK(a.state == JobState::kQueued);
      CHECK(a.attempts == 0);
      CHECK(a.max_attempts == 5);
      CHECK(a.created_at == kNow);
      CHECK(a.run_at == kNow);
      auto got = store->Get(a.id);
      REQUIRE(got);
      CHECK(got->payload == a.payload);
      CHECK(got->priority == 7);

      auto all = store->List({});
      REQUIRE(all);
      REQUIRE(all->size() == 3);
      CHECK(all->at(0).id == c.id);  // newest first
      CHECK(all->at(2).id == a.id);
      JobFilter by_kind;
      by_kind.kind = "transcode";
      by_kind.limit = 1;
      auto one = store->List(by_kind);
      REQUIRE(one);
      REQUIRE(one->size() == 1);
      CHECK(one->at(0).id == b.id);
      JobFilter running;
      running.state = JobState::kRunning;
      auto none = store->List(running);
      REQUIRE(none);
      CHECK(none->empty());

      auto counts = store->Counts();
      REQUIRE(counts);
      int64_t transcode_queued = 0;
      int64_t total = 0;
      for (const auto& count : *counts) {
        total += count.count;
        if (count.kind == "transcode" && count.state == JobState::kQueued) {
          transcode_queued = count.count;
        }
      }
      CHECK(transcode_queued == 2);
      CHECK(total == 3);

      auto missing = store->Get("01ARZ3NDEKTSV4RRFFQ69G5FAV");
      REQUIRE_FALSE(missing);
      CHECK(missing.error().code == ErrorCode::kNotFound);
      JobFilter bad;
      bad.limit = 0;
      auto refused = store->List(bad);
      REQUIRE_FALSE(refused);
      CHECK(refused.error().code == ErrorCode::kInvalidArgument);
      CHECK_THAT(refused.error().message, Catch::Contains("limit"));
    }
  }
}

TEST_CASE("a job store returns the first job for a repeated idempotency key", "[jobs]") {
  for (const auto& backend : test::JobStoreBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto store = backend.open_fresh();
      REQUIRE(store);
      JobSpec spec = Spec("transcode", "first");
      spec.idempotency_key = "upload-42";

      Job first = MustEnqueue(*store, spec);
      spec.payload = "second";
      Job again = MustEnqueue(*store, spec, kNow + 5);
      JobSpec other_kind = spec;
      other_kind.kind = "thumbnail";
      Job other = MustEnqueue(*store, other_kind);
      Job no_key_1 = MustEnqueue(*store, Spec("transcode"));
      Job no_key_2 = MustEnqueue(*store, Spec("transcode"));

      CHECK(again.id == first.id);
      CHECK(again.payload == "first");
      CHECK(again.idempotency_key == "upload-42");
      CHECK(other.id != first.id);
      CHECK(no_key_1.id != no_key_2.id);
      CHECK(no_key_1.idempotency_key.empty());

      // Still the same job once it has finished: a retried request makes no second job.
      auto leased = MustLease(*store, "transcode", "w1", kNow + 10);
      REQUIRE(leased);
      REQUIRE(leased->id == first.id);
      REQUIRE(store->Succeed(first.id, "w1", kNow + 11));
      Job after = MustEnqueue(*store, spec, kNow + 12);
      CHECK(after.id == first.id);
      CHECK(after.state == JobState::kSucceeded);
    }
  }
}

TEST_CASE("a job store leases by priority, then run_at, then age", "[jobs]") {
  for (const auto& backend : test::JobStoreBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto store = backend.open_fresh();
      REQUIRE(store);
      JobSpec low = Spec("k", "low");
      low.priority = -5;
      JobSpec high = Spec("k", "high");
      high.priority = 10;
      JobSpec later = Spec("k", "later");
      later.delay = milliseconds(100);
      JobSpec old = Spec("k", "old");
      JobSpec young = Spec("k", "young");
      MustEnqueue(*store, low, kNow);
      MustEnqueue(*store, later, kNow - 1000);  // run_at kNow - 900
      MustEnqueue(*store, young, kNow - 10);
      MustEnqueue(*store, old, kNow - 20);
      MustEnqueue(*store, high, kNow);
      MustEnqueue(*store, Spec("other"), kNow - 5000);

      std::vector<std::string> order;
      while (auto job = MustLease(*store, "k", "w", kNow)) order.push_back(job->payload);

      CHECK(order == std::vector<std::string>{"high", "later", "old", "young", "low"});
    }
  }
}

TEST_CASE("a job store does not lease a job before its delay or backoff", "[jobs]") {
  for (const auto& backend : test::JobStoreBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto store = backend.open_fresh();
      REQUIRE(store);
      JobSpec spec = Spec("k");
      spec.delay = milliseconds(500);
      Job job = MustEnqueue(*store, spec);
      CHECK(job.run_at == kNow + 500);

      CHECK_FALSE(MustLease(*store, "k", "w", kNow + 499));
      auto leased = MustLease(*store, "k", "w", kNow + 500);
      REQUIRE(leased);
      CHECK(leased->state == JobState::kRunning);
      CHECK(leased->attempts == 1);
      CHECK(leased->lease_owner == "w");
      CHECK(leased->lease_until == kNow + 500 + kLease.count());

      REQUIRE(store->Fail(job.id, "w", AttemptFailure{"disk full", kNow + 2000}, kNow + 600));
      auto queued = store->Get(job.id);
      REQUIRE(queued);
      CHECK(queued->state == JobState::kQueued);
      CHECK(queued->last_error == "disk full");
      CHECK(queued->run_at == kNow + 2000);
      CHECK(queued->lease_owner.empty());
      CHECK_FALSE(MustLease(*store, "k", "w", kNow + 1999));
      auto second = MustLease(*store, "k", "w", kNow + 2000);
      REQUIRE(second);
      CHECK(second->attempts == 2);
    }
  }
}

TEST_CASE("a job store ends a job dead when its attempt fails for good", "[jobs]") {
  for (const auto& backend : test::JobStoreBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto store = backend.open_fresh();
      REQUIRE(store);
      JobSpec spec = Spec("k");
      spec.max_attempts = 2;
      Job job = MustEnqueue(*store, spec);
      CHECK(job.max_attempts == 2);

      REQUIRE(MustLease(*store, "k", "w", kNow));
      REQUIRE(store->Fail(job.id, "w", AttemptFailure{"first", kNow + 10}, kNow + 1));
      auto second = MustLease(*store, "k", "w", kNow + 10);
      REQUIRE(second);
      REQUIRE(second->attempts == 2);
      REQUIRE(store->Fail(job.id, "w", AttemptFailure{"second", std::nullopt}, kNow + 11));

      auto dead = store->Get(job.id);
      REQUIRE(dead);
      CHECK(dead->state == JobState::kDead);
      CHECK(dead->last_error == "second");
      CHECK(dead->attempts == 2);
      CHECK_FALSE(MustLease(*store, "k", "w", kNow + 100000));
    }
  }
}

TEST_CASE("two owners leasing at once from threads each get distinct jobs", "[jobs]") {
  for (const auto& backend : test::JobStoreBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto store = backend.open_fresh();
      REQUIRE(store);
      constexpr int kJobs = 60;
      for (int i = 0; i < kJobs; ++i) MustEnqueue(*store, Spec("k", std::to_string(i)));

      std::vector<std::string> got[2];
      std::atomic<int> errors{0};
      auto lease_all = [&](int who) {
        for (;;) {
          auto job = store->Lease("k", "owner-" + std::to_string(who), kLease, kNow);
          if (!job) {
            ++errors;
            continue;  // a busy database: ask again
          }
          if (!*job) return;
          got[who].push_back((*job)->id);
        }
      };
      std::thread a(lease_all, 0);
      std::thread b(lease_all, 1);
      a.join();
      b.join();

      CHECK(errors == 0);
      std::set<std::string> all(got[0].begin(), got[0].end());
      all.insert(got[1].begin(), got[1].end());
      CHECK(got[0].size() + got[1].size() == kJobs);
      CHECK(all.size() == kJobs);
    }
  }
}

TEST_CASE("an expired lease goes to another owner and the old one can no longer finish", "[jobs]") {
  for (const auto& backend : test::JobStoreBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto store = backend.open_fresh();
      REQUIRE(store);
      Job job = MustEnqueue(*store, Spec("k"));
      REQUIRE(MustLease(*store, "k", "old", kNow, milliseconds(1000)));

      CHECK_FALSE(MustLease(*store, "k", "new", kNow + 999));
      REQUIRE(store->Renew(job.id, "old", milliseconds(1000), 0.25, kNow + 500));
      auto renewed = store->Get(job.id);
      REQUIRE(renewed);
      CHECK(renewed->lease_until == kNow + 1500);
      CHECK(renewed->progress == Approx(0.25));
      CHECK_FALSE(MustLease(*store, "k", "new", kNow + 1499));
      auto taken = MustLease(*store, "k", "new", kNow + 1500, milliseconds(1000));

      REQUIRE(taken);
      CHECK(taken->id == job.id);
      CHECK(taken->lease_owner == "new");
      CHECK(taken->attempts == 2);
      auto renew = store->Renew(job.id, "old", milliseconds(1000), 0.5, kNow + 1600);
      REQUIRE_FALSE(renew);
      CHECK(renew.error().code == ErrorCode::kFailedPrecondition);
      auto succeed = store->Succeed(job.id, "old", kNow + 1600);
      REQUIRE_FALSE(succeed);
      CHECK(succeed.error().code == ErrorCode::kFailedPrecondition);
      auto fail = store->Fail(job.id, "old", AttemptFailure{"x", std::nullopt}, kNow + 1600);
      REQUIRE_FALSE(fail);
      CHECK(fail.error().code == ErrorCode::kFailedPrecondition);
      REQUIRE(store->Succeed(job.id, "new", kNow + 1700));
      auto done = store->Get(job.id);
      REQUIRE(done);
      CHECK(done->state == JobState::kSucceeded);
      CHECK(done->lease_owner.empty());
      auto late = store->Renew(job.id, "new", milliseconds(1000), 1, kNow + 1800);
      REQUIRE_FALSE(late);
      CHECK(late.error().code == ErrorCode::kFailedPrecondition);
    }
  }
}

TEST_CASE("a job store cancels queued jobs at once and running ones through the holder", "[jobs]") {
  for (const auto& backend : test::JobStoreBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto store = backend.open_fresh();
      REQUIRE(store);
      Job queued = MustEnqueue(*store, Spec("k"));
      auto cancelled = store->Cancel(queued.id, kNow + 1);
      REQUIRE(cancelled);
      CHECK(cancelled->state == JobState::kCancelled);
      CHECK_FALSE(MustLease(*store, "k", "w", kNow + 2));

      Job running = MustEnqueue(*store, Spec("k"));
      REQUIRE(MustLease(*store, "k", "w", kNow + 3));
      auto marked = store->Cancel(running.id, kNow + 4);
      REQUIRE(marked);
      CHECK(marked->state == JobState::kRunning);
      auto renew = store->Renew(running.id, "w", kLease, 0.5, kNow + 5);
      REQUIRE_FALSE(renew);
      CHECK(renew.error().code == ErrorCode::kFailedPrecondition);
      CHECK_THAT(renew.error().message, Catch::Contains("cancelled"));
      auto succeed = store->Succeed(running.id, "w", kNow + 5);
      REQUIRE_FALSE(succeed);
      CHECK(succeed.error().code == ErrorCode::kFailedPrecondition);
      auto not_owner = store->AcknowledgeCancel(running.id, "someone-else", kNow + 6);
      REQUIRE_FALSE(not_owner);
      CHECK(not_owner.error().code == ErrorCode::kFailedPrecondition);
      REQUIRE(store->AcknowledgeCancel(running.id, "w", kNow + 6));
      auto ended = store->Get(running.id);
      REQUIRE(ended);
      CHECK(ended->state == JobState::kCancelled);

      auto twice = store->Cancel(running.id, kNow + 7);
      REQUIRE_FALSE(twice);
      CHECK(twice.error().code == ErrorCode::kFailedPrecondition);
      auto unknown = store->Cancel("no-such-job", kNow + 7);
      REQUIRE_FALSE(unknown);
      CHECK(unknown.error().code == ErrorCode::kNotFound);
    }
  }
}

TEST_CASE("a cancelled running job whose holder died ends cancelled, not run again", "[jobs]") {
  for (const auto& backend : test::JobStoreBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto store = backend.open_fresh();
      REQUIRE(store);
      Job job = MustEnqueue(*store, Spec("k"));
      REQUIRE(MustLease(*store, "k", "dies", kNow, milliseconds(1000)));
      REQUIRE(store->Cancel(job.id, kNow + 10));

      CHECK_FALSE(MustLease(*store, "k", "w", kNow + 5000));

      auto ended = store->Get(job.id);
      REQUIRE(ended);
      CHECK(ended->state == JobState::kCancelled);
    }
  }
}

TEST_CASE("a dead or cancelled job runs again after a retry, others refuse it", "[jobs]") {
  for (const auto& backend : test::JobStoreBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto store = backend.open_fresh();
      REQUIRE(store);
      JobSpec spec = Spec("k");
      spec.max_attempts = 1;
      Job dead = MustEnqueue(*store, spec);
      REQUIRE(MustLease(*store, "k", "w", kNow));
      REQUIRE(store->Fail(dead.id, "w", AttemptFailure{"boom", std::nullopt}, kNow + 1));
      Job cancelled = MustEnqueue(*store, Spec("k"));
      REQUIRE(store->Cancel(cancelled.id, kNow + 2));
      Job queued = MustEnqueue(*store, Spec("k"), kNow + 3);

      auto retried = store->Retry(dead.id, kNow + 10);
      REQUIRE(retried);
      CHECK(retried->state == JobState::kQueued);
      CHECK(retried->attempts == 0);
      CHECK(retried->run_at == kNow + 10);
      REQUIRE(store->Retry(cancelled.id, kNow + 10));
      auto refused = store->Retry(queued.id, kNow + 10);
      REQUIRE_FALSE(refused);
      CHECK(refused.error().code == ErrorCode::kFailedPrecondition);
      CHECK_THAT(refused.error().message, Catch::Contains("queued"));
      auto unknown = store->Retry("nope", kNow);
      REQUIRE_FALSE(unknown);
      CHECK(unknown.error().code == ErrorCode::kNotFound);

      std::set<std::string> leased;
      while (auto job = MustLease(*store, "k", "w", kNow + 20)) leased.insert(job->id);
      CHECK(leased == std::set<std::string>{dead.id, cancelled.id, queued.id});
    }
  }
}

TEST_CASE("a job store refuses bad specs, naming the field", "[jobs]") {
  for (const auto& backend : test::JobStoreBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto store = backend.open_fresh();
      REQUIRE(store);
      struct Case {
        JobSpec spec;
        std::string field;
      };
      std::vector<Case> cases;
      for (std::string kind :
           {std::string(), std::string("Transcode"), std::string("a b"), std::string(65, 'a'),
            std::string("k\n"), std::string("k\0x", 3), std::string("é")}) {
        cases.push_back({Spec(kind), "kind"});
      }
      JobSpec big = Spec("k", std::string((1 << 20) + 1, 'x'));
      cases.push_back({big, "payload"});
      for (int priority : {101, -101, 1 << 30}) {
        JobSpec spec = Spec("k");
        spec.priority = priority;
        cases.push_back({spec, "priority"});
      }
      JobSpec attempts = Spec("k");
      attempts.max_attempts = -1;
      cases.push_back({attempts, "max_attempts"});
      JobSpec delay = Spec("k");
      delay.delay = milliseconds(-1);
      cases.push_back({delay, "delay"});
      JobSpec key = Spec("k");
      key.idempotency_key = std::string(1000, 'k');
      cases.push_back({key, "idempotency_key"});

      for (const auto& c : cases) {
        auto job = store->Enqueue(c.spec, 5, kNow);
        INFO(c.field << " " << c.spec.kind);
        REQUIRE_FALSE(job);
        CHECK(job.error().code == ErrorCode::kInvalidArgument);
        CHECK_THAT(job.error().message, Catch::Contains(c.field));
      }
      auto list = store->List({});
      REQUIRE(list);
      CHECK(list->empty());

      // Nor do ids, kinds and leases that no job could have reach the database.
      for (const std::string& id : {std::string(), std::string("\xff\xfe"), std::string("a\0b", 3),
                                    std::string(10000, 'x')}) {
        auto got = store->Get(id);
        REQUIRE_FALSE(got);
        CHECK(got.error().code == ErrorCode::kNotFound);
        auto cancel = store->Cancel(id, kNow);
        REQUIRE_FALSE(cancel);
        CHECK(cancel.error().code == ErrorCode::kNotFound);
      }
      JobFilter bad_kind;
      bad_kind.kind = "\xff";
      auto by_bad_kind = store->List(bad_kind);
      REQUIRE_FALSE(by_bad_kind);
      CHECK(by_bad_kind.error().code == ErrorCode::kInvalidArgument);
      for (auto lease : {milliseconds(0), milliseconds(-5), milliseconds(INT64_MAX)}) {
        auto leased = store->Lease("k", "w", lease, kNow);
        REQUIRE_FALSE(leased);
        CHECK(leased.error().code == ErrorCode::kInvalidArgument);
      }
    }
  }
}

TEST_CASE("a job store keeps any payload byte for byte, up to 1 MiB", "[jobs]") {
  for (const auto& backend : test::JobStoreBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto store = backend.open_fresh();
      REQUIRE(store);
      std::string binary;
      for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
      const std::vector<std::string> payloads = {"",
                                                 binary,
                                                 std::string("\xff\xfe", 2),
                                                 "h\xc3\xa9llo \xf0\x9f\x8e\xac",
                                                 std::string(1 << 20, 'p'),
                                                 "'); DROP TABLE jobs; --"};

      for (const auto& payload : payloads) {
        Job job = MustEnqueue(*store, Spec("k", payload));
        auto got = store->Get(job.id);
        REQUIRE(got);
        CHECK(got->payload.size() == payload.size());
        CHECK(got->payload == payload);
      }
      auto list = store->List({});
      REQUIRE(list);
      CHECK(list->size() == payloads.size());
    }
  }
}

}  // namespace
}  // namespace sg
