#include "daemon/plugin_api/catalogue_json.h"

#include <cstdio>
#include <ctime>

#include <fmt/format.h>

namespace sg {

std::string FormatTimeMs(int64_t ms) {
  int64_t seconds = ms / 1000;
  int64_t millis = ms % 1000;
  if (millis < 0) {  // before 1970: floor, so that the fraction stays positive
    millis += 1000;
    --seconds;
  }
  const auto t = static_cast<time_t>(seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "1970-01-01T00:00:00.000Z";
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

Result<int64_t> ParseTimeMs(const std::string& text, const std::string& field) {
  auto bad = [&] {
    return Fail(
        ErrorCode::kInvalidArgument,
        field + ": '" + text + "' is not an RFC 3339 time such as 2026-12-01T00:00:00.000Z");
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                  &second, &consumed) != 6 ||
      consumed != 19) {
    return bad();
  }
  size_t pos = 19;
  int64_t millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 3) millis = millis * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return bad();
    for (int d = digits; d < 3; ++d) millis *= 10;
  }
  int64_t offset_s = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos + 6 == text.size() && (text[pos] == '+' || text[pos] == '-') &&
             text[pos + 3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(text.c_str() + pos + 1, "%2d:%2d", &oh, &om) != 2) return bad();
    offset_s = (text[pos] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != text.size() || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 ||
      minute > 59 || second > 60) {
    return bad();
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const time_t t = timegm(&tm);
  return (static_cast<int64_t>(t) - offset_s) * 1000 + millis;
}

JobSpec DeleteVideoJob(const Video& video) {
  nlohmann::json keys = nlohmann::json::array();
  for (const std::string* key : {&video.source_key, &video.poster}) {
    if (!key->empty()) keys.push_back(*key);
  }
  for (const auto& r : video.renditions) {
    if (!r.playlist.empty()) keys.push_back(r.playlist);
  }
  JobSpec spec;
  spec.kind = kDeleteVideoJobKind;
  spec.payload = nlohmann::json{{"id", video.id}, {"keys", std::move(keys)}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  spec.idempotency_key = video.id;
  return spec;
}

nlohmann::json RenditionToJson(const Rendition& r) {
  return {{"name", r.name},       {"width", r.width}, {"height", r.height},
          {"bitrate", r.bitrate}, {"codec", r.codec}, {"playlist", r.playlist}};
}

namespace {

Result<void> Field(const nlohmann::json& json, const char* name, const std::string& where,
                   std::string& out) {
  const auto it = json.find(name);
  if (it == json.end() || it->is_null()) return {};
  if (!it->is_string()) {
    return Fail(ErrorCode::kInvalidArgument, where + name + ": must be a string");
  }
  out = it->get<std::string>();
  return {};
}

template <typename Int>
Result<void> Field(const nlohmann::json& json, const char* name, const std::string& where,
                   Int& out) {
  const auto it = json.find(name);
  if (it == json.end() || it->is_null()) return {};
  if (!it->is_number_integer()) {
    return Fail(ErrorCode::kInvalidArgument, where + name + ": must be a whole number");
  }
  out = it->get<Int>();
  return {};
}

Result<void> Field(const nlohmann::json& json, const char* name, const std::string& where,
                   double& out) {
  const auto it = json.find(name);
  if (it == json.end() || it->is_null()) return {};
  if (!it->is_number())
    return Fail(ErrorCode::kInvalidArgument, where + name + ": must be a number");
  out = it->get<double>();
  return {};
}

}  // namespace

Result<Rendition> RenditionFromJson(const nlohmann::json& json, const std::string& field) {
  if (!json.is_object()) return Fail(ErrorCode::kInvalidArgument, field + ": must be an object");
  Rendition r;
  const std::string where = field + ".";
  for (const auto& check :
       {Field(json, "name", where, r.name), Field(json, "width", where, r.width),
        Field(json, "height", where, r.height), Field(json, "bitrate", where, r.bitrate),
        Field(json, "codec", where, r.codec), Field(json, "playlist", where, r.playlist)}) {
    if (!check) return check.error();
  }
  return r;
}

nlohmann::json ProgressToJson(const std::string& progress) {
  if (progress.empty()) return nullptr;
  auto parsed = nlohmann::json::parse(progress, nullptr, false);
  return parsed.is_object() ? parsed : nlohmann::json(nullptr);
}

nlohmann::json VideoToJson(const Video& v) {
  nlohmann::json renditions = nlohmann::json::array();
  for (const auto& r : v.renditions) renditions.push_back(RenditionToJson(r));
  return {{"id", v.id},
          {"title", v.title},
          {"description", v.description},
          {"owner", v.owner},
          {"visibility", std::string(VisibilityName(v.visibility))},
          {"state", std::string(VideoStateName(v.state))},
          {"source_size", v.source_size},
          {"source_type", v.source_type},
          {"source_key", v.source_key},
          {"duration", v.duration},
          {"renditions", std::move(renditions)},
          {"poster", v.poster},
          {"created_at", FormatTimeMs(v.created_at)},
          {"updated_at", FormatTimeMs(v.updated_at)},
          {"failure_reason", v.failure_reason},
          {"progress", ProgressToJson(v.progress)},
          {"gate", v.gate.empty() ? nlohmann::json(nullptr) : nlohmann::json(v.gate)}};
}

Result<Video> VideoFromJson(const nlohmann::json& json) {
  if (!json.is_object()) return Fail(ErrorCode::kInvalidArgument, "video: must be an object");
  Video v;
  const std::string where;
  for (const auto& check :
       {Field(json, "id", where, v.id), Field(json, "title", where, v.title),
        Field(json, "description", where, v.description), Field(json, "owner", where, v.owner),
        Field(json, "source_size", where, v.source_size),
        Field(json, "source_type", where, v.source_type),
        Field(json, "source_key", where, v.source_key), Field(json, "duration", where, v.duration),
        Field(json, "poster", where, v.poster),
        Field(json, "failure_reason", where, v.failure_reason)}) {
    if (!check) return check.error();
  }
  std::string visibility = "public", state = "uploading", created, updated;
  for (const auto& check :
       {Field(json, "visibility", where, visibility), Field(json, "state", where, state),
        Field(json, "created_at", where, created), Field(json, "updated_at", where, updated)}) {
    if (!check) return check.error();
  }
  const auto vis = ParseVisibility(visibility);
  if (!vis) return Fail(ErrorCode::kInvalidArgument, "visibility: unknown '" + visibility + "'");
  v.visibility = *vis;
  const auto st = ParseVideoState(state);
  if (!st) return Fail(ErrorCode::kInvalidArgument, "state: unknown '" + state + "'");
  v.state = *st;
  if (!created.empty()) {
    auto t = ParseTimeMs(created, "created_at");
    if (!t) return t.error();
    v.created_at = *t;
  }
  if (!updated.empty()) {
    auto t = ParseTimeMs(updated, "updated_at");
    if (!t) return t.error();
    v.updated_at = *t;
  }
  if (const auto it = json.find("gate"); it != json.end() && !it->is_null()) {
    if (!it->is_string()) return Fail(ErrorCode::kInvalidArgument, "gate: must be a string");
    v.gate = it->get<std::string>();
  }
  if (const auto it = json.find("progress"); it != json.end() && !it->is_null()) {
    if (!it->is_object()) return Fail(ErrorCode::kInvalidArgument, "progress: must be an object");
    v.progress = it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  if (const auto it = json.find("renditions"); it != json.end() && !it->is_null()) {
    if (!it->is_array()) return Fail(ErrorCode::kInvalidArgument, "renditions: must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      auto r = RenditionFromJson((*it)[i], "renditions[" + std::to_string(i) + "]");
      if (!r) return r.error();
      v.renditions.push_back(std::move(*r));
    }
  }
  return v;
}

}  // namespace sg
