// A log record and its encoding: a message with typed key=value fields travels through spdlog as
// one string (With), and comes out again as a Record (Decode); plus the names of the levels.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <spdlog/common.h>

namespace sg::log {

/// Parses trace, debug, info, warn (or warning), error, critical, off.
std::optional<spdlog::level::level_enum> ParseLevel(std::string_view name);
/// The name we print for a level: trace, debug, info, warn, error, critical, off.
std::string_view LevelName(spdlog::level::level_enum level);

/// One key=value field of a structured record.
struct Field {
  using Value = std::variant<std::string, int64_t, double, bool>;
  template <typename T>
  Field(std::string k, T&& v) : key(std::move(k)), value(ToValue(std::forward<T>(v))) {}
  Field(std::string k, Value v, int /*tag*/) : key(std::move(k)), value(std::move(v)) {}

  std::string key;
  Value value;

 private:
  template <typename T>
  static Value ToValue(T&& v) {
    using D = std::decay_t<T>;
    if constexpr (std::is_same_v<D, bool>) {
      return v;
    } else if constexpr (std::is_integral_v<D>) {
      return static_cast<int64_t>(v);
    } else if constexpr (std::is_floating_point_v<D>) {
      return static_cast<double>(v);
    } else {
      return std::string(std::forward<T>(v));
    }
  }
};

/// A message with fields, encoded for spdlog: `logger->info(log::With("Plugin started",
/// {{"name", name}}))`. The formatters and the ring decode it again.
std::string With(std::string_view message, std::initializer_list<Field> fields);
/// The same, with fields gathered at run time.
std::string With(std::string_view message, const std::vector<Field>& fields);

/// A decoded record, as the ring keeps it and `streamgate logs` shows it.
struct Record {
  uint64_t seq = 0;
  std::chrono::system_clock::time_point time;
  spdlog::level::level_enum level = spdlog::level::info;
  std::string component;
  std::string message;
  std::vector<Field> fields;
};

/// Splits a payload made by With() into its message and fields.
void Decode(std::string_view payload, std::string& message, std::vector<Field>& fields);

}  // namespace sg::log
