// The gateway's route table: method plus a path pattern with {param} segments. Lookups read an
// immutable snapshot, so adding a route never blocks a request.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/plugin_api/http.h"

namespace sg::http {

/// Upper bounds in seconds of the latency histogram buckets (then +Inf).
const std::vector<double>& LatencyBounds();

/// Counters for one route, updated from every I/O thread without locks: each thread counts in
/// a shard of its own cache lines, and a read sums the shards.
class RouteStats {
 public:
  static constexpr size_t kBuckets = 17;  // LatencyBounds() plus +Inf
  static constexpr size_t kShards = 8;

  void Record(unsigned status, std::chrono::nanoseconds duration);
  HttpRouteStats Read(std::string method, std::string route) const;

 private:
  struct alignas(64) Shard {
    std::atomic<uint64_t> by_class[6] = {};
    std::atomic<uint64_t> buckets[kBuckets] = {};
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> nanos{0};
  };
  Shard shards_[kShards];
};

class RouteTable final : public Router {
 public:
  struct Route {
    RouteId id;
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;  // "{id}" segments match anything
    HttpHandler handler;                // exactly one of these three is set
    AsyncHttpHandler async_handler;
    StreamingHttpHandler streaming_handler;
    uint64_t max_body_bytes = 0;  // a streaming route's own limit
    std::shared_ptr<RouteStats> stats;
    std::shared_ptr<const CorsPolicy> cors;  // null: same-origin only
  };

  struct Match {
    const Route* route = nullptr;  // null: no route
    std::vector<std::pair<std::string_view, std::string_view>> params;
    std::string allow;  // the path's methods ("GET, HEAD") when none matched, or for OPTIONS
    const CorsPolicy* cors = nullptr;  // the path's CORS policy, when it has one
  };

  RouteTable();

  Result<RouteId> AddRoute(std::string method, std::string pattern, HttpHandler handler) override;
  Result<RouteId> AddAsyncRoute(std::string method, std::string pattern,
                                AsyncHttpHandler handler) override;
  Result<RouteId> AddStreamingRoute(std::string method, std::string pattern,
                                    uint64_t max_body_bytes, StreamingHttpHandler handler) override;
  void SetCors(const std::string& pattern, CorsPolicy policy) override;
  void RemoveRoute(RouteId id) override;

  /// Every route's counters, and those of requests that matched no route.
  std::vector<HttpRouteStats> Snapshot() const;
  std::shared_ptr<RouteStats> UnmatchedStats() { return unmatched_; }

  /// Finds the route for a request. The returned route stays valid while `snapshot` is held.
  /// Each thread keeps the table it last saw and takes the lock only when the table changed.
  Match Find(std::string_view method, std::string_view path,
             std::shared_ptr<const std::vector<Route>>& snapshot) const;

 private:
  // The handler fields of `route` (one of them set) go with the method and pattern given.
  Result<RouteId> Add(std::string method, std::string pattern, Route route);
  std::shared_ptr<const std::vector<Route>> Current() const;

  mutable std::mutex mu_;
  std::shared_ptr<const std::vector<Route>> routes_;  // guarded by mu_; replaced, never changed
  std::atomic<uint64_t> version_;                     // unique across tables; bumped on change
  RouteId next_id_ = 1;                               // guarded by mu_
  std::map<std::string, std::shared_ptr<const CorsPolicy>> cors_;  // by pattern; guarded by mu_
  std::shared_ptr<RouteStats> unmatched_ = std::make_shared<RouteStats>();
};

/// Splits a path into segments, ignoring empty ones ("/a//b/" -> a, b).
std::vector<std::string_view> SplitPath(std::string_view path);

}  // namespace sg::http
