#include "daemon/storage/object_key.h"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace sg::storage {

namespace {

constexpr size_t kMaxKeyBytes = 1024;

// Checks the characters and segments; `partial` lets the last segment be empty or a fragment.
Result<void> Check(std::string_view key, bool partial) {
  const auto refuse = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("storage key '{}' {}", PrintableKey(key), why));
  };
  if (key.empty() && !partial) return refuse("is empty");
  if (key.size() > kMaxKeyBytes) return refuse("is longer than 1024 bytes");
  if (key.starts_with('/')) return refuse("is absolute; keys are relative to the store's root");
  for (const char c : key) {
    if (c == '\0') return refuse("contains a NUL byte");
    if (c == '\\') return refuse("contains a backslash; separate segments with '/'");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return refuse("contains a control character");
    }
  }
  size_t start = 0;
  while (start <= key.size()) {
    const size_t end = std::min(key.find('/', start), key.size());
    const std::string_view segment = key.substr(start, end - start);
    // A prefix may end in any fragment of a segment ("videos/ab", "videos/", ".."): List walks
    // only the folders before it and compares names.
    if (partial && end == key.size()) break;
    if (segment.empty()) return refuse("has an empty segment ('//' or a trailing '/')");
    if (segment == "." || segment == "..") {
      return refuse("has a '.' or '..' segment, which could leave the store's root");
    }
    if (segment.starts_with(".sg-")) return refuse("has a segment starting with '.sg-' (reserved)");
    start = end + 1;
  }
  return {};
}

}  // namespace

Result<void> ValidateKey(std::string_view key) { return Check(key, false); }

Result<void> ValidatePrefix(std::string_view prefix) { return Check(prefix, true); }

std::string PrintableKey(std::string_view key) {
  std::string out;
  for (const char c : key.substr(0, 200)) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\') {
      out += "\\\\";
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  if (key.size() > 200) out += "...";
  return out;
}

Error ErrnoError(int err, const std::string& what) {
  std::string message = what + ": " + std::strerror(err);
  ErrorCode code = ErrorCode::kIo;
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      code = ErrorCode::kNoSpace;
      message += " (no space left for the object: free space or raise the quota)";
      break;
    case EFBIG:
      code = ErrorCode::kNoSpace;
      message +=
          " (no space left for the object: the process's file size limit, RLIMIT_FSIZE, "
          "or the filesystem's largest file was reached)";
      break;
    case EACCES:
    case EPERM:
    case EROFS:
      code = ErrorCode::kPermissionDenied;
      message += " (check the owner and mode of storage.path, or that its filesystem is writable)";
      break;
    case ENOENT:
    case ENOTDIR:
      code = ErrorCode::kNotFound;
      break;
    default:
      break;
  }
  return Fail(code, std::move(message));
}

Result<std::pair<uint64_t, uint64_t>> ResolveRange(const ByteRange& range, uint64_t size,
                                                   std::string_view key) {
  if (range.offset == 0 && size == 0) return std::pair<uint64_t, uint64_t>{0, 0};
  if (range.offset >= size) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("range starting at byte {} of '{}' is past its end ({} bytes)",
                            range.offset, PrintableKey(key), size));
  }
  const uint64_t rest = size - range.offset;
  return std::pair<uint64_t, uint64_t>{range.offset,
                                       range.length ? std::min(*range.length, rest) : rest};
}

}  // namespace sg::storage
