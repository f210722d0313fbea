#include "common/shared_library.h"

#include <fmt/format.h>

namespace sg {

Result<void*> OpenLibrary(const char* soname, const char* package) {
  void* library = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("{} could not be loaded ({}): install it (Debian: apt install {})",
                            soname, dlerror(), package));
  }
  return library;
}

}  // namespace sg
