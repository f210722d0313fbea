// Where the plugins that listen can be reached (in the service registry as "listeners"). The
// daemon reports them in its status, so that an operator learns the port that was bound, whether
// it came from the file, the environment, --set or port 0.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace sg {

/// Thread-safe. Each entry is a URL a client on this machine can use.
class Listeners {
 public:
  /// `name` ("http", "metrics") serves at http://HOST:PORT/PATH; a wildcard host (0.0.0.0, ::)
  /// is given as loopback. Replaces an earlier entry of the same name.
  void Set(const std::string& name, const std::string& host, uint16_t port,
           const std::string& path = "") {
    std::string reach = host;
    if (host.empty() || host == "0.0.0.0") reach = "127.0.0.1";
    if (host == "::") reach = "::1";
    if (reach.find(':') != std::string::npos) reach = "[" + reach + "]";
    std::lock_guard lock(mu_);
    urls_[name] = "http://" + reach + ":" + std::to_string(port) + path;
  }

  /// The listener closed (its plugin stopped).
  void Remove(const std::string& name) {
    std::lock_guard lock(mu_);
    urls_.erase(name);
  }

  std::map<std::string, std::string> All() const {
    std::lock_guard lock(mu_);
    return urls_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> urls_;  // guarded by mu_
};

}  // namespace sg
