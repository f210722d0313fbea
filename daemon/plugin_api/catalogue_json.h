// Videos as JSON, one shape for the REST API, the catalogue's bus protocol and the CLI: every
// field of Video, state and visibility by name, times as RFC 3339 in UTC with milliseconds
// ("2026-12-01T00:13:07.042Z").
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/jobs.h"

namespace sg {

/// Milliseconds since the Unix epoch as RFC 3339 in UTC with milliseconds.
std::string FormatTimeMs(int64_t ms);
/// The inverse of FormatTimeMs (a "Z" or a numeric offset; fraction optional); kInvalidArgument
/// naming `field` otherwise.
Result<int64_t> ParseTimeMs(const std::string& text, const std::string& field);

nlohmann::json VideoToJson(const Video& video);
/// Video::progress as JSON: the object it holds, or null when it is empty (or not an object).
nlohmann::json ProgressToJson(const std::string& progress);
/// kInvalidArgument naming the field that is missing or of the wrong type.
Result<Video> VideoFromJson(const nlohmann::json& json);

/// The job kind that removes a deleted video's storage objects (the metadata plugin handles it).
inline constexpr const char* kDeleteVideoJobKind = "delete-video";
/// The delete-video job for `video`: its payload lists the video's object keys (source, poster,
/// playlists), and its idempotency key is the video's id, so that however many times a video is
/// deleted (REST, CLI, a retried request) one job removes its objects.
JobSpec DeleteVideoJob(const Video& video);

nlohmann::json RenditionToJson(const Rendition& rendition);
Result<Rendition> RenditionFromJson(const nlohmann::json& json, const std::string& field);

}  // namespace sg
