#include "daemon/http/file_response.h"

#include <fmt/format.h>

namespace sg::http {

FilePlan PlanFileResponse(const FileRequestHeaders& request, const FileMeta& meta) {
  const RangePlan plan = PlanConditional(
      request,
      {meta.size, StrongETag(meta), static_cast<std::time_t>(meta.mtime_ns / 1'000'000'000)});
  return {plan.status, {plan.first, plan.count}};
}

}  // namespace sg::http
