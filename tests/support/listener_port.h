// The port of a daemon's listener, from `streamgate --json status`.
#pragma once

#include <cstdint>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

namespace sg::test {

/// The port of listener `name` ("http", "metrics") in the output of `streamgate --json status`:
/// its "listeners" map names each URL with the port the daemon bound. 0 when the output is not
/// JSON or has no such listener (its plugin is not running).
inline uint16_t ListenerPort(const std::string& status_json, const std::string& name) {
  const auto status = nlohmann::json::parse(status_json, nullptr, false);
  if (status.is_discarded() || !status.is_object()) return 0;
  const auto listeners = status.value("listeners", nlohmann::json::object());
  const std::string url = listeners.value(name, "");
  std::smatch port;
  if (!std::regex_search(url, port, std::regex(R"(:(\d+)(/|$))"))) return 0;
  return static_cast<uint16_t>(std::stoi(port[1]));
}

}  // namespace sg::test
