#include "daemon/http/router.h"

#include <algorithm>

#include <fmt/format.h>

namespace sg::http {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    const size_t start = i;
    while (i < path.size() && path[i] != '/') ++i;
    if (i > start) out.push_back(path.substr(start, i - start));
  }
  return out;
}

const std::vector<double>& LatencyBounds() {
  static const std::vector<double> bounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                             0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                             1,      2.5,     5,      10};
  return bounds;
}

namespace {

std::atomic<uint64_t> next_version{1};

size_t ThreadShard() {
  static std::atomic<size_t> next{0};
  thread_local const size_t shard = next++ % RouteStats::kShards;
  return shard;
}

}  // namespace

void RouteStats::Record(unsigned status, std::chrono::nanoseconds duration) {
  Shard& s = shards_[ThreadShard()];
  const unsigned cls = status / 100;
  s.by_class[cls < 6 ? cls : 5].fetch_add(1, std::memory_order_relaxed);
  const double seconds = std::chrono::duration<double>(duration).count();
  const auto& bounds = LatencyBounds();
  const auto bucket =
      static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin());
  s.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  s.count.fetch_add(1, std::memory_order_relaxed);
  s.nanos.fetch_add(static_cast<uint64_t>(duration.count()), std::memory_order_relaxed);
}

HttpRouteStats RouteStats::Read(std::string method, std::string route) const {
  HttpRouteStats out;
  out.method = std::move(method);
  out.route = std::move(route);
  uint64_t buckets[kBuckets] = {};
  uint64_t nanos = 0;
  for (const Shard& s : shards_) {
    for (size_t i = 0; i < 6; ++i)
      out.responses[i] += s.by_class[i].load(std::memory_order_relaxed);
    for (size_t i = 0; i < kBuckets; ++i)
      buckets[i] += s.buckets[i].load(std::memory_order_relaxed);
    out.count += s.count.load(std::memory_order_relaxed);
    nanos += s.nanos.load(std::memory_order_relaxed);
  }
  uint64_t running = 0;
  for (uint64_t b : buckets) {
    running += b;
    out.latency_buckets.push_back(running);  // cumulative, as Prometheus wants
  }
  out.latency_sum_seconds = static_cast<double>(nanos) / 1e9;
  return out;
}

RouteTable::RouteTable()
    : routes_(std::make_shared<const std::vector<Route>>()), version_(next_version++) {}

std::shared_ptr<const std::vector<RouteTable::Route>> RouteTable::Current() const {
  std::lock_guard lock(mu_);
  return routes_;
}

std::vector<HttpRouteStats> RouteTable::Snapshot() const {
  std::vector<HttpRouteStats> out;
  for (const auto& r : *Current()) out.push_back(r.stats->Read(r.method, r.pattern));
  out.push_back(unmatched_->Read("", "unmatched"));
  return out;
}

Result<Router::RouteId> RouteTable::AddRoute(std::string method, std::string pattern,
                                             HttpHandler handler) {
  Route route{};
  route.handler = std::move(handler);
  return Add(std::move(method), std::move(pattern), std::move(route));
}

Result<Router::RouteId> RouteTable::AddAsyncRoute(std::string method, std::string pattern,
                                                  AsyncHttpHandler handler) {
  Route route{};
  route.async_handler = std::move(handler);
  return Add(std::move(method), std::move(pattern), std::move(route));
}

Result<Router::RouteId> RouteTable::AddStreamingRoute(std::string method, std::string pattern,
                                                      uint64_t max_body_bytes,
                                                      StreamingHttpHandler handler) {
  Route route{};
  route.streaming_handler = std::move(handler);
  route.max_body_bytes = max_body_bytes;
  return Add(std::move(method), std::move(pattern), std::move(route));
}

Result<Router::RouteId> RouteTable::Add(std::string method, std::string pattern, Route route) {
  static const std::vector<std::string> kMethods = {"GET",   "HEAD",   "POST",   "PUT",
                                                    "PATCH", "DELETE", "OPTIONS"};
  if (std::find(kMethods.begin(), kMethods.end(), method) == kMethods.end()) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("route {} {}: unknown method", method, pattern));
  }
  if (pattern.empty() || pattern[0] != '/' ||
      (!route.handler && !route.async_handler && !route.streaming_handler)) {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("route {} {}: a pattern starts with '/' and needs a handler", method, pattern));
  }
  std::vector<std::string> segments;
  for (auto s : SplitPath(pattern)) {
    if (s.front() == '{' && (s.back() != '}' || s.size() < 3)) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("route {} {}: bad parameter '{}'", method, pattern, s));
    }
    segments.emplace_back(s);
  }
  std::lock_guard lock(mu_);
  auto current = routes_;
  // Two patterns that differ only in their parameters' names match the same paths.
  const auto same_shape = [](const std::vector<std::string>& a, const std::vector<std::string>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      const bool pa = a[i].front() == '{';
      const bool pb = b[i].front() == '{';
      if (pa != pb || (!pa && a[i] != b[i])) return false;
    }
    return true;
  };
  for (const auto& r : *current) {
    if (r.method == method && same_shape(r.segments, segments)) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("route {} {} is already taken", method, pattern));
    }
  }
  auto next = std::make_shared<std::vector<Route>>(*current);
  const RouteId id = next_id_++;
  const auto cors = cors_.find(pattern);
  route.id = id;
  route.method = std::move(method);
  route.pattern = std::move(pattern);
  route.segments = std::move(segments);
  route.stats = std::make_shared<RouteStats>();
  route.cors = cors == cors_.end() ? nullptr : cors->second;
  next->push_back(std::move(route));
  routes_ = std::move(next);
  version_ = next_version++;
  return id;
}

void RouteTable::SetCors(const std::string& pattern, CorsPolicy policy) {
  auto shared = std::make_shared<const CorsPolicy>(std::move(policy));
  std::lock_guard lock(mu_);
  cors_[pattern] = shared;
  auto next = std::make_shared<std::vector<Route>>(*routes_);
  for (auto& r : *next) {
    if (r.pattern == pattern) r.cors = shared;
  }
  routes_ = std::move(next);
  version_ = next_version++;
}

void RouteTable::RemoveRoute(RouteId id) {
  std::lock_guard lock(mu_);
  auto next = std::make_shared<std::vector<Route>>(*routes_);
  std::erase_if(*next, [id](const Route& r) { return r.id == id; });
  routes_ = std::move(next);
  version_ = next_version++;
}

RouteTable::Match RouteTable::Find(std::string_view method, std::string_view path,
                                   std::shared_ptr<const std::vector<Route>>& snapshot) const {
  thread_local uint64_t cached_version = 0;
  thread_local std::shared_ptr<const std::vector<Route>> cached;
  const uint64_t version = version_.load(std::memory_order_acquire);
  if (version != cached_version) {
    cached = Current();
    cached_version = version;
  }
  snapshot = cached;
  const auto parts = SplitPath(path);
  Match match;
  std::vector<std::string> allowed;
  for (const auto& route : *snapshot) {
    if (route.segments.size() != parts.size()) continue;
    bool fits = true;
    for (size_t i = 0; i < parts.size() && fits; ++i) {
      const auto& seg = route.segments[i];
      fits = seg.front() == '{' || seg == parts[i];
    }
    if (!fits) continue;
    if (match.cors == nullptr && route.cors) match.cors = route.cors.get();
    const bool method_fits = route.method == method || (method == "HEAD" && route.method == "GET");
    // A preflight names every method of the path, an OPTIONS route's own (tus) included.
    if (!method_fits || method == "OPTIONS") {
      allowed.push_back(route.method);
      if (route.method == "GET") allowed.emplace_back("HEAD");
      if (!method_fits) continue;
    }
    // An exact method wins over GET answering HEAD.
    if (match.route != nullptr && match.route->method == method) continue;
    match.route = &route;
    match.params.clear();
    for (size_t i = 0; i < parts.size(); ++i) {
      const auto& seg = route.segments[i];
      if (seg.front() == '{') {
        match.params.emplace_back(std::string_view(seg).substr(1, seg.size() - 2), parts[i]);
      }
    }
  }
  if ((match.route == nullptr || method == "OPTIONS") && !allowed.empty()) {
    std::sort(allowed.begin(), allowed.end());
    allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
    for (size_t i = 0; i < allowed.size(); ++i) match.allow += (i ? ", " : "") + allowed[i];
  }
  return match;
}

}  // namespace sg::http
