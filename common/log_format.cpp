#include "common/log_format.h"

#include <cctype>
#include <ctime>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace sg::log {
namespace {

// A value as prod and dev formats print it: strings with spaces, quotes or '=' are quoted.
std::string PlainValue(const Field::Value& value) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    std::string out;
    AppendPlain(out, *s);
    return out;
  }
  if (const auto* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&value)) return fmt::format("{}", *d);
  return std::get<bool>(value) ? "true" : "false";
}

nlohmann::json JsonValue(const Field::Value& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  if (const auto* i = std::get_if<int64_t>(&value)) return *i;
  if (const auto* d = std::get_if<double>(&value)) return *d;
  return std::get<bool>(value);
}

std::string IsoTime(std::chrono::system_clock::time_point time) {
  std::string out;
  AppendIsoTime(out, time);
  return out;
}

std::string LocalClock(std::chrono::system_clock::time_point time) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count() % 1000;
  return fmt::format("{:%H:%M:%S}.{:03d}",
                     fmt::localtime(std::chrono::system_clock::to_time_t(time)), ms);
}

std::string_view LevelColor(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "\033[37m";
    case spdlog::level::debug:
      return "\033[36m";
    case spdlog::level::info:
      return "\033[32m";
    case spdlog::level::warn:
      return "\033[33;1m";
    case spdlog::level::err:
      return "\033[31;1m";
    case spdlog::level::critical:
      return "\033[1;41m";
    default:
      return "";
  }
}

}  // namespace

void AppendPlain(std::string& out, std::string_view text) {
  const bool needs_quotes = text.empty() || text.find_first_of(" \t\"=\n") != std::string::npos;
  if (!needs_quotes) {
    out += text;
    return;
  }
  out += nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void AppendIsoTime(std::string& out, std::chrono::system_clock::time_point time) {
  // gmtime and the date's formatting change once a second: each thread keeps its last one.
  thread_local std::time_t cached_second = -1;
  thread_local std::string cached;
  const std::time_t second = std::chrono::system_clock::to_time_t(time);
  if (second != cached_second) {
    cached = fmt::format("{:%Y-%m-%dT%H:%M:%S}", fmt::gmtime(second));
    cached_second = second;
  }
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count() % 1000;
  out += cached;
  out += '.';
  out += static_cast<char>('0' + ms / 100);
  out += static_cast<char>('0' + ms / 10 % 10);
  out += static_cast<char>('0' + ms % 10);
  out += 'Z';
}

std::optional<Format> ParseFormat(std::string_view name) {
  if (name == "dev") return Format::kDev;
  if (name == "prod") return Format::kProd;
  if (name == "json") return Format::kJson;
  return std::nullopt;
}

nlohmann::ordered_json ToJson(const Record& record, std::string_view service) {
  nlohmann::ordered_json j;
  j["ts"] = IsoTime(record.time);
  j["level"] = LevelName(record.level);
  j["service"] = service;
  j["component"] = record.component;
  j["msg"] = record.message;
  if (record.seq != 0) j["seq"] = record.seq;
  for (const auto& field : record.fields) {
    const std::string key = j.contains(field.key) ? "field." + field.key : field.key;
    j[key] = JsonValue(field.value);
  }
  return j;
}

std::string Render(const Record& record, Format format, std::string_view service, bool color) {
  switch (format) {
    case Format::kJson:
      return ToJson(record, service).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    case Format::kProd: {
      std::string out =
          fmt::format("{}\t{}\t{}\t{}\t{}", IsoTime(record.time), LevelName(record.level), service,
                      record.component, record.message);
      for (size_t i = 0; i < record.fields.size(); ++i) {
        out += i == 0 ? '\t' : ' ';
        out += record.fields[i].key + "=" + PlainValue(record.fields[i].value);
      }
      return out;
    }
    case Format::kDev: {
      std::string level(LevelName(record.level));
      for (auto& c : level) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      std::string out = LocalClock(record.time) + " ";
      if (color) out += LevelColor(record.level);
      out += fmt::format("{:<5}", level);
      if (color) out += "\033[0m";
      out += fmt::format(" {:<12} {}", record.component, record.message);
      for (const auto& field : record.fields) {
        out += "  ";
        if (color) out += "\033[2m";
        out += field.key + "=";
        if (color) out += "\033[0m";
        out += PlainValue(field.value);
      }
      return out;
    }
  }
  return record.message;
}

}  // namespace sg::log
