// Services that plugins offer each other by interface (the cache's get/set, say). A plugin asks
// for an interface by name, never includes another plugin's headers: in microservice mode the
// same interface may be a client that reaches another process.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <typeindex>

#include "common/result.h"

namespace sg {

/// What a stopped plugin's routes and services answer, naming the way out.
inline std::string NotRunningMessage(std::string_view plugin) {
  const std::string name(plugin);
  return "plugin '" + name + "' is not running; start it with 'streamgate plugins start " + name +
         "'";
}

/// Thread-safe registry of named service objects. Each plugin sees it through a view of its own
/// (ForOwner), so the registry knows who offered what: while a plugin is not running, its
/// services answer kUnavailable naming it, and offer again when it runs.
class ServiceRegistry {
 public:
  ServiceRegistry() : state_(std::make_shared<State>()) {}

  /// The same registry, as seen by `owner`: what it Provides is owned by it.
  std::shared_ptr<ServiceRegistry> ForOwner(std::string owner) const {
    return std::shared_ptr<ServiceRegistry>(new ServiceRegistry(state_, std::move(owner)));
  }

  /// Offers `service` under `name`; replaces an earlier offer of the same name.
  template <typename Interface>
  void Provide(const std::string& name, std::shared_ptr<Interface> service) {
    std::lock_guard lock(state_->mu);
    state_->services.insert_or_assign(
        name, Entry{std::type_index(typeid(Interface)), std::move(service), owner_});
  }

  /// Withdraws a service.
  void Withdraw(const std::string& name) {
    std::lock_guard lock(state_->mu);
    state_->services.erase(name);
  }

  /// `owner` is not running: its services answer kUnavailable until Resume.
  void Suspend(const std::string& owner) {
    std::lock_guard lock(state_->mu);
    state_->suspended.insert(owner);
  }
  void Resume(const std::string& owner) {
    std::lock_guard lock(state_->mu);
    state_->suspended.erase(owner);
  }

  /// The service offered under `name` as `Interface`: kUnavailable when nobody offers it or its
  /// plugin is not running, kInvalidArgument when it is offered under another interface.
  template <typename Interface>
  Result<std::shared_ptr<Interface>> Find(const std::string& name) const {
    std::lock_guard lock(state_->mu);
    auto it = state_->services.find(name);
    if (it == state_->services.end()) {
      return Fail(ErrorCode::kUnavailable, "service '" + name + "' is not available");
    }
    if (!it->second.owner.empty() && state_->suspended.contains(it->second.owner)) {
      return Fail(ErrorCode::kUnavailable, "service '" + name + "' is not available: " +
                                               NotRunningMessage(it->second.owner));
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
    std::string owner;  // the plugin that offered it; "" for the daemon
  };
  struct State {
    std::mutex mu;
    std::map<std::string, Entry> services;  // guarded by mu
    std::set<std::string> suspended;        // owners not running; guarded by mu
  };
  ServiceRegistry(std::shared_ptr<State> state, std::string owner)
      : state_(std::move(state)), owner_(std::move(owner)) {}

  std::shared_ptr<State> state_;
  std::string owner_;
};

}  // namespace sg
