#include "daemon/plugins/cache/redis_cache.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>

namespace sg::plugins {
namespace {

constexpr auto kReconnectPause = std::chrono::milliseconds(500);

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

}  // namespace

// A reply, copied out of hiredis's object so that it can be freed at once.
struct RedisCache::Reply {
  int type = 0;
  std::string text;
  long long integer = 0;
};

RedisCache::RedisCache(RedisCacheOptions options) : options_(std::move(options)) {}

RedisCache::~RedisCache() {
  std::lock_guard lock(mu_);
  for (redisContext* c : idle_) redisFree(c);
}

std::string RedisCache::Address() const {
  return fmt::format("{}:{}", options_.host, options_.port);
}

namespace {

// One command, its arguments binary-safe; null when the connection broke (see c->errstr).
redisReply* Send(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
}

}  // namespace

Result<redisContext*> RedisCache::Connect() {
  redisContext* c =
      redisConnectWithTimeout(options_.host.c_str(), options_.port, ToTimeval(options_.timeout));
  if (c == nullptr || c->err != 0) {
    const std::string why = c != nullptr ? c->errstr : "out of memory";
    if (c != nullptr) redisFree(c);
    return Fail(ErrorCode::kUnavailable, fmt::format("redis {}: {}", Address(), why));
  }
  redisSetTimeout(c, ToTimeval(options_.timeout));
  auto setup = [&](const std::vector<std::string>& args) -> std::string {
    redisReply* r = Send(c, args);
    if (r == nullptr) return c->errstr;
    std::string error = r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len) : "";
    freeReplyObject(r);
    return error;
  };
  std::string error;
  if (!options_.password.empty()) error = setup({"AUTH", options_.password});
  if (error.empty() && options_.db != 0) error = setup({"SELECT", std::to_string(options_.db)});
  if (!error.empty()) {
    redisFree(c);
    return Fail(ErrorCode::kUnavailable, fmt::format("redis {}: {}", Address(), error));
  }
  return c;
}

Result<redisContext*> RedisCache::Acquire() {
  std::unique_lock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  for (;;) {
    if (!idle_.empty()) {
      redisContext* c = idle_.back();
      idle_.pop_back();
      return c;
    }
    if (open_ < options_.pool_size) {
      if (std::chrono::steady_clock::now() < retry_after_) {
        return Fail(ErrorCode::kUnavailable, last_error_ + " (retrying shortly)");
      }
      ++open_;
      lock.unlock();
      auto made = Connect();
      lock.lock();
      if (!made) {
        --open_;
        retry_after_ = std::chrono::steady_clock::now() + kReconnectPause;
        last_error_ = made.error().message;
        cv_.notify_one();
        return made.error();
      }
      return *made;
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      return Fail(ErrorCode::kTimeout,
                  fmt::format("redis {}: all {} connections busy for {}ms", Address(),
                              options_.pool_size, options_.timeout.count()));
    }
  }
}

void RedisCache::Release(redisContext* c, bool broken) {
  std::lock_guard lock(mu_);
  if (broken) {
    redisFree(c);
    --open_;
  } else {
    idle_.push_back(c);
  }
  cv_.notify_one();
}

Result<RedisCache::Reply> RedisCache::Command(const std::vector<std::string>& args) {
  auto c = Acquire();
  if (!c) {
    ++counters_.errors;
    return c.error();
  }
  redisReply* r = Send(*c, args);
  if (r == nullptr) {
    // The connection is broken (reset, timed out): drop it; the next use reconnects.
    const bool timed_out = (*c)->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
    const std::string why = (*c)->errstr;
    Release(*c, true);
    ++counters_.errors;
    return Fail(timed_out ? ErrorCode::kTimeout : ErrorCode::kUnavailable,
                fmt::format("redis {}: {}", Address(), timed_out ? "no answer in time" : why));
  }
  Reply reply;
  reply.type = r->type;
  if (r->str != nullptr) reply.text.assign(r->str, r->len);
  reply.integer = r->integer;
  freeReplyObject(r);
  Release(*c, false);
  if (reply.type == REDIS_REPLY_ERROR) {
    ++counters_.errors;
    return Fail(ErrorCode::kInternal, fmt::format("redis {}: {}", Address(), reply.text));
  }
  return reply;
}

Result<std::optional<std::string>> RedisCache::Get(const std::string& key) {
  auto reply = Command({"GET", options_.key_prefix + key});
  if (!reply) {
    if (options_.fallback) return options_.fallback->Get(key);
    return reply.error();
  }
  if (reply->type == REDIS_REPLY_NIL) {
    ++counters_.misses;
    return std::optional<std::string>();
  }
  ++counters_.hits;
  return std::optional<std::string>(std::move(reply->text));
}

Result<void> RedisCache::Set(const std::string& key, std::string value, Duration ttl) {
  if (ttl <= Duration::zero()) ttl = options_.default_ttl;
  auto reply =
      Command({"SET", options_.key_prefix + key, value, "PX", std::to_string(ttl.count())});
  if (!reply) {
    if (options_.fallback) return options_.fallback->Set(key, std::move(value), ttl);
    return reply.error();
  }
  return {};
}

Result<bool> RedisCache::Delete(const std::string& key) {
  auto reply = Command({"DEL", options_.key_prefix + key});
  if (options_.fallback) (void)options_.fallback->Delete(key);
  if (!reply) return reply.error();
  return reply->integer > 0;
}

Result<std::string> RedisCache::GetOrLoad(const std::string& key, Loader loader, Duration ttl) {
  return LoadThrough(*this, flights_, key, loader, ttl, counters_.loads);
}

Result<void> RedisCache::Ping() {
  auto reply = Command({"PING"});
  if (!reply) return reply.error();
  return {};
}

CacheStats RedisCache::Stats() const { return counters_.Snapshot(); }

}  // namespace sg::plugins
