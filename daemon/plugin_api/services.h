// Services that plugins offer each other by interface (the cache's get/set, say). A plugin asks
// for an interface by name, never includes another plugin's headers: in microservice mode the
// same interface may be a client that reaches another process.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <typeindex>

#include "common/result.h"

namespace sg {

/// Thread-safe registry of named service objects.
class ServiceRegistry {
 public:
  /// Offers `service` under `name`; replaces an earlier offer of the same name.
  template <typename Interface>
  void Provide(const std::string& name, std::shared_ptr<Interface> service) {
    std::lock_guard lock(mu_);
    services_.insert_or_assign(name, Entry{std::type_index(typeid(Interface)), std::move(service)});
  }

  /// Withdraws a service (its plugin stopped).
  void Withdraw(const std::string& name) {
    std::lock_guard lock(mu_);
    services_.erase(name);
  }

  /// The service offered under `name` as `Interface`: kUnavailable when nobody offers it,
  /// kInvalidArgument when it is offered under another interface.
  template <typename Interface>
  Result<std::shared_ptr<Interface>> Find(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = services_.find(name);
    if (it == services_.end()) {
      return Fail(ErrorCode::kUnavailable, "service '" + name + "' is not available");
    }
    if (it->second.type != std::type_index(typeid(Interface))) {
      return Fail(ErrorCode::kInvalidArgument, "service '" + name + "' has another interface");
    }
    return std::static_pointer_cast<Interface>(it->second.object);
  }

 private:
  struct Entry {
    std::type_index type;
    std::shared_ptr<void> object;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> services_;  // guarded by mu_
};

}  // namespace sg
