// Videos as JSON, one shape for the REST API, the catalogue's bus protocol and the CLI: every
// field of Video, state and visibility by name, times as RFC 3339 in UTC with milliseconds
// ("2026-12-01T00:13:07.042Z").
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "daemon/plugin_api/catalogue.h"

namespace sg {

/// Milliseconds since the Unix epoch as RFC 3339 in UTC with milliseconds.
std::string FormatTimeMs(int64_t ms);
/// The inverse of FormatTimeMs (a "Z" or a numeric offset; fraction optional); kInvalidArgument
/// naming `field` otherwise.
Result<int64_t> ParseTimeMs(const std::string& text, const std::string& field);

nlohmann::json VideoToJson(const Video& video);
/// kInvalidArgument naming the field that is missing or of the wrong type.
Result<Video> VideoFromJson(const nlohmann::json& json);

nlohmann::json RenditionToJson(const Rendition& rendition);
Result<Rendition> RenditionFromJson(const nlohmann::json& json, const std::string& field);

}  // namespace sg
