#include "daemon/plugin_api/cache_rpc.h"

#include <atomic>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sg {
namespace {

// A frame is a JSON header, a newline, then the value's raw bytes (which may be binary).
std::string Frame(const nlohmann::json& header, const std::string& value = {}) {
  return header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n" + value;
}

bool Unframe(const std::string& frame, nlohmann::json& header, std::string& value) {
  const size_t nl = frame.find('\n');
  if (nl == std::string::npos) return false;
  header = nlohmann::json::parse(frame.substr(0, nl), nullptr, false);
  if (header.is_discarded() || !header.is_object()) return false;
  value = frame.substr(nl + 1);
  return true;
}

nlohmann::json ErrorHeader(const Error& e) {
  return {{"ok", false}, {"code", ErrorCodeName(e.code)}, {"message", e.message}};
}

ErrorCode CodeFromName(const std::string& name) {
  for (auto c :
       {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kIo, ErrorCode::kConfig,
        ErrorCode::kTimeout, ErrorCode::kUnavailable, ErrorCode::kFailedPrecondition}) {
    if (name == ErrorCodeName(c)) return c;
  }
  return ErrorCode::kInternal;
}

class RemoteCache final : public Cache {
 public:
  RemoteCache(Bus& bus, std::chrono::milliseconds timeout) : bus_(bus), timeout_(timeout) {}

  Result<std::optional<std::string>> Get(const std::string& key) override {
    auto reply = Call({{"op", "get"}, {"key", key}}, {});
    if (!reply) return reply.error();
    if (!reply->first.value("found", false)) {
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
    return reply->first.value("found", false);
  }

  // As the local caches do: one load per key at a time, and with the cache service away the
  // loader still answers (the cache is an optimisation, not the source of truth).
  Result<std::string> GetOrLoad(const std::string& key, Loader loader, Duration ttl) override {
    return LoadThrough(*this, flights_, key, loader, ttl, counters_.loads);
  }

  CacheStats Stats() const override { return counters_.Snapshot(); }

 private:
  Result<std::pair<nlohmann::json, std::string>> Call(const nlohmann::json& header,
                                                      const std::string& value) {
    auto reply = bus_.Request(kCacheRpcSubject, Frame(header, value), timeout_);
    if (!reply) {
      ++counters_.errors;
      return reply.error().Wrap("cache service");
    }
    std::pair<nlohmann::json, std::string> out;
    if (!Unframe(reply->data, out.first, out.second)) {
      ++counters_.errors;
      return Fail(ErrorCode::kInternal, "cache service: a reply that is not a cache frame");
    }
    if (!out.first.value("ok", false)) {
      ++counters_.errors;
      return Fail(CodeFromName(out.first.value("code", "internal")),
                  "cache service: " + out.first.value("message", std::string("failed")));
    }
    return out;
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
  nlohmann::json header;
  std::string value;
  if (!Unframe(request, header, value) || !header["key"].is_string()) {
    return Frame({{"ok", false}, {"code", "invalid_argument"}, {"message", "not a cache request"}});
  }
  const std::string op = header.value("op", "");
  const std::string key = header["key"].get<std::string>();
  if (op == "get") {
    auto got = cache.Get(key);
    return !got ? Frame(ErrorHeader(got.error()))
                : Frame({{"ok", true}, {"found", got->has_value()}}, got->value_or(""));
  }
  if (op == "set") {
    auto set =
        cache.Set(key, std::move(value), Cache::Duration(header.value("ttl_ms", int64_t{0})));
    return !set ? Frame(ErrorHeader(set.error())) : Frame({{"ok", true}});
  }
  if (op == "del") {
    auto del = cache.Delete(key);
    return !del ? Frame(ErrorHeader(del.error())) : Frame({{"ok", true}, {"found", *del}});
  }
  return Frame(
      {{"ok", false}, {"code", "invalid_argument"}, {"message", "unknown op '" + op + "'"}});
}

}  // namespace

Result<Bus::SubscriptionId> ServeCache(Bus& bus, const std::shared_ptr<Cache>& cache,
                                       const boost::asio::any_io_executor& executor) {
  return bus.Subscribe(
      kCacheRpcSubject,
      [&bus, cache, executor](const Message& m) {
        if (m.reply.empty()) return;
        boost::asio::post(executor,
                          [&bus, cache, m] { (void)bus.Publish(m.reply, Answer(*cache, m.data)); });
      },
      4096);
}

}  // namespace sg
