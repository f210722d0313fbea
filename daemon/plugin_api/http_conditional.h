// What HTTP asks of a response that is a stored representation (a file, a storage object):
// validators (a strong ETag, Last-Modified), conditional requests (304) and one byte range (206,
// 416). Pure functions of the request's headers and the representation's metadata: the server
// applies them to files itself, and a plugin answering from storage applies them the same way.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include <sys/stat.h>

namespace sg {

/// RFC 9110's IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string HttpDate(std::time_t t);
/// Parses an IMF-fixdate; nullopt when it is not one.
std::optional<std::time_t> ParseHttpDate(std::string_view text);

/// What a file's strong validator is made of.
struct FileMeta {
  uint64_t size = 0;
  uint64_t inode = 0;
  int64_t mtime_ns = 0;  // since the epoch
};

/// A file's size, inode and modification time as stat(2) gave them.
FileMeta FileMetaOf(const struct stat& st);

/// A strong validator that changes whenever the file is replaced or written: inode, size and
/// modification time. The server's file answers and a plugin answering a file from memory give
/// the same one.
std::string StrongETag(const FileMeta& meta);

struct Representation {
  uint64_t size = 0;
  std::string etag;          // strong, quoted: "\"9a03...\""
  std::time_t modified = 0;  // Last-Modified, in seconds
};

struct ConditionalHeaders {
  std::string_view if_none_match = {};
  std::string_view if_modified_since = {};
  std::string_view range = {};
  std::string_view if_range = {};
  bool get_or_head = true;  // conditionals and ranges apply to GET and HEAD only
};

/// What a GET or HEAD should answer: 200 (the whole), 206 (one range), 304 or 416. Several ranges
/// or a syntactically invalid one are ignored (the whole is sent), as RFC 9110 allows.
struct RangePlan {
  unsigned status = 200;
  uint64_t first = 0;
  uint64_t count = 0;
};

RangePlan PlanConditional(const ConditionalHeaders& request, const Representation& what);

}  // namespace sg
