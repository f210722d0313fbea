// The cache service across processes: in microservice mode, the cache process answers requests
// on the bus subject svc.cache.rpc, and every other process gets a RemoteCache under "cache", so
// that a plugin that caches is the same code in both modes.
#pragma once

#include <chrono>
#include <memory>

#include <boost/asio/any_io_executor.hpp>

#include "daemon/plugin_api/bus.h"
#include "daemon/plugin_api/cache.h"

namespace sg {

inline constexpr const char* kCacheRpcSubject = "svc.cache.rpc";

/// A Cache whose calls are bus requests. kUnavailable when no cache service answers,
/// kTimeout when it does not answer within `timeout`.
std::shared_ptr<Cache> MakeRemoteCache(Bus& bus, std::chrono::milliseconds timeout);

/// Answers cache requests on the bus from `cache`, each on `executor` so that a slow backend
/// never holds up the bus's delivery thread. Returns the subscription.
Result<Bus::SubscriptionId> ServeCache(Bus& bus, const std::shared_ptr<Cache>& cache,
                                       const boost::asio::any_io_executor& executor);

}  // namespace sg
