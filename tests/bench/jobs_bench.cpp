// Job queue throughput and latency: JetStream bare (a work-queue stream, a pull consumer, acks)
// beside our job queue on JetStream and on SQLite, each job run by the real worker (worker.h)
// with a no-op handler. The aim: ours on JetStream at least half of bare JetStream.
//
//   bench_jobs [JOBS] [CONCURRENCY] [ROUNDS]   (defaults 5000, 2 as worker.concurrency, 3; it
//   starts its own nats-server -js on a free loopback port)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <nats/nats.h>

#include "daemon/plugin_api/nats_connection.h"
#include "daemon/plugin_api/sql.h"
#include "daemon/plugins/worker/jetstream_job_store.h"
#include "daemon/plugins/worker/sql_job_store.h"
#include "daemon/plugins/worker/worker.h"
#include "tests/support/bench_stats.h"
#include "tests/support/nats_server.h"
#include "tests/support/process.h"

namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Figures {
  std::string calls;  // TimedStore::Summary
  double per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double client_us = 0;  // CPU (user + system) per job: this program, then nats-server
  double server_us = 0;
  bool ok = false;
};

Figures Summarize(const std::vector<double>& latencies_ms, double seconds) {
  Figures f;
  f.per_second = seconds > 0 ? static_cast<double>(latencies_ms.size()) / seconds : 0;
  f.p50_ms = sg::test::Percentile(latencies_ms, 0.50);
  f.p99_ms = sg::test::Percentile(latencies_ms, 0.99);
  f.ok = true;
  return f;
}

bool Check(natsStatus s, const char* what) {
  if (s == NATS_OK) return true;
  std::fprintf(stderr, "%s: %s\n", what, natsStatus_GetText(s));
  return false;
}

// (a) Bare JetStream: one connection publishes (each publish waits for its ack: durable, as an
// enqueue is), another fetches in batches and acks, at the same time.
Figures Bare(const std::string& url, size_t n, const std::string& stream) {
  natsConnection* pub_conn = nullptr;
  natsConnection* sub_conn = nullptr;
  jsCtx* pub_js = nullptr;
  jsCtx* sub_js = nullptr;
  if (!Check(natsConnection_ConnectTo(&pub_conn, url.c_str()), "connect") ||
      !Check(natsConnection_ConnectTo(&sub_conn, url.c_str()), "connect") ||
      !Check(natsConnection_JetStream(&pub_js, pub_conn, nullptr), "jetstream") ||
      !Check(natsConnection_JetStream(&sub_js, sub_conn, nullptr), "jetstream")) {
    return {};
  }
  const std::string subject = stream + ".jobs";
  const std::string filter = stream + ".>";
  const char* subjects[] = {filter.c_str()};
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = stream.c_str();
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Retention = js_WorkQueuePolicy;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsStreamInfo* si = nullptr;
  if (!Check(js_AddStream(&si, pub_js, &sc, nullptr, &jerr), "add stream")) return {};
  jsStreamInfo_Destroy(si);
  natsSubscription* sub = nullptr;
  jsSubOptions so;
  jsSubOptions_Init(&so);
  if (!Check(js_PullSubscribe(&sub, sub_js, subject.c_str(), "bare", nullptr, &so, &jerr),
             "pull subscribe")) {
    return {};
  }

  std::vector<double> latencies;
  latencies.reserve(n);
  const auto start = Clock::now();
  std::thread consumer([&] {
    while (latencies.size() < n) {
      natsMsgList list{};
      const natsStatus s = natsSubscription_Fetch(&list, sub, 64, 5000, &jerr);
      if (s != NATS_OK && list.Count == 0) {
        std::fprintf(stderr, "fetch: %s\n", natsStatus_GetText(s));
        break;
      }
      const int64_t now = NowNs();
      for (int i = 0; i < list.Count; ++i) {
        const std::string body(natsMsg_GetData(list.Msgs[i]),
                               static_cast<size_t>(natsMsg_GetDataLength(list.Msgs[i])));
        latencies.push_back(static_cast<double>(now - std::stoll(body)) / 1e6);
        natsMsg_Ack(list.Msgs[i], nullptr);
      }
      natsMsgList_Destroy(&list);
    }
  });
  for (size_t i = 0; i < n; ++i) {
    const std::string body = std::to_string(NowNs());
    jsPubAck* ack = nullptr;
    if (!Check(js_Publish(&ack, pub_js, subject.c_str(), body.data(), static_cast<int>(body.size()),
                          nullptr, &jerr),
               "publish")) {
      break;
    }
    jsPubAck_Destroy(ack);
  }
  consumer.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  natsSubscription_Destroy(sub);
  jsCtx_Destroy(pub_js);
  jsCtx_Destroy(sub_js);
  natsConnection_Destroy(pub_conn);
  natsConnection_Destroy(sub_conn);
  return latencies.size() == n ? Summarize(latencies, seconds) : Figures{};
}

// The store as the worker calls it, with the time each call takes: where a job's time goes.
class TimedStore final : public sg::plugins::JobStore {
 public:
  explicit TimedStore(std::shared_ptr<sg::plugins::JobStore> in) : in_(std::move(in)) {}
  sg::Result<sg::Job> Enqueue(const sg::JobSpec& spec, int max_attempts, int64_t now) override {
    return Timed(kEnqueue, [&] { return in_->Enqueue(spec, max_attempts, now); });
  }
  sg::Result<sg::Job> Get(const std::string& id) override { return in_->Get(id); }
  sg::Result<std::vector<sg::Job>> List(const sg::JobFilter& filter) override {
    return in_->List(filter);
  }
  sg::Result<sg::Job> Retry(const std::string& id, int64_t now) override {
    return in_->Retry(id, now);
  }
  sg::Result<sg::Job> Cancel(const std::string& id, int64_t now) override {
    return in_->Cancel(id, now);
  }
  sg::Result<std::vector<sg::JobCounts>> Counts() override { return in_->Counts(); }
  sg::Result<std::optional<sg::Job>> Lease(const std::string& kind, const std::string& owner,
                                           std::chrono::milliseconds lease, int64_t now) override {
    return Timed(kLease, [&] { return in_->Lease(kind, owner, lease, now); });
  }
  sg::Result<void> Renew(const std::string& id, const std::string& owner,
                         std::chrono::milliseconds lease, double progress, int64_t now) override {
    return in_->Renew(id, owner, lease, progress, now);
  }
  sg::Result<void> Succeed(const std::string& id, const std::string& owner, int64_t now) override {
    return Timed(kSucceed, [&] { return in_->Succeed(id, owner, now); });
  }
  SucceededThenLeased SucceedThenLease(const std::string& id, const std::string& owner,
                                       const std::string& kind, std::chrono::milliseconds lease,
                                       int64_t now) override {
    return Timed(kSucceedLease, [&] { return in_->SucceedThenLease(id, owner, kind, lease, now); });
  }
  sg::Result<void> Fail(const std::string& id, const std::string& owner,
                        const sg::plugins::AttemptFailure& failure, int64_t now) override {
    return in_->Fail(id, owner, failure, now);
  }
  sg::Result<void> AcknowledgeCancel(const std::string& id, const std::string& owner,
                                     int64_t now) override {
    return in_->AcknowledgeCancel(id, owner, now);
  }
  /// "enqueue 0.40 ms, lease 1.10 ms (2130 calls), succeed and lease 0.95 ms (2870 calls)": the
  /// mean time per call.
  std::string Summary() const {
    char buf[200];
    std::snprintf(buf, sizeof(buf),
                  "enqueue %.2f ms, lease %.2f ms (%ld calls), succeed and lease %.2f ms (%ld "
                  "calls), succeed %.2f ms (%ld calls)",
                  Mean(kEnqueue), Mean(kLease), static_cast<long>(calls_[kLease].load()),
                  Mean(kSucceedLease), static_cast<long>(calls_[kSucceedLease].load()),
                  Mean(kSucceed), static_cast<long>(calls_[kSucceed].load()));
    return buf;
  }

 private:
  enum Op { kEnqueue, kLease, kSucceedLease, kSucceed, kOps };
  template <typename F>
  std::invoke_result_t<F> Timed(Op op, F call) {
    const int64_t start = NowNs();
    auto result = call();
    ns_[op] += NowNs() - start;
    ++calls_[op];
    return result;
  }
  double Mean(Op op) const {
    const auto calls = calls_[op].load();
    return calls > 0 ? static_cast<double>(ns_[op].load()) / 1e6 / static_cast<double>(calls) : 0;
  }
  std::shared_ptr<sg::plugins::JobStore> in_;
  std::atomic<int64_t> ns_[kOps]{};
  std::atomic<int64_t> calls_[kOps]{};
};

// (b), (c) Our queue: one thread enqueues through the worker (JobQueue::Enqueue) while the
// worker's threads lease and run the jobs; latency from the Enqueue call to the handler's start.
// With `backlog`, every job is enqueued first and the rate is that of draining them (the
// latency then includes the wait in the queue).
Figures Ours(std::shared_ptr<sg::plugins::JobStore> store, size_t n, int concurrency,
             bool backlog = false) {
  sg::plugins::WorkerOptions options;
  options.owner = "bench:" + std::to_string(getpid());
  options.default_concurrency = concurrency;
  options.poll_interval = std::chrono::milliseconds(100);
  auto timed = std::make_shared<TimedStore>(std::move(store));
  auto worker = sg::plugins::MakeWorker(timed, options);
  auto enqueue = [&]() -> bool {
    for (size_t i = 0; i < n; ++i) {
      sg::JobSpec spec;
      spec.kind = "bench";
      spec.payload = std::to_string(NowNs());
      auto job = worker->Enqueue(spec);
      if (!job) {
        std::fprintf(stderr, "enqueue: %s\n", job.error().message.c_str());
        return false;
      }
    }
    return true;
  };
  if (backlog && !enqueue()) return {};

  std::mutex mu;
  std::vector<double> latencies;
  latencies.reserve(n);
  const auto start = Clock::now();
  auto registration = worker->Handle(
      "bench",
      [&](sg::JobContext& context) -> sg::Result<void> {
        const int64_t now = NowNs();
        std::lock_guard lock(mu);
        latencies.push_back(static_cast<double>(now - std::stoll(context.job().payload)) / 1e6);
        return {};
      },
      concurrency);
  if (!registration) {
    std::fprintf(stderr, "handle: %s\n", registration.error().message.c_str());
    return {};
  }
  if (!backlog && !enqueue()) return {};
  const bool done = sg::test::WaitFor(
      [&] {
        std::lock_guard lock(mu);
        return latencies.size() >= n;
      },
      std::chrono::minutes(10));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  registration->reset();
  worker->Shutdown(Clock::now() + std::chrono::seconds(10));
  if (!done) {
    std::fprintf(stderr, "only %zu of %zu jobs ran\n", latencies.size(), n);
    return {};
  }
  std::lock_guard lock(mu);
  Figures f = Summarize(latencies, seconds);
  f.calls = timed->Summary();
  return f;
}

// Runs `run` and adds the CPU time it took, per job, of this program and of the server.
template <typename F>
Figures WithCpu(pid_t server, size_t n, F run) {
  const double client0 = sg::test::CpuSeconds(getpid());
  const double server0 = sg::test::CpuSeconds(server);
  Figures f = run();
  f.client_us = (sg::test::CpuSeconds(getpid()) - client0) * 1e6 / static_cast<double>(n);
  f.server_us = (sg::test::CpuSeconds(server) - server0) * 1e6 / static_cast<double>(n);
  return f;
}

void Row(const char* name, const Figures& f) {
  if (!f.ok) {
    std::printf("  %-34s %12s\n", name, "failed");
    return;
  }
  std::printf("  %-34s %12.0f %10.2f %10.2f %9.0f %9.0f\n", name, f.per_second, f.p50_ms, f.p99_ms,
              f.client_us, f.server_us);
  if (!f.calls.empty()) std::printf("  %-34s %s\n", "  per store call:", f.calls.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? static_cast<size_t>(std::atol(argv[1])) : 5000;
  const int concurrency = argc > 2 ? std::atoi(argv[2]) : 2;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  if (n == 0 || concurrency < 1 || rounds < 1) {
    std::fprintf(stderr, "usage: bench_jobs [JOBS>0] [CONCURRENCY>0] [ROUNDS>0]\n");
    return 2;
  }
  sg::OpenNatsLibrary();  // as the daemon opens it, for both loops
  sg::test::NatsServer server(/*jetstream=*/true);

  // Rounds alternate between the two loops, each on streams of its own, so that both see the
  // same moments of a shared machine; the ratio is the median of the rounds'.
  sg::plugins::JetStreamJobStoreOptions js_options;
  js_options.connection.urls = {server.Url()};
  std::vector<Figures> bares;
  std::vector<Figures> ours;
  for (int r = 0; r < rounds; ++r) {
    bares.push_back(WithCpu(server.pid(), n,
                            [&] { return Bare(server.Url(), n, "BARE" + std::to_string(r)); }));
    std::fprintf(stderr, "round %d of %d: bare JetStream done\n", r + 1, rounds);
    js_options.prefix = "BENCH" + std::to_string(r);
    auto js_store = sg::plugins::MakeJetStreamJobStore(js_options);
    if (!js_store) {
      std::fprintf(stderr, "jetstream store: %s\n", js_store.error().message.c_str());
      return 1;
    }
    ours.push_back(WithCpu(server.pid(), n, [&] { return Ours(*js_store, n, concurrency); }));
    std::fprintf(stderr, "round %d of %d done\n", r + 1, rounds);
  }
  js_options.prefix = "BENCH_BACKLOG";
  Figures backlog_js;
  if (auto backlog_store = sg::plugins::MakeJetStreamJobStore(js_options)) {
    backlog_js = WithCpu(server.pid(), n,
                         [&] { return Ours(*backlog_store, n, concurrency, /*backlog=*/true); });
  }
  std::fprintf(stderr, "a backlog on JetStream done\n");

  sg::test::TempDir dir;
  sg::SqliteOptions sqlite;
  sqlite.path = dir.path() + "/jobs.db";
  Figures ours_sqlite;
  auto db = sg::OpenSqlite(sqlite);
  if (db && (*db)->Migrate("jobs", sg::plugins::JobMigrations())) {
    ours_sqlite = WithCpu(server.pid(), n,
                          [&] { return Ours(sg::plugins::MakeSqlJobStore(*db), n, concurrency); });
  } else {
    std::fprintf(stderr, "sqlite: cannot open or migrate %s\n", sqlite.path.c_str());
  }

  std::printf(
      "job queue: %zu jobs, no-op handler, worker concurrency %d, one nats-server -js, %d "
      "rounds\n",
      n, concurrency, rounds);
  std::printf("  %-34s %12s %10s %10s %9s %9s\n", "", "jobs/s", "p50 ms", "p99 ms", "CPU us/job",
              "(server)");
  std::vector<double> rate_ratios;
  std::vector<double> cpu_ratios;
  bool ok = true;
  for (int r = 0; r < rounds; ++r) {
    std::printf("  round %d\n", r + 1);
    Row("JetStream bare (pub, pull, ack)", bares[r]);
    Row("our queue on JetStream", ours[r]);
    ok = ok && bares[r].ok && ours[r].ok;
    if (bares[r].ok && ours[r].ok && bares[r].per_second > 0) {
      rate_ratios.push_back(ours[r].per_second / bares[r].per_second);
      cpu_ratios.push_back((ours[r].client_us + ours[r].server_us) /
                           (bares[r].client_us + bares[r].server_us));
    }
  }
  std::printf("  once\n");
  Row("our queue on JetStream, a backlog", backlog_js);
  Row("our queue on SQLite", ours_sqlite);
  if (!rate_ratios.empty()) {
    std::printf(
        "  ours on JetStream / bare JetStream, median of %zu rounds: %.2f jobs/s (the aim: "
        ">= 0.5; rounds:",
        rate_ratios.size(), sg::test::Percentile(rate_ratios, 0.5));
    for (double x : rate_ratios) std::printf(" %.2f", x);
    std::printf("), %.2f CPU per job (this program and nats-server)\n",
                sg::test::Percentile(cpu_ratios, 0.5));
  }
  return ok && backlog_js.ok && ours_sqlite.ok ? 0 : 1;
}
