#include "daemon/discovery.h"

#include <random>

#include <fmt/format.h>

#include "common/logging.h"

namespace sg::daemon {

using Clock = std::chrono::steady_clock;

namespace {

// ["GET /api/v1/videos", ...]: how an operator reads a route.
nlohmann::ordered_json RouteList(const std::vector<std::pair<std::string, std::string>>& routes) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& [method, pattern] : routes) out.push_back(fmt::format("{} {}", method, pattern));
  return out;
}

}  // namespace

std::string NewInstanceId(const std::string& host) {
  std::random_device rd;
  return fmt::format("{}-{}-{:06x}", host, getpid(), rd() & 0xffffff);
}

Discovery::Discovery(Bus& bus, const boost::asio::any_io_executor& executor,
                     std::chrono::milliseconds interval, Instance self,
                     std::function<HealthStatus()> health, std::function<HttpPresence()> http,
                     std::shared_ptr<spdlog::logger> logger)
    : bus_(bus),
      timer_(executor),
      interval_(interval),
      self_(std::move(self)),
      health_(std::move(health)),
      http_(std::move(http)),
      logger_(std::move(logger)) {}

Discovery::~Discovery() { Stop(); }

Result<void> Discovery::Start() {
  auto sub = bus_.Subscribe(
      "heartbeat.*", [this](const Message& m) { OnHeartbeat(m); }, 4096);
  if (!sub) return sub.error();
  {
    std::lock_guard lock(mu_);
    subscription_ = *sub;
    running_ = true;
  }
  Beat();
  return {};
}

void Discovery::Stop() {
  std::lock_guard lock(mu_);
  if (!running_) return;
  running_ = false;
  timer_.cancel();
  bus_.Unsubscribe(subscription_);
}

void Discovery::Beat() {
  nlohmann::json beat = {{"service", self_.service},
                         {"id", self_.id},
                         {"version", self_.version},
                         {"host", self_.host},
                         {"pid", self_.pid},
                         {"endpoint", self_.endpoint},
                         {"health", HealthStatusName(health_())}};
  if (http_) {
    HttpPresence presence = http_();
    if (!presence.url.empty()) {
      nlohmann::json routes = nlohmann::json::array();
      for (auto& [method, pattern] : presence.routes) routes.push_back({method, pattern});
      beat["http"] = {{"url", presence.url}, {"routes", routes}, {"load", presence.load}};
    }
    if (!presence.metrics_url.empty()) beat["metrics"] = presence.metrics_url;
  }
  // While NATS is away the publish is buffered or fails; either way the next beat tries again.
  (void)bus_.Publish("heartbeat." + self_.service, beat.dump());
  std::lock_guard lock(mu_);
  if (!running_) return;
  timer_.expires_after(interval_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) Beat();
  });
}

void Discovery::OnHeartbeat(const Message& m) {
  const auto j = nlohmann::json::parse(m.data, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("id") || !j["id"].is_string()) return;
  Instance in;
  in.service = j.value("service", "");
  in.id = j.value("id", "");
  in.version = j.value("version", "");
  in.host = j.value("host", "");
  in.pid = j.value("pid", int64_t{0});
  in.endpoint = j.value("endpoint", "");
  in.health = j.value("health", "unhealthy");
  if (const auto metrics = j.find("metrics"); metrics != j.end() && metrics->is_string())
    in.metrics_url = metrics->get<std::string>();
  if (const auto http = j.find("http"); http != j.end() && http->is_object()) {
    const auto url = http->find("url");
    if (url != http->end() && url->is_string()) in.http_url = url->get<std::string>();
    const auto load = http->find("load");
    if (load != http->end() && load->is_number_unsigned()) in.load = load->get<uint64_t>();
    const auto routes = http->find("routes");
    if (routes != http->end() && routes->is_array()) {
      for (const auto& r : *routes) {
        if (r.is_array() && r.size() == 2 && r[0].is_string() && r[1].is_string())
          in.routes.emplace_back(r[0].get<std::string>(), r[1].get<std::string>());
      }
    }
  }
  in.last_seen = Clock::now();
  std::lock_guard lock(mu_);
  // Forget instances silent for ten minutes: each restart brings a new id.
  std::erase_if(instances_, [&](const auto& entry) {
    return in.last_seen - entry.second.last_seen > std::chrono::minutes(10);
  });
  auto [it, fresh] = instances_.insert_or_assign(in.id, in);
  if (fresh && in.id != self_.id) {
    logger_->info(log::With("Service instance appeared", {{"service", in.service}, {"id", in.id}}));
  }
}

std::vector<Instance> Discovery::Instances() const {
  const auto now = Clock::now();
  std::lock_guard lock(mu_);
  std::vector<Instance> out;
  for (const auto& [id, in] : instances_) {
    Instance copy = in;
    const auto silence = now - in.last_seen;
    if (silence > std::chrono::minutes(10)) continue;
    copy.alive = silence <= 2 * interval_ + std::chrono::milliseconds(100);
    out.push_back(std::move(copy));
  }
  return out;
}

nlohmann::ordered_json Discovery::ToJson() const {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  const auto now = Clock::now();
  for (const auto& in : Instances()) {
    out.push_back(
        {{"service", in.service},
         {"id", in.id},
         {"version", in.version},
         {"host", in.host},
         {"pid", in.pid},
         {"endpoint", in.endpoint},
         {"http", in.http_url},
         {"routes", RouteList(in.routes)},
         {"load", in.load},
         {"metrics", in.metrics_url},
         {"health", in.alive ? in.health : "unhealthy"},
         {"alive", in.alive},
         {"last_seen_ms",
          std::chrono::duration_cast<std::chrono::milliseconds>(now - in.last_seen).count()}});
  }
  return out;
}

}  // namespace sg::daemon
