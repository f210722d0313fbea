#include "config/config.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/result.h"
#include "common/strings.h"

namespace sg::config {

std::string Origin::Describe(bool with_column) const {
  switch (kind) {
    case Kind::kDefault:
      return "default";
    case Kind::kFile:
      if (line == 0) return name;
      if (!with_column || column == 0) return fmt::format("{}:{}", name, line);
      return fmt::format("{}:{}:{}", name, line, column);
    case Kind::kEnvironment:
    case Kind::kFlag:
      return name;
  }
  return name;
}

std::string Diagnostic::Format() const {
  std::string out =
      where.kind == Origin::Kind::kDefault ? std::string("streamgate") : where.Describe();
  out += severity == Severity::kError ? ": error: " : ": warning: ";
  if (!key.empty()) out += key + ": ";
  out += message;
  if (!hint.empty()) out += "; " + hint;
  return out;
}

nlohmann::ordered_json Diagnostic::ToJson() const {
  nlohmann::ordered_json j;
  j["severity"] = severity == Severity::kError ? "error" : "warning";
  j["source"] = where.Describe();
  if (where.kind == Origin::Kind::kFile) {
    j["file"] = where.name;
    j["line"] = where.line;
    j["column"] = where.column;
  }
  j["key"] = key;
  j["message"] = message;
  j["hint"] = hint;
  return j;
}

const Entry& Config::Get(std::string_view path) const {
  auto it = entries_.find(path);
  SG_CHECK(it != entries_.end());
  return it->second;
}

bool Config::Bool(std::string_view path) const { return std::get<bool>(Get(path).value); }
int64_t Config::Int(std::string_view path) const { return std::get<int64_t>(Get(path).value); }
std::chrono::milliseconds Config::Duration(std::string_view path) const {
  return std::chrono::milliseconds(Int(path));
}
const std::string& Config::String(std::string_view path) const {
  return std::get<std::string>(Get(path).value);
}
const std::vector<std::string>& Config::List(std::string_view path) const {
  return std::get<std::vector<std::string>>(Get(path).value);
}

const Schema& Config::schema() const {
  SG_CHECK(schema_ != nullptr);
  return *schema_;
}

bool Config::PluginEnabled(std::string_view name) const {
  const auto& enabled = List("plugins.enabled");
  return enabled.empty() || std::find(enabled.begin(), enabled.end(), name) != enabled.end();
}

std::string FormatValue(const KeySpec& spec, const Value& value) {
  if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
    return "[" + Join(*list, ", ") + "]";
  }
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  const int64_t n = std::get<int64_t>(value);
  if (spec.type == Type::kDuration) {
    if (n % 3600000 == 0 && n != 0) return fmt::format("{}h", n / 3600000);
    if (n % 60000 == 0 && n != 0) return fmt::format("{}m", n / 60000);
    if (n % 1000 == 0) return fmt::format("{}s", n / 1000);
    return fmt::format("{}ms", n);
  }
  if (spec.type == Type::kSize) {
    if (n % (int64_t{1} << 30) == 0 && n != 0) return fmt::format("{}GiB", n >> 30);
    if (n % (int64_t{1} << 20) == 0 && n != 0) return fmt::format("{}MiB", n >> 20);
    if (n % (int64_t{1} << 10) == 0 && n != 0) return fmt::format("{}KiB", n >> 10);
    return std::to_string(n);
  }
  return std::to_string(n);
}

std::string RedactUrl(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const size_t start = scheme + 3;
  const size_t end = url.find_first_of("/?#", start);
  const size_t at = url.rfind('@', end == std::string::npos ? url.size() : end);
  if (at == std::string::npos || at < start) return url;
  const size_t colon = url.find(':', start);
  if (colon == std::string::npos || colon > at) return url;  // a user name alone is no secret
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

std::string Config::Show(std::string_view path, bool reveal) const {
  const KeySpec* spec = schema().Find(path);
  SG_CHECK(spec != nullptr);
  const Value& value = Get(path).value;
  if (!reveal && spec->secret) {
    const auto* s = std::get_if<std::string>(&value);
    return (s != nullptr && s->empty()) ? "" : "<redacted>";
  }
  std::string text = FormatValue(*spec, value);
  if (!reveal && spec->type == Type::kUrl) text = RedactUrl(text);
  return text;
}

nlohmann::ordered_json Config::ToJson(bool reveal) const {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& spec : schema().keys()) {
    const Entry& entry = Get(spec.path);
    nlohmann::ordered_json item;
    const bool redacted = !reveal && (spec.secret || spec.type == Type::kUrl);
    if (redacted || spec.type == Type::kDuration || spec.type == Type::kSize) {
      item["value"] = Show(spec.path, reveal);
    } else {
      std::visit([&item](const auto& v) { item["value"] = v; }, entry.value);
    }
    if (spec.type == Type::kDuration) item["milliseconds"] = std::get<int64_t>(entry.value);
    if (spec.type == Type::kSize) item["bytes"] = std::get<int64_t>(entry.value);
    item["source"] = entry.origin.Describe(false);
    out[std::string(spec.path)] = item;
  }
  return out;
}

}  // namespace sg::config
