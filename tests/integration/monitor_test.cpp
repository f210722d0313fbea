// The monitor plugin: /metrics checked by promtool and scraped by a real Prometheus server.
#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/daemon_fixture.h"
#include "tests/support/http_client.h"

namespace sg::test {
namespace {

std::string Metrics(uint16_t port) {
  HttpConnection c(port);
  auto r = c.Request("GET", "/metrics");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return r->body;
}

}  // namespace

TEST_CASE("/metrics has the documented families and passes promtool check metrics", "[monitor]") {
  RunningDaemon d;
  REQUIRE(d.metrics_port != 0);
  for (int i = 0; i < 5; ++i) {
    HttpConnection c(d.port);
    REQUIRE(c.Request("GET", "/health"));
    REQUIRE(c.Request("GET", "/no/such/path"));
  }
  (void)d.Cli({"status"});
  // A request is counted once its last byte is written, just after the client has it.
  REQUIRE(WaitFor(
      [&] {
        return Contains(
            Metrics(d.metrics_port),
            "streamgate_http_requests_total{method=\"\",route=\"unmatched\",code=\"4xx\"} 5");
      },
      5s));

  const std::string body = Metrics(d.metrics_port);

  for (const char* expected :
       {"streamgate_build_info{version=", "streamgate_process_resident_memory_bytes ",
        "streamgate_process_cpu_seconds_total ", "streamgate_process_open_fds ",
        "streamgate_process_start_time_seconds ",
        "streamgate_plugin_state{plugin=\"api-gateway\",state=\"running\"} 1",
        "streamgate_plugin_health{plugin=\"cache\",status=\"healthy\"} 1",
        "streamgate_plugin_restarts_total{plugin=\"monitor\"} 0",
        "streamgate_http_requests_total{method=\"GET\",route=\"/health\",code=\"2xx\"} 5",
        "streamgate_http_requests_total{method=\"\",route=\"unmatched\",code=\"4xx\"} 5",
        "streamgate_http_request_duration_seconds_bucket{method=\"GET\",route=\"/"
        "health\",le=\"+Inf\"} 5",
        // One from the fixture, which asks for the bound ports, and the one above.
        "streamgate_control_requests_total{command=\"status\"} 2",
        "streamgate_log_records_total{level=\"info\"}",
        "streamgate_cache_hits_total{backend=\"memory\"}",
        "streamgate_bus_messages_published_total"}) {
    INFO(expected);
    CHECK(Contains(body, expected));
  }
  // Never a raw path as a label.
  CHECK_FALSE(Contains(body, "/no/such/path"));
  const std::string file = d.dir.Write("metrics.txt", body);
  const RunResult promtool = Run({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + file});
  INFO(promtool.out << promtool.err);
  CHECK(promtool.exit_code == 0);
}

TEST_CASE("a real Prometheus server scrapes the daemon and answers a query about it", "[monitor]") {
  RunningDaemon d;
  const uint16_t prometheus_port = FreePort();
  const std::string config =
      d.dir.Write("prometheus.yml",
                  "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: streamgate\n"
                  "    static_configs:\n      - targets: ['127.0.0.1:" +
                      std::to_string(d.metrics_port) + "']\n");
  Process prometheus({"/usr/bin/prometheus", "--config.file=" + config,
                      "--storage.tsdb.path=" + d.dir.path() + "/tsdb",
                      "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)},
                     d.dir);

  nlohmann::json answer;
  const bool got = WaitFor(
      [&] {
        try {
          HttpConnection c(prometheus_port);
          auto r = c.Request("GET", "/api/v1/query?query=streamgate_build_info");
          if (!r || r->status != 200) return false;
          answer = nlohmann::json::parse(r->body, nullptr, false);
          return !answer.is_discarded() && !answer["data"]["result"].empty();
        } catch (const std::exception&) {
          return false;  // not listening yet
        }
      },
      60s);

  INFO(prometheus.Stderr());
  REQUIRE(got);
  CHECK(answer["data"]["result"][0]["metric"]["job"] == "streamgate");
  CHECK(answer["data"]["result"][0]["metric"]["mode"] == "monolith");
  CHECK(answer["data"]["result"][0]["value"][1] == "1");
}

TEST_CASE("the health watcher logs and publishes a change", "[monitor]") {
  RunningDaemon d;
  // The watcher reports a change against its first reading, taken one watch interval (1 s) after
  // the monitor starts. A cache stopped before that reading is its starting state, not a change:
  // under load (ctest -j2) the test's stop used to land first now and then. So stop the cache
  // only once the monitor has run for two intervals.
  REQUIRE(WaitFor(
      [&] {
        const auto list =
            nlohmann::json::parse(d.Cli({"--json", "plugins", "list"}).out, nullptr, false);
        if (!list.is_object()) return false;
        for (const auto& p : list.value("plugins", nlohmann::json::array()))
          if (p.value("name", "") == "monitor") return p.value("uptime_seconds", 0) >= 2;
        return false;
      },
      10s));

  REQUIRE(d.Cli({"plugins", "stop", "cache"}).exit_code == 0);

  REQUIRE(WaitFor([&] { return d.LogSays("Health changed\tfrom=healthy to=degraded"); }, 10s));
  CHECK(WaitFor(
      [&] {
        return Contains(Metrics(d.metrics_port),
                        "streamgate_bus_messages_published_total{prefix=\"monitor\"}");
      },
      10s));
}

}  // namespace sg::test
