#include "daemon/http/router.h"

#include <catch2/catch.hpp>

namespace sg::http {
namespace {

HttpHandler Noop() {
  return [](const HttpRequest&, HttpResponse&) {};
}

}  // namespace

TEST_CASE("routes match exact segments and {param} segments", "[http]") {
  RouteTable table;
  REQUIRE(table.AddRoute("GET", "/api/v1/videos/{id}", Noop()));
  REQUIRE(table.AddRoute("GET", "/api/v1/videos/latest", Noop()));
  std::shared_ptr<const std::vector<RouteTable::Route>> snapshot;

  auto m = table.Find("GET", "/api/v1/videos/42", snapshot);
  REQUIRE(m.route != nullptr);
  CHECK(m.route->pattern == "/api/v1/videos/{id}");
  REQUIRE(m.params.size() == 1);
  CHECK(m.params[0].first == "id");
  CHECK(m.params[0].second == "42");
  CHECK(table.Find("GET", "/api/v1/videos/42/extra", snapshot).route == nullptr);
  CHECK(table.Find("GET", "//api//v1/videos/7/", snapshot).route != nullptr);
}

TEST_CASE("a path with the wrong method reports the allowed ones; GET answers HEAD", "[http]") {
  RouteTable table;
  REQUIRE(table.AddRoute("GET", "/health", Noop()));
  REQUIRE(table.AddRoute("DELETE", "/health", Noop()));
  std::shared_ptr<const std::vector<RouteTable::Route>> snapshot;

  auto post = table.Find("POST", "/health", snapshot);
  CHECK(post.route == nullptr);
  CHECK(post.allow == "DELETE, GET, HEAD");
  CHECK(table.Find("HEAD", "/health", snapshot).route != nullptr);
  CHECK(table.Find("GET", "/nope", snapshot).allow.empty());
}

TEST_CASE("bad and duplicate routes are refused; removed routes stop matching", "[http]") {
  RouteTable table;
  auto id = table.AddRoute("GET", "/x/{id}", Noop());
  REQUIRE(id);
  CHECK_FALSE(table.AddRoute("GET", "/x/{other}", Noop()).has_value());
  CHECK_FALSE(table.AddRoute("FETCH", "/y", Noop()).has_value());
  CHECK_FALSE(table.AddRoute("GET", "no-slash", Noop()).has_value());
  CHECK_FALSE(table.AddRoute("GET", "/z/{}", Noop()).has_value());
  std::shared_ptr<const std::vector<RouteTable::Route>> snapshot;

  table.RemoveRoute(*id);

  CHECK(table.Find("GET", "/x/1", snapshot).route == nullptr);
}

TEST_CASE("route counters sum across threads by status class, with a cumulative histogram",
          "[http]") {
  RouteStats stats;
  stats.Record(200, std::chrono::microseconds(50));
  stats.Record(204, std::chrono::milliseconds(3));
  stats.Record(503, std::chrono::seconds(20));

  const HttpRouteStats read = stats.Read("GET", "/health");

  CHECK(read.count == 3);
  CHECK(read.responses[2] == 2);
  CHECK(read.responses[5] == 1);
  CHECK(read.latency_buckets.front() == 1);                           // <= 100us
  CHECK(read.latency_buckets.back() == 3);                            // +Inf holds everything
  CHECK(read.latency_buckets[read.latency_buckets.size() - 2] == 2);  // <= 10s
}

}  // namespace sg::http
