#include "cli/http_libs.h"

#include <mutex>

#include <dlfcn.h>
#include <fmt/format.h>

namespace sg::cli {

namespace {

// Resolves `name` into `slot`, keeping the first missing symbol for the error.
template <class Fn>
void Bind(void* library, const char* name, Fn& slot, std::string& missing) {
  slot = reinterpret_cast<Fn>(dlsym(library, name));
  if (slot == nullptr && missing.empty()) missing = name;
}

Result<HttpLibs> Load() {
  // Opened for the life of the process: the handles are never closed.
  void* curl = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (curl == nullptr) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("this command needs libcurl, which could not be loaded ({}): install "
                            "it (Debian: apt install libcurl4)",
                            dlerror()));
  }
  void* crypto = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
  if (crypto == nullptr) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("this command needs OpenSSL's libcrypto, which could not be loaded "
                            "({}): install it (Debian: apt install libssl3)",
                            dlerror()));
  }
  HttpLibs libs{};
  std::string missing;
  Bind(curl, "curl_global_init", libs.global_init, missing);
  Bind(curl, "curl_easy_init", libs.easy_init, missing);
  Bind(curl, "curl_easy_cleanup", libs.easy_cleanup, missing);
  Bind(curl, "curl_easy_reset", libs.easy_reset, missing);
  Bind(curl, "curl_easy_setopt", libs.easy_setopt, missing);
  Bind(curl, "curl_easy_perform", libs.easy_perform, missing);
  Bind(curl, "curl_easy_getinfo", libs.easy_getinfo, missing);
  Bind(curl, "curl_easy_strerror", libs.easy_strerror, missing);
  Bind(curl, "curl_slist_append", libs.slist_append, missing);
  Bind(curl, "curl_slist_free_all", libs.slist_free_all, missing);
  Bind(crypto, "EVP_EncodeBlock", libs.encode_block, missing);
  Bind(crypto, "EVP_Digest", libs.digest, missing);
  Bind(crypto, "EVP_sha1", libs.sha1, missing);
  if (!missing.empty()) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("the installed libcurl or libcrypto lacks {}: install libcurl4 7.62 or "
                            "newer and libssl3",
                            missing));
  }
  libs.global_init(CURL_GLOBAL_DEFAULT);
  return libs;
}

}  // namespace

Result<const HttpLibs*> LoadHttpLibs() {
  static std::once_flag once;
  static Result<HttpLibs> loaded = Fail(ErrorCode::kInternal, "not loaded");
  std::call_once(once, [] { loaded = Load(); });
  if (!loaded) return loaded.error();
  return &loaded.value();
}

}  // namespace sg::cli
