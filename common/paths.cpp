#include "common/paths.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sg {

std::string RuntimeDir() {
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/streamgate";
  }
  // systemd's RuntimeDirectory= (a list when the unit names several: the first is ours).
  if (const char* unit = std::getenv("RUNTIME_DIRECTORY"); unit != nullptr && *unit != '\0') {
    const std::string_view dirs(unit);
    return std::string(dirs.substr(0, dirs.find(':')));
  }
  if (geteuid() == 0) return kSystemRuntimeDir;
  return fmt::format("/tmp/streamgate-{}", geteuid());
}

std::string StateDir() {
  if (const char* unit = std::getenv("STATE_DIRECTORY"); unit != nullptr && *unit != '\0') {
    const std::string_view dirs(unit);
    return std::string(dirs.substr(0, dirs.find(':')));
  }
  if (geteuid() == 0) return "/var/lib/streamgate";
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg != nullptr && *xdg == '/') {
    return std::string(xdg) + "/streamgate";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/') {
    return std::string(home) + "/.local/state/streamgate";
  }
  return fmt::format("/var/tmp/streamgate-{}", geteuid());
}

std::string SqliteFile(const std::string& configured) {
  return configured.empty() ? StateDir() + "/streamgate.db" : configured;
}

Result<void> EnsurePrivateDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Fail(ErrorCode::kIo, fmt::format("create {}: {}", dir, ec.message()));
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0) {
    return Fail(ErrorCode::kIo, fmt::format("stat {}: {}", dir, std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) return Fail(ErrorCode::kIo, fmt::format("{} is not a directory", dir));
  if (st.st_uid != geteuid()) {
    return Fail(ErrorCode::kIo, fmt::format("{} belongs to uid {}, not to us ({}); remove it or "
                                            "set control.endpoint",
                                            dir, st.st_uid, geteuid()));
  }
  if ((st.st_mode & 0777) != 0700 && chmod(dir.c_str(), 0700) != 0) {
    return Fail(ErrorCode::kIo, fmt::format("chmod 0700 {}: {}", dir, std::strerror(errno)));
  }
  return {};
}

std::string ControlEndpoint(const std::string& configured, const std::string& service) {
  if (!configured.empty()) return configured;
  if (!service.empty()) return "ipc://" + RuntimeDir() + "/control-" + service + ".sock";
  return "ipc://" + RuntimeDir() + "/control.sock";
}

std::string SystemControlEndpoint() {
  return fmt::format("ipc://{}/control.sock", kSystemRuntimeDir);
}

std::string PidFileFor(const std::string& endpoint) {
  if (endpoint == ControlEndpoint("")) return RuntimeDir() + "/streamgated.pid";
  if (endpoint.starts_with("ipc://")) return endpoint.substr(6) + ".pid";
  const size_t colon = endpoint.rfind(':');
  return fmt::format("{}/streamgated-tcp-{}.pid", RuntimeDir(), endpoint.substr(colon + 1));
}

}  // namespace sg
