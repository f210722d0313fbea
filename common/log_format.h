// The three output formats of a log record: dev (for people, optionally coloured), prod (tab
// separated, for tools) and json (one object a line).
#pragma once

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

/// Renders one record in a format, without a trailing newline.
std::string Render(const Record& record, Format format, std::string_view service, bool color);

}  // namespace sg::log
