#include "cli/upload_options.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <filesystem>
#include <utility>

namespace sg::cli {

std::optional<uint64_t> ParseSize(const std::string& text) {
  size_t used = 0;
  uint64_t value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (text.empty() || text.front() == '-') return std::nullopt;
  std::string unit = text.substr(used);
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  uint64_t scale = 1;
  if (unit.empty() || unit == "b") {
    scale = 1;
  } else if (unit == "k" || unit == "kib" || unit == "kb") {
    scale = uint64_t{1} << 10;
  } else if (unit == "m" || unit == "mib" || unit == "mb") {
    scale = uint64_t{1} << 20;
  } else if (unit == "g" || unit == "gib" || unit == "gb") {
    scale = uint64_t{1} << 30;
  } else {
    return std::nullopt;
  }
  if (value > UINT64_MAX / scale) return std::nullopt;
  return value * scale;
}

std::string GuessFiletype(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const std::pair<const char*, const char*> kTypes[] = {
      {".mp4", "video/mp4"},        {".m4v", "video/x-m4v"}, {".mov", "video/quicktime"},
      {".mkv", "video/x-matroska"}, {".webm", "video/webm"}, {".avi", "video/x-msvideo"},
      {".ts", "video/mp2t"},        {".m2ts", "video/mp2t"}, {".mpg", "video/mpeg"},
      {".mpeg", "video/mpeg"},      {".flv", "video/x-flv"}, {".wmv", "video/x-ms-wmv"},
      {".3gp", "video/3gpp"},       {".ogv", "video/ogg"},   {".mxf", "application/mxf"},
      {".mp3", "audio/mpeg"},       {".m4a", "audio/mp4"},   {".wav", "audio/wav"},
  };
  for (const auto& [extension, type] : kTypes) {
    if (ext == extension) return type;
  }
  return "application/octet-stream";
}

}  // namespace sg::cli
