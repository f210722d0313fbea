// What HTTP asks of a response that is a file: validators (a strong ETag, Last-Modified),
// conditional requests (304) and one byte range (206, 416). Pure functions of the request's
// headers and the file's metadata, so they are tested without a socket.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace sg::http {

struct FileMeta {
  uint64_t size = 0;
  uint64_t inode = 0;
  int64_t mtime_ns = 0;  // since the epoch
};

/// A strong validator that changes whenever the file is replaced or written: inode, size and
/// modification time.
std::string StrongETag(const FileMeta& meta);
/// RFC 9110's IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string HttpDate(std::time_t t);
/// Parses an IMF-fixdate; nullopt when it is not one.
std::optional<std::time_t> ParseHttpDate(std::string_view text);

struct ByteRange {
  uint64_t first = 0;
  uint64_t count = 0;
};

/// What a GET or HEAD of a file should answer, from the request's conditional and Range headers.
struct FilePlan {
  unsigned status = 200;  // 200, 206, 304 or 416
  ByteRange range;        // what to send (the whole file for 200)
};

struct FileRequestHeaders {
  std::string_view if_none_match = {};
  std::string_view if_modified_since = {};
  std::string_view range = {};
  std::string_view if_range = {};
  bool get_or_head = true;  // conditionals and ranges apply to GET and HEAD only
};

FilePlan PlanFileResponse(const FileRequestHeaders& request, const FileMeta& meta);

}  // namespace sg::http
