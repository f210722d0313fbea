// The catalogue across processes: in microservice mode the metadata process answers requests on
// the bus subject svc.metadata.rpc, and every other process gets a remote catalogue under
// "metadata", so that a plugin that reads or moves videos is the same code in both modes.
#pragma once

#include <chrono>
#include <memory>

#include "daemon/plugin_api/blocking_pool.h"
#include "daemon/plugin_api/bus.h"
#include "daemon/plugin_api/catalogue.h"

namespace sg {

inline constexpr const char* kCatalogueRpcSubject = "svc.metadata.rpc";

/// A Catalogue whose calls are bus requests: the errors are the metadata process's own
/// (kNotFound, kFailedPrecondition ...), kUnavailable when no metadata service answers, kTimeout
/// when it does not answer within `timeout`.
std::shared_ptr<Catalogue> MakeRemoteCatalogue(Bus& bus, std::chrono::milliseconds timeout);

/// Answers catalogue requests on the bus from `catalogue`, each on `blocking` (the catalogue waits
/// on its database, which the daemon's executor must never do); a request the pool refuses is
/// answered kUnavailable. Returns the subscription.
Result<Bus::SubscriptionId> ServeCatalogue(Bus& bus, const std::shared_ptr<Catalogue>& catalogue,
                                           BlockingPool& blocking);

}  // namespace sg
