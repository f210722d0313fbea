#include "config/config_file.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sg::config {
namespace {

// Finds the first byte that makes the text not UTF-8 (or a NUL); npos when it is clean.
size_t FindBinary(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == 0) return i;
    size_t extra = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0 && c >= 0xc2) {
      extra = 1;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
    } else if ((c & 0xf8) == 0xf0 && c <= 0xf4) {
      extra = 3;
    } else {
      return i;
    }
    if (i + extra >= text.size()) return i;
    for (size_t k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return i;
    }
    i += extra + 1;
  }
  return std::string_view::npos;
}

Origin PositionOf(std::string_view text, size_t offset, const std::string& name) {
  Origin origin{Origin::Kind::kFile, name, 1, 1};
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++origin.line;
      origin.column = 1;
    } else {
      ++origin.column;
    }
  }
  return origin;
}

void TooLarge(const Origin& whole, size_t size, LoadState& state) {
  state.Error(whole, "",
              fmt::format("the file is {} bytes; the limit is {} bytes", size, kMaxConfigBytes),
              "a configuration file is small YAML text: check that this is the right file");
}

}  // namespace

std::optional<std::string> FindConfigFile(const Environment& env) {
  if (auto it = env.find("STREAMGATE_CONFIG"); it != env.end() && !it->second.empty()) {
    return it->second;
  }
  std::vector<std::string> candidates = {"streamgate.yaml"};
  if (auto it = env.find("XDG_CONFIG_HOME"); it != env.end() && !it->second.empty()) {
    candidates.push_back(it->second + "/streamgate/streamgate.yaml");
  } else if (auto home = env.find("HOME"); home != env.end() && !home->second.empty()) {
    candidates.push_back(home->second + "/.config/streamgate/streamgate.yaml");
  }
  candidates.emplace_back("/etc/streamgate/streamgate.yaml");
  for (const auto& path : candidates) {
    if (access(path.c_str(), F_OK) == 0) return path;
  }
  return std::nullopt;
}

bool CheckText(std::string_view text, const std::string& name, LoadState& state) {
  if (text.size() > kMaxConfigBytes) {
    TooLarge(Origin{Origin::Kind::kFile, name, 0, 0}, text.size(), state);
    return false;
  }
  const size_t binary = FindBinary(text);
  if (binary != std::string_view::npos) {
    state.Error(PositionOf(text, binary, name), "",
                fmt::format("not a text file: byte 0x{:02x} is not UTF-8",
                            static_cast<unsigned char>(text[binary])),
                "a configuration file is YAML text: check that this is the right file");
    return false;
  }
  return true;
}

std::optional<std::string> ReadConfigFile(const std::string& path, LoadState& state) {
  const Origin whole{Origin::Kind::kFile, path, 0, 0};
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    std::string hint = "check the path";
    if (err == EACCES) hint = "make the file readable by this user, or run as its owner";
    if (err == ENOENT) hint = "check the path, or leave out --config to use the built-in defaults";
    state.Error(whole, "", fmt::format("cannot open: {}", std::strerror(err)), hint);
    return std::nullopt;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const bool dir = S_ISDIR(st.st_mode);
    close(fd);
    state.Error(whole, "", dir ? "is a directory, not a file" : "is not a regular file",
                "name the YAML file itself, such as /etc/streamgate/streamgate.yaml");
    return std::nullopt;
  }
  if (static_cast<size_t>(st.st_size) > kMaxConfigBytes) {
    close(fd);
    TooLarge(whole, static_cast<size_t>(st.st_size), state);
    return std::nullopt;
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      state.Error(whole, "", fmt::format("cannot read: {}", std::strerror(err)));
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxConfigBytes) break;  // the file grew while we read it
  }
  close(fd);
  return text;
}

}  // namespace sg::config
