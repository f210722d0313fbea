// Measures streamgated's exec-to-ready time (until it sends READY=1 on NOTIFY_SOCKET, as systemd
// sees it) and its idle resident memory, beside a reference on the same machine: the time to
// exec /bin/true and see it exit, which is the floor any process start pays.
//
//   bench_startup [ITERATIONS]     (default 30)
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <signal.h>

#include "tests/support/bench_stats.h"
#include "tests/support/notify_socket.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

using sg::test::Ms;
using sg::test::Percentile;
using sg::test::RssKib;

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 30;
  std::vector<double> ready_ms, true_ms, rss_mib;
  for (int i = 0; i < iterations; ++i) {
    sg::test::TempDir dir;
    sg::test::NotifySocket notify(dir.path() + "/notify");
    sg::test::SpawnOptions options;
    options.unset_env = {"STREAMGATE_CONFIG"};
    options.env["NOTIFY_SOCKET"] = notify.path();
    options.env["XDG_RUNTIME_DIR"] = dir.path();
    options.cwd = dir.path();

    const auto start = Clock::now();
    sg::test::Process daemon({SG_DAEMON_BIN, "--log-level", "warn"}, dir, options);
    if (!notify.WaitFor("READY=1", 10s)) {
      std::fprintf(stderr, "streamgated did not become ready:\n%s\n", daemon.Stderr().c_str());
      return 1;
    }
    ready_ms.push_back(Ms(Clock::now() - start));
    // Idle: give it a moment past readiness with nothing to do, then read its RSS.
    sg::test::WaitFor([] { return false; }, 100ms);
    rss_mib.push_back(static_cast<double>(RssKib(daemon.pid())) / 1024.0);
    daemon.Signal(SIGTERM);
    daemon.Wait(10s);

    const auto t0 = Clock::now();
    sg::test::Process reference({"/bin/true"}, dir);
    reference.Wait(10s);
    true_ms.push_back(Ms(Clock::now() - t0));
  }
  std::printf("streamgated startup, %d runs\n", iterations);
  std::printf("  exec-to-ready (READY=1)   median %7.2f ms   p90 %7.2f ms\n",
              Percentile(ready_ms, 0.5), Percentile(ready_ms, 0.9));
  std::printf("  reference: exec /bin/true median %7.2f ms   p90 %7.2f ms\n",
              Percentile(true_ms, 0.5), Percentile(true_ms, 0.9));
  std::printf("  ratio (median)            %7.1fx the bare process start\n",
              Percentile(ready_ms, 0.5) / Percentile(true_ms, 0.5));
  std::printf("  idle RSS                  median %7.2f MiB  max %7.2f MiB\n",
              Percentile(rss_mib, 0.5), *std::max_element(rss_mib.begin(), rss_mib.end()));
  return 0;
}
