// Every built-in plugin stopped and started 100 times through the real CLI leaves nothing behind
// in the real daemon: no thread, no file descriptor, no metric series; and a stopped plugin's
// series leave /metrics while it is stopped.
#include <filesystem>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include "tests/support/daemon_fixture.h"
#include "tests/support/http_client.h"

namespace sg::test {
namespace {

size_t Entries(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

// The process's descriptors, less those on the SQLite database: its connection pools open
// connections as concurrent use needs them, up to their bound, and keep them.
struct Descriptors {
  size_t other = 0;
  size_t database = 0;
};
Descriptors Fds(const std::string& proc) {
  Descriptors d;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(proc + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::error_code link_ec;
    const std::string target = std::filesystem::read_symlink(it->path(), link_ec).string();
    if (target.find("/streamgate.db") != std::string::npos) {
      ++d.database;
    } else {
      ++d.other;
    }
  }
  return d;
}

// The series /metrics has now: each sample's name and labels, without its value.
std::set<std::string> Series(uint16_t port) {
  HttpConnection c(port);
  auto r = c.Request("GET", "/metrics");
  if (!r || r->status != 200) return {};
  std::set<std::string> series;
  std::istringstream lines(r->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.starts_with('#')) continue;
    series.insert(line.substr(0, line.rfind(' ')));
  }
  return series;
}

bool HasPrefix(const std::set<std::string>& series, const std::string& prefix) {
  for (const auto& s : series) {
    if (s.starts_with(prefix)) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("each plugin stopped and started 100 times leaves no thread, descriptor or series",
          "[lifecycle][plugins]") {
  RunningDaemon d;
  const std::string proc = "/proc/" + std::to_string(d.daemon->pid());
  const std::vector<std::string> plugins = {"cache", "monitor", "api-gateway", "metadata",
                                            "worker"};
  // One round first, so that what the first stop and start make once (the control commands'
  // counters, say) is in the baseline.
  for (const auto& p : plugins) REQUIRE(d.Cli({"plugins", "restart", p}).exit_code == 0);
  const std::set<std::string> series_before = Series(d.ListenerPort("metrics"));
  REQUIRE(HasPrefix(series_before, "streamgate_cache_hits_total"));
  const size_t fds_before = Fds(proc).other;
  const size_t threads_before = Entries(proc + "/task");

  for (const auto& p : plugins) {
    for (int i = 0; i < 100; ++i) {
      const RunResult stopped = d.Cli({"plugins", "stop", p});
      REQUIRE(stopped.exit_code == 0);
      const RunResult started = d.Cli({"plugins", "start", p});
      INFO(started.err);
      REQUIRE(started.exit_code == 0);
    }
  }

  // Calls into plugins run on threads of their own that end just after they answer.
  CHECK(WaitFor([&] { return Entries(proc + "/task") <= threads_before; }, 10s));
  CHECK(WaitFor([&] { return Fds(proc).other <= fds_before; }, 10s));
  // Two pools (the catalogue's and the job queue's) of at most 8 connections, each a database
  // and a WAL descriptor, and the shared-memory index: bounded, however many restarts.
  CHECK(Fds(proc).database <= 2 * 8 * 2 + 1);
  INFO("threads " << threads_before << " -> " << Entries(proc + "/task") << ", fds " << fds_before
                  << " -> " << Fds(proc).other);
  const std::set<std::string> series_after = Series(d.ListenerPort("metrics"));
  std::vector<std::string> added;
  for (const auto& s : series_after) {
    if (!series_before.contains(s)) added.push_back(s);
  }
  // Counters with bounded labels may gain samples from the traffic itself: by control command,
  // by plugin, and by bus subject prefix (the monitor publishes the health changes the stops
  // cause). Nothing else may.
  std::erase_if(added, [](const std::string& s) {
    return s.starts_with("streamgate_control_") || s.starts_with("streamgate_plugin_") ||
           s.starts_with("streamgate_bus_messages_");
  });
  std::string listed;
  for (const auto& s : added) listed += s + "\n";
  INFO("new series:\n" << listed);
  CHECK(added.empty());
}

TEST_CASE("a stopped plugin's series leave /metrics and come back when it starts",
          "[lifecycle][plugins]") {
  RunningDaemon d;
  REQUIRE(HasPrefix(Series(d.metrics_port), "streamgate_cache_hits_total"));

  REQUIRE(d.Cli({"plugins", "stop", "cache"}).exit_code == 0);
  const std::set<std::string> stopped = Series(d.metrics_port);
  REQUIRE(d.Cli({"plugins", "start", "cache"}).exit_code == 0);

  CHECK_FALSE(HasPrefix(stopped, "streamgate_cache_"));
  CHECK(HasPrefix(Series(d.metrics_port), "streamgate_cache_hits_total"));
}

}  // namespace sg::test
