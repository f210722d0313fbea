#include "cli/upload_records.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/file.h>
#include <unistd.h>

#include "common/paths.h"

namespace sg::cli {
namespace {

nlohmann::json Read(const std::string& file) {
  std::ifstream in(file);
  if (!in) return nlohmann::json::object();
  std::stringstream text;
  text << in.rdbuf();
  auto json = nlohmann::json::parse(text.str(), nullptr, false);
  if (!json.is_object() || !json.contains("uploads") || !json["uploads"].is_object()) {
    return nlohmann::json::object();
  }
  return json;
}

// Holds an exclusive lock on FILE.lock for its lifetime.
class Lock {
 public:
  explicit Lock(const std::string& file) {
    fd_ = ::open((file + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~Lock() {
    if (fd_ >= 0) ::close(fd_);
  }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Reads the file, lets `change` edit it, and writes it back whole.
Result<void> Update(const std::string& file, const std::function<void(nlohmann::json&)>& change) {
  const std::string dir = std::filesystem::path(file).parent_path().string();
  if (auto made = EnsurePrivateDir(dir); !made) {
    return made.error().Wrap("cannot keep the upload's resume record");
  }
  Lock lock(file);
  if (!lock.held()) {
    return Fail(ErrorCode::kIo, fmt::format("cannot lock {}.lock: {}", file, std::strerror(errno)));
  }
  nlohmann::json json = Read(file);
  if (!json.contains("uploads")) json["uploads"] = nlohmann::json::object();
  change(json);
  const std::string temp = fmt::format("{}.{}.tmp", file, getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Fail(ErrorCode::kIo, fmt::format("cannot write {}: {}", temp, std::strerror(errno)));
  }
  const std::string text = json.dump(2) + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!written || ::rename(temp.c_str(), file.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(temp.c_str());
    return Fail(ErrorCode::kIo, fmt::format("cannot write {}: {}", file, why));
  }
  return {};
}

}  // namespace

std::string UploadFingerprint::Key() const {
  return fmt::format("{}|{}|{}|{}", path, size, mtime_ns, base_url);
}

std::optional<std::string> UploadRecords::Find(const UploadFingerprint& print) const {
  const nlohmann::json json = Read(file_);
  if (!json.contains("uploads")) return std::nullopt;
  const auto& uploads = json["uploads"];
  const auto it = uploads.find(print.Key());
  if (it == uploads.end() || !it->is_object()) return std::nullopt;
  const std::string url = it->value("upload_url", "");
  if (url.empty()) return std::nullopt;
  return url;
}

Result<void> UploadRecords::Put(const UploadFingerprint& print,
                                const std::string& upload_url) const {
  return Update(file_, [&](nlohmann::json& json) {
    json["uploads"][print.Key()] = {
        {"path", print.path},         {"size", print.size},
        {"mtime_ns", print.mtime_ns}, {"base_url", print.base_url},
        {"upload_url", upload_url},   {"created_at", static_cast<int64_t>(std::time(nullptr))}};
  });
}

Result<void> UploadRecords::Remove(const UploadFingerprint& print) const {
  if (!std::filesystem::exists(file_)) return {};
  return Update(file_, [&](nlohmann::json& json) { json["uploads"].erase(print.Key()); });
}

}  // namespace sg::cli
