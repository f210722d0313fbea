#include "cli/output.h"

#include <algorithm>
#include <ostream>

#include <fmt/format.h>

namespace sg::cli {
namespace {

// Display width: count code points, not bytes.
size_t Width(const std::string& text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

}  // namespace

std::string StateGlyph(const std::string& state) {
  if (state == "running") return "●";
  if (state == "failed") return "×";
  if (state == "starting" || state == "stopping") return "◌";
  return "○";
}

std::string HumanDuration(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  const int64_t d = seconds / 86400;
  const int64_t h = seconds % 86400 / 3600;
  const int64_t m = seconds % 3600 / 60;
  const int64_t s = seconds % 60;
  if (d > 0) return fmt::format("{}d {}h", d, h);
  if (h > 0) return fmt::format("{}h {}m", h, m);
  if (m > 0) return fmt::format("{}m {}s", m, s);
  return fmt::format("{}s", s);
}

void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows,
                const std::string& indent) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], Width(row[i]));
  }
  for (const auto& row : rows) {
    std::string line = indent;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - Width(row[i]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  }
}

std::string FieldText(const nlohmann::ordered_json& object, const char* key) {
  if (!object.is_object()) return "-";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "-";
  std::string text = it->is_string()
                         ? it->get<std::string>()
                         : it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return text.empty() ? "-" : text;
}

std::string Shorten(const std::string& text, size_t max) {
  if (Width(text) <= max) return text;
  std::string out;
  size_t points = 0;
  for (char c : text) {
    const bool starts = (static_cast<unsigned char>(c) & 0xc0) != 0x80;
    if (starts && ++points > max - 1) break;
    out += c;
  }
  return out + "…";
}

void PrintFields(std::ostream& out, const nlohmann::ordered_json& object) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& [key, value] : object.items()) {
    rows.push_back(
        {key + ":", value.is_structured()
                        ? value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                        : FieldText(object, key.c_str())});
  }
  PrintTable(out, rows);
}

}  // namespace sg::cli
