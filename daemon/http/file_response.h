// What HTTP asks of a response that is a file: its strong validator, and the plan of
// plugin_api/http_conditional.h (conditionals, one byte range) applied to it. Pure functions, so
// they are tested without a socket.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/plugin_api/http_conditional.h"

namespace sg::http {

using sg::FileMeta;
using sg::FileMetaOf;
using sg::HttpDate;
using sg::ParseHttpDate;
using sg::StrongETag;

struct ByteRange {
  uint64_t first = 0;
  uint64_t count = 0;
};

/// What a GET or HEAD of a file should answer, from the request's conditional and Range headers.
struct FilePlan {
  unsigned status = 200;  // 200, 206, 304 or 416
  ByteRange range;        // what to send (the whole file for 200)
};

using FileRequestHeaders = ConditionalHeaders;

FilePlan PlanFileResponse(const FileRequestHeaders& request, const FileMeta& meta);

}  // namespace sg::http
