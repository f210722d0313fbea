#include "daemon/plugin_api/storage.h"

#include <algorithm>

namespace sg {
namespace {

Error CannotStage(std::string_view kind) {
  return Fail(ErrorCode::kFailedPrecondition,
              "this " + std::string(kind) +
                  " store cannot stage resumable uploads; use storage.type local or s3");
}

}  // namespace

// By value as the interface declares it, for the stores that keep the meta; this default drops it.
// NOLINTBEGIN(performance-unnecessary-value-param)
Result<std::unique_ptr<StagedObject>> Storage::Stage(std::string_view /*id*/,
                                                     std::string /*meta*/) {
  return CannotStage(Kind());
}
// NOLINTEND(performance-unnecessary-value-param)
Result<std::unique_ptr<StagedObject>> Storage::OpenStaged(std::string_view /*id*/) {
  return CannotStage(Kind());
}
Result<std::vector<StagedInfo>> Storage::ListStaged() { return CannotStage(Kind()); }
Result<void> Storage::DeleteStaged(std::string_view /*id*/) { return CannotStage(Kind()); }

Result<void> ValidateStagedId(std::string_view id) {
  const bool ok = !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           c == '-';
  });
  if (ok) return {};
  return Fail(ErrorCode::kInvalidArgument, "staged id '" + std::string(id.substr(0, 80)) +
                                               "' is not 1 to 64 characters of [0-9A-Za-z_-]");
}

}  // namespace sg
