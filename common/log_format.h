// The three output formats of a log record: dev (for people, optionally coloured), prod (tab
// separated, for tools) and json (one object a line).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/log_record.h"

namespace sg::log {

enum class Format { kDev, kProd, kJson };

/// Parses "dev", "prod" or "json".
std::optional<Format> ParseFormat(std::string_view name);

/// A record as one JSON object: ts, level, service, component, msg, seq (when set), then the
/// fields.
nlohmann::ordered_json ToJson(const Record& record, std::string_view service);

/// A string value as the prod and dev formats print it: as it is, or JSON-quoted when it is
/// empty or holds a space, a tab, a quote, '=' or a newline.
void AppendPlain(std::string& out, std::string_view text);
/// "2026-12-01T19:16:37.123Z": UTC, milliseconds.
void AppendIsoTime(std::string& out, std::chrono::system_clock::time_point time);

/// Renders one record in a format, without a trailing newline.
std::string Render(const Record& record, Format format, std::string_view service, bool color);

}  // namespace sg::log
