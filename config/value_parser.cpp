#include "config/value_parser.h"

#include <cctype>
#include <charconv>
#include <limits>

#include <fmt/format.h>

#include "common/strings.h"

namespace sg::config {
namespace {

ParsedValue Bad(std::string message, std::string hint = {}) {
  return {std::nullopt, std::move(message), std::move(hint)};
}

ParsedValue Good(Value value) { return {std::move(value), {}, {}}; }

std::string Quote(std::string_view text) { return "'" + Printable(text) + "'"; }

std::optional<int64_t> ParseInteger(std::string_view text) {
  int64_t value = 0;
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// Splits "30s" into 30 and "s"; the number part may not be empty.
bool SplitUnit(std::string_view text, int64_t& number, std::string& unit) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0) return false;
  auto parsed = ParseInteger(text.substr(0, i));
  if (!parsed) return false;
  number = *parsed;
  std::string_view rest = text.substr(i);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  unit = std::string(rest);
  return true;
}

bool MultiplyChecked(int64_t a, int64_t b, int64_t& out) {
  return !__builtin_mul_overflow(a, b, &out);
}

std::string FormatRangeValue(const KeySpec& spec, int64_t v) {
  const bool with_unit = spec.type == Type::kDuration || spec.type == Type::kSize;
  return with_unit ? FormatValue(spec, Value{v}) : std::to_string(v);
}

ParsedValue CheckRange(const KeySpec& spec, int64_t v, std::string_view text) {
  if (v < spec.min || (spec.max != 0 && v > spec.max)) {
    const std::string low = FormatRangeValue(spec, spec.min);
    const std::string what = spec.type == Type::kPort ? "a port" : "a value";
    if (spec.max == 0) {
      return Bad(fmt::format("{} is out of range", Quote(text)),
                 fmt::format("use {} of at least {}", what, low));
    }
    return Bad(fmt::format("{} is out of range", Quote(text)),
               fmt::format("use {} from {} to {}", what, low, FormatRangeValue(spec, spec.max)));
  }
  return Good(v);
}

bool ValidHost(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  for (char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (!(std::isalnum(u) || c == '.' || c == '-' || c == ':' || c == '_')) return false;
  }
  return true;
}

// Splits "host:port" (or "[v6]:port"); false when there is no port.
bool SplitHostPort(std::string_view text, std::string_view& host, std::string_view& port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  host = text.substr(0, colon);
  port = text.substr(colon + 1);
  if (host.find(':') != std::string_view::npos && !(host.front() == '[' && host.back() == ']')) {
    return false;  // a bare IPv6 address needs brackets
  }
  return true;
}

ParsedValue CheckHostPort(std::string_view text, std::string_view example) {
  std::string_view host;
  std::string_view port;
  if (!SplitHostPort(text, host, port) || !ValidHost(host)) {
    return Bad(fmt::format("{} is not a host:port", Quote(text)),
               fmt::format("write it as {}", example));
  }
  auto number = ParseInteger(port);
  if (!number || *number < 1 || *number > 65535) {
    return Bad(fmt::format("{} has a bad port {}", Quote(text), Quote(port)),
               "use a port from 1 to 65535");
  }
  return Good(std::string(text));
}

ParsedValue ParseUrl(const KeySpec& spec, std::string_view text) {
  if (text.empty()) {
    if (spec.min == 0) return Good(std::string());
    return Bad("is empty", fmt::format("set a URL such as {}", spec.default_value));
  }
  std::vector<std::string> schemes(spec.choices.begin(), spec.choices.end());
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos || sep == 0) {
    return Bad(fmt::format("{} is not a URL", Quote(text)),
               fmt::format("write it as {}://HOST[:PORT][/PATH]", schemes.front()));
  }
  const std::string scheme = ToLower(text.substr(0, sep));
  if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end()) {
    return Bad(fmt::format("{} has scheme '{}'", Quote(text), Printable(scheme)),
               fmt::format("use one of: {}", Join(schemes, ", ")));
  }
  std::string_view rest = text.substr(sep + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (authority.empty()) {
    return Bad(fmt::format("{} has no host", Quote(text)),
               fmt::format("write it as {}://HOST[:PORT][/PATH]", scheme));
  }
  std::string_view host = authority;
  std::string_view port;
  const bool bracketed_only = authority.front() == '[' && authority.back() == ']';
  if (!bracketed_only && SplitHostPort(authority, host, port)) {
    auto number = ParseInteger(port);
    if (!number || *number < 1 || *number > 65535) {
      return Bad(fmt::format("{} has a bad port {}", Quote(text), Quote(port)),
                 "use a port from 1 to 65535");
    }
  }
  if (!ValidHost(host)) {
    return Bad(fmt::format("{} has a bad host {}", Quote(text), Quote(host)),
               "use a host name or an IP address");
  }
  return Good(std::string(text));
}

ParsedValue ParseEndpoint(std::string_view text) {
  if (text.empty()) return Good(std::string());
  if (text.starts_with("ipc://")) {
    const std::string_view path = text.substr(6);
    // sockaddr_un holds 107 bytes and a terminating NUL.
    if (path.empty() || path.size() > 107) {
      return Bad(fmt::format("{} has an ipc path of {} bytes", Quote(text), path.size()),
                 "use a path of 1 to 107 bytes");
    }
    return Good(std::string(text));
  }
  if (text.starts_with("tcp://")) {
    ParsedValue checked = CheckHostPort(text.substr(6), "tcp://127.0.0.1:7400");
    if (checked.value) checked.value = std::string(text);
    return checked;
  }
  return Bad(fmt::format("{} is not a control endpoint", Quote(text)),
             "use ipc://PATH, tcp://HOST:PORT, or leave it empty for the default");
}

}  // namespace

ParsedValue ParseScalar(const KeySpec& spec, std::string_view text) {
  switch (spec.type) {
    case Type::kBool: {
      const std::string lower = ToLower(text);
      if (lower == "true" || lower == "yes" || lower == "on" || lower == "1") return Good(true);
      if (lower == "false" || lower == "no" || lower == "off" || lower == "0") return Good(false);
      return Bad(fmt::format("expected true or false, got {}", Quote(text)));
    }
    case Type::kInt:
    case Type::kPort: {
      auto number = ParseInteger(text);
      if (!number) {
        return Bad(fmt::format("expected {}, got {}",
                               spec.type == Type::kPort ? "a port number" : "a whole number",
                               Quote(text)));
      }
      return CheckRange(spec, *number, text);
    }
    case Type::kDuration: {
      int64_t number = 0;
      std::string unit;
      if (!SplitUnit(text, number, unit)) {
        if (!text.empty() && text.front() == '-') {
          return Bad(fmt::format("{} is negative", Quote(text)), "use a positive duration");
        }
        return Bad(fmt::format("expected a duration, got {}", Quote(text)),
                   "write seconds (30) or a number with a unit: 500ms, 30s, 5m, 1h");
      }
      int64_t scale = 0;
      if (unit.empty() || unit == "s") scale = 1000;
      if (unit == "ms") scale = 1;
      if (unit == "m") scale = int64_t{60} * 1000;
      if (unit == "h") scale = int64_t{3600} * 1000;
      int64_t ms = 0;
      if (scale == 0) {
        return Bad(fmt::format("{} has an unknown unit '{}'", Quote(text), Printable(unit)),
                   "use ms, s, m or h");
      }
      if (!MultiplyChecked(number, scale, ms)) {
        return Bad(fmt::format("{} is too long", Quote(text)));
      }
      return CheckRange(spec, ms, text);
    }
    case Type::kSize: {
      int64_t number = 0;
      std::string unit;
      if (!SplitUnit(text, number, unit)) {
        return Bad(fmt::format("expected a size, got {}", Quote(text)),
                   "write bytes (1048576) or a number with a unit: 512KiB, 10MiB, 1GiB");
      }
      const std::string u = ToLower(unit);
      int64_t scale = 0;
      if (u.empty() || u == "b") scale = 1;
      if (u == "k" || u == "kb" || u == "kib") scale = int64_t{1} << 10;
      if (u == "m" || u == "mb" || u == "mib") scale = int64_t{1} << 20;
      if (u == "g" || u == "gb" || u == "gib") scale = int64_t{1} << 30;
      int64_t bytes = 0;
      if (scale == 0) {
        return Bad(fmt::format("{} has an unknown unit '{}'", Quote(text), Printable(unit)),
                   "use KiB, MiB or GiB");
      }
      if (!MultiplyChecked(number, scale, bytes)) {
        return Bad(fmt::format("{} is too large", Quote(text)));
      }
      return CheckRange(spec, bytes, text);
    }
    case Type::kString: {
      if (static_cast<int64_t>(text.size()) < spec.min) {
        return Bad(text.empty()
                       ? "is empty"
                       : fmt::format("{} is shorter than {} characters", Quote(text), spec.min),
                   fmt::format("set a value such as '{}'", spec.default_value));
      }
      if (spec.max != 0 && static_cast<int64_t>(text.size()) > spec.max) {
        return Bad(fmt::format("is {} characters long", text.size()),
                   fmt::format("use at most {} characters", spec.max));
      }
      return Good(std::string(text));
    }
    case Type::kEnum: {
      std::vector<std::string> choices(spec.choices.begin(), spec.choices.end());
      if (std::find(choices.begin(), choices.end(), text) != choices.end()) {
        return Good(std::string(text));
      }
      std::string hint = "use one of: " + Join(choices, ", ");
      const std::string match = ClosestMatch(text, choices);
      if (!match.empty())
        hint = fmt::format("did you mean '{}'? Valid: {}", match, Join(choices, ", "));
      return Bad(fmt::format("{} is not a valid value", Quote(text)), hint);
    }
    case Type::kUrl:
      return ParseUrl(spec, text);
    case Type::kHost:
      if (text.find("://") != std::string_view::npos) {
        return Bad(fmt::format("expected a host name, got the URL {}", Quote(text)),
                   "write only the host, such as localhost or 10.0.0.5");
      }
      if (!ValidHost(text)) {
        return Bad(fmt::format("{} is not a host name or IP address", Quote(text)));
      }
      return Good(std::string(text));
    case Type::kHostPort:
      return CheckHostPort(text, "HOST:PORT, such as localhost:9000");
    case Type::kZmqEndpoint:
      return ParseEndpoint(text);
    case Type::kStringList:
      return ParseListText(spec, text);
  }
  return Bad("unsupported type");
}

ParsedValue ParseList(const KeySpec& spec, std::vector<std::string> items) {
  if (!spec.choices.empty()) {
    std::vector<std::string> choices(spec.choices.begin(), spec.choices.end());
    for (const auto& item : items) {
      if (std::find(choices.begin(), choices.end(), item) == choices.end()) {
        const std::string match = ClosestMatch(item, choices);
        return Bad(fmt::format("unknown item {}", Quote(item)),
                   match.empty()
                       ? "use any of: " + Join(choices, ", ")
                       : fmt::format("did you mean '{}'? Valid: {}", match, Join(choices, ", ")));
      }
    }
  }
  return Good(std::move(items));
}

ParsedValue ParseListText(const KeySpec& spec, std::string_view text) {
  std::string_view inner = text;
  if (inner.size() >= 2 && inner.front() == '[' && inner.back() == ']') {
    inner = inner.substr(1, inner.size() - 2);
  }
  // Items may be quoted as in YAML ('["*"]', "['a', 'b']"): the quotes are not part of them.
  std::vector<std::string> items = SplitList(inner, ',');
  for (auto& item : items) {
    if (item.size() >= 2 && (item.front() == '"' || item.front() == '\'') &&
        item.back() == item.front()) {
      item = item.substr(1, item.size() - 2);
    }
  }
  return ParseList(spec, std::move(items));
}

}  // namespace sg::config
