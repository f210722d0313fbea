#include "daemon/plugins/api_gateway/web_site.h"

#include <filesystem>
#include <system_error>

#ifndef SG_WEB_INSTALL_DIR
#define SG_WEB_INSTALL_DIR "/usr/local/share/streamgate/web"
#endif

namespace sg::plugins::web {
namespace {

namespace fs = std::filesystem;

struct Type {
  std::string_view extension;
  std::string_view content_type;
};

constexpr Type kTypes[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".json", "application/json"},
};

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::vector<std::string> Candidates(const std::string& configured) {
  if (!configured.empty()) return {configured};
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) out.push_back((exe.parent_path().parent_path() / "share/streamgate/web").string());
  if (out.empty() || out.front() != SG_WEB_INSTALL_DIR) out.emplace_back(SG_WEB_INSTALL_DIR);
  return out;
}

Site Find(const std::string& configured) {
  Site site;
  site.tried = Candidates(configured);
  for (const auto& dir : site.tried) {
    std::error_code ec;
    if (!fs::is_regular_file(fs::path(dir) / "index.html", ec)) continue;
    site.root = dir;
    site.index = dir + "/index.html";
    for (fs::directory_iterator it(fs::path(dir) / "assets", ec), end; !ec && it != end;
         it.increment(ec)) {
      std::error_code type_ec;
      const std::string name = it->path().filename().string();
      if (it->is_regular_file(type_ec) && IsAssetName(name)) site.assets.insert(name);
    }
    break;
  }
  return site;
}

bool IsAssetName(std::string_view name) {
  if (name.empty() || name.size() > 128 || !ContentType(name)) return false;
  char previous = '.';  // no leading dot, no "..", no dot before the extension's
  for (const char c : name) {
    const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
    if (!word && c != '.') return false;
    if (c == '.' && previous == '.') return false;
    previous = c;
  }
  return true;
}

std::optional<std::string_view> ContentType(std::string_view name) {
  for (const auto& t : kTypes) {
    if (EndsWith(name, t.extension) && name.size() > t.extension.size()) return t.content_type;
  }
  return std::nullopt;
}

}  // namespace sg::plugins::web
