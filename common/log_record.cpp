#include "common/log_record.h"

#include <fmt/format.h>

namespace sg::log {
namespace {

// Separators inside an encoded payload: message US key RS type value US key RS type value ...
constexpr char kFieldSep = '\x1f';
constexpr char kValueSep = '\x1e';

std::string Sanitize(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == kFieldSep || c == kValueSep) c = '?';
  }
  return out;
}

}  // namespace

std::optional<spdlog::level::level_enum> ParseLevel(std::string_view name) {
  if (name == "trace") return spdlog::level::trace;
  if (name == "debug") return spdlog::level::debug;
  if (name == "info") return spdlog::level::info;
  if (name == "warn" || name == "warning") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  if (name == "critical") return spdlog::level::critical;
  if (name == "off") return spdlog::level::off;
  return std::nullopt;
}

std::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

std::string With(std::string_view message, std::initializer_list<Field> fields) {
  return With(message, std::vector<Field>(fields));
}

std::string With(std::string_view message, const std::vector<Field>& fields) {
  std::string out = Sanitize(message);
  for (const auto& field : fields) {
    out += kFieldSep;
    out += Sanitize(field.key);
    out += kValueSep;
    std::visit(
        [&out](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, std::string>) {
            out += 's';
            out += Sanitize(v);
          } else if constexpr (std::is_same_v<V, int64_t>) {
            out += 'i';
            out += std::to_string(v);
          } else if constexpr (std::is_same_v<V, double>) {
            out += 'd';
            out += fmt::format("{}", v);
          } else {
            out += v ? "btrue" : "bfalse";
          }
        },
        field.value);
  }
  return out;
}

void Decode(std::string_view payload, std::string& message, std::vector<Field>& fields) {
  size_t pos = payload.find(kFieldSep);
  message.assign(payload.substr(0, pos));
  fields.clear();
  while (pos != std::string_view::npos) {
    const size_t start = pos + 1;
    pos = payload.find(kFieldSep, start);
    std::string_view part =
        payload.substr(start, pos == std::string_view::npos ? pos : pos - start);
    const size_t sep = part.find(kValueSep);
    if (sep == std::string_view::npos || sep + 1 >= part.size()) continue;
    std::string key(part.substr(0, sep));
    const char type = part[sep + 1];
    const std::string text(part.substr(sep + 2));
    Field::Value value = text;
    try {
      if (type == 'i') value = static_cast<int64_t>(std::stoll(text));
      if (type == 'd') value = std::stod(text);
      if (type == 'b') value = (text == "true");
    } catch (const std::exception&) {
      // A malformed number stays a string: a record is never dropped for its fields.
    }
    fields.emplace_back(std::move(key), std::move(value), 0);
  }
}

}  // namespace sg::log
