// Single flight: concurrent callers asking for the same key share one load.
#pragma once

#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.h"

namespace sg {

/// Thread-safe.
class SingleFlight {
 public:
  /// Runs `load` for `key` unless a load of the same key is under way, in which case it waits
  /// for that one's result. `leader` tells whether this call ran the load.
  template <typename Load>
  Result<std::string> Do(const std::string& key, Load&& load, bool& leader) {
    std::shared_ptr<std::promise<Result<std::string>>> promise;
    std::shared_future<Result<std::string>> future;
    {
      std::lock_guard lock(mu_);
      auto it = flights_.find(key);
      leader = it == flights_.end();
      if (leader) {
        promise = std::make_shared<std::promise<Result<std::string>>>();
        future = promise->get_future().share();
        flights_.emplace(key, future);
      } else {
        future = it->second;
      }
    }
    if (!leader) return future.get();
    Result<std::string> result = Fail(ErrorCode::kInternal, "load did not run");
    try {
      result = load();
    } catch (const std::exception& e) {
      result = Fail(ErrorCode::kInternal, std::string("load threw: ") + e.what());
    } catch (...) {
      // Whatever it was, the waiters get an answer and the key is free again.
      result = Fail(ErrorCode::kInternal, "load threw");
    }
    {
      std::lock_guard lock(mu_);
      flights_.erase(key);
    }
    promise->set_value(result);
    return result;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_future<Result<std::string>>> flights_;  // guarded by mu_
};

}  // namespace sg
