#include "common/curl_library.h"

#include <string>

#include <fmt/format.h>

#include "common/shared_library.h"

namespace sg {

namespace {

Result<CurlLibrary> Load() {
  auto opened = OpenLibrary("libcurl.so.4", "libcurl4");
  if (!opened) return opened.error();
  void* curl = *opened;
  CurlLibrary libs{};
  std::string missing;
  BindSymbol(curl, "curl_global_init", libs.global_init, missing);
  BindSymbol(curl, "curl_easy_init", libs.easy_init, missing);
  BindSymbol(curl, "curl_easy_cleanup", libs.easy_cleanup, missing);
  BindSymbol(curl, "curl_easy_reset", libs.easy_reset, missing);
  BindSymbol(curl, "curl_easy_setopt", libs.easy_setopt, missing);
  BindSymbol(curl, "curl_easy_perform", libs.easy_perform, missing);
  BindSymbol(curl, "curl_easy_getinfo", libs.easy_getinfo, missing);
  BindSymbol(curl, "curl_easy_strerror", libs.easy_strerror, missing);
  BindSymbol(curl, "curl_slist_append", libs.slist_append, missing);
  BindSymbol(curl, "curl_slist_free_all", libs.slist_free_all, missing);
  if (!missing.empty()) {
    return Fail(
        ErrorCode::kUnavailable,
        fmt::format("the installed libcurl lacks {}: install libcurl4 7.62 or newer", missing));
  }
  libs.global_init(CURL_GLOBAL_DEFAULT);
  return libs;
}

}  // namespace

Result<const CurlLibrary*> LoadCurl() { return LoadOnce<CurlLibrary, Load>(); }

const CurlLibrary& Curl() { return LoadedOrAbort<CurlLibrary, Load>(); }

}  // namespace sg
