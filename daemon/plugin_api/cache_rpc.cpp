#include "daemon/plugin_api/cache_rpc.h"

#include <atomic>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "daemon/plugin_api/rpc_frame.h"

namespace sg {
namespace {

using rpc::Encode;
using rpc::ErrorHeader;

class RemoteCache final : public Cache {
 public:
  RemoteCache(Bus& bus, std::chrono::milliseconds timeout) : bus_(bus), timeout_(timeout) {}

  Result<std::optional<std::string>> Get(const std::string& key) override {
    auto reply = Call({{"op", "get"}, {"key", key}}, {});
    if (!reply) return reply.error();
    if (!Found(reply->first)) {
      ++counters_.misses;
      return std::optional<std::string>();
    }
    ++counters_.hits;
    return std::optional<std::string>(std::move(reply->second));
  }

  Result<void> Set(const std::string& key, std::string value, Duration ttl) override {
    auto reply = Call({{"op", "set"}, {"key", key}, {"ttl_ms", ttl.count()}}, value);
    if (!reply) return reply.error();
    return {};
  }

  Result<bool> Delete(const std::string& key) override {
    auto reply = Call({{"op", "del"}, {"key", key}}, {});
    if (!reply) return reply.error();
    return Found(reply->first);
  }

  // As the local caches do: one load per key at a time, and with the cache service away the
  // loader still answers (the cache is an optimisation, not the source of truth).
  Result<std::string> GetOrLoad(const std::string& key, Loader loader, Duration ttl) override {
    return LoadThrough(*this, flights_, key, loader, ttl, counters_.loads);
  }

  CacheStats Stats() const override { return counters_.Snapshot(); }

 private:
  // The reply says "found": true; anything else (absent, or not a boolean) is a miss.
  static bool Found(const nlohmann::json& header) {
    const auto found = header.find("found");
    return found != header.end() && found->is_boolean() && found->get<bool>();
  }

  Result<std::pair<nlohmann::json, std::string>> Call(const nlohmann::json& header,
                                                      const std::string& value) {
    auto reply = rpc::Call(bus_, kCacheRpcSubject, "cache service", header, value, timeout_);
    if (!reply) {
      ++counters_.errors;
      return reply.error();
    }
    return std::make_pair(std::move(reply->header), std::move(reply->payload));
  }

  Bus& bus_;
  const std::chrono::milliseconds timeout_;
  SingleFlight flights_;
  CacheCounters counters_;
};

}  // namespace

std::shared_ptr<Cache> MakeRemoteCache(Bus& bus, std::chrono::milliseconds timeout) {
  return std::make_shared<RemoteCache>(bus, timeout);
}

namespace {

std::string Answer(Cache& cache, const std::string& request) {
  rpc::Frame frame;
  if (!rpc::Decode(request, frame) || !frame.header["key"].is_string()) {
    return Encode(
        {{"ok", false}, {"code", "invalid_argument"}, {"message", "not a cache request"}});
  }
  nlohmann::json& header = frame.header;
  std::string& value = frame.payload;
  const std::string op = header["op"].is_string() ? header["op"].get<std::string>() : "";
  const std::string key = header["key"].get<std::string>();
  const int64_t ttl_ms =
      header["ttl_ms"].is_number_integer() ? header["ttl_ms"].get<int64_t>() : int64_t{0};
  if (op == "get") {
    auto got = cache.Get(key);
    return !got ? Encode(ErrorHeader(got.error()))
                : Encode({{"ok", true}, {"found", got->has_value()}}, got->value_or(""));
  }
  if (op == "set") {
    auto set = cache.Set(key, std::move(value), Cache::Duration(ttl_ms));
    return !set ? Encode(ErrorHeader(set.error())) : Encode({{"ok", true}});
  }
  if (op == "del") {
    auto del = cache.Delete(key);
    return !del ? Encode(ErrorHeader(del.error())) : Encode({{"ok", true}, {"found", *del}});
  }
  return Encode(
      {{"ok", false}, {"code", "invalid_argument"}, {"message", "unknown op '" + op + "'"}});
}

}  // namespace

Result<Bus::SubscriptionId> ServeCache(Bus& bus, const std::shared_ptr<Cache>& cache,
                                       const boost::asio::any_io_executor& executor) {
  return rpc::Serve(bus, kCacheRpcSubject, "cache service", rpc::OnExecutor(executor),
                    [cache](const std::string& request) { return Answer(*cache, request); });
}

}  // namespace sg
