#include "cli/http_libs.h"

#include <fmt/format.h>

#include "common/shared_library.h"

namespace sg::cli {

namespace {

Result<HttpLibs> Load() {
  auto curl = LoadCurl();
  if (!curl) return curl.error().Wrap("this command needs libcurl");
  auto opened = OpenLibrary("libcrypto.so.3", "libssl3");
  if (!opened) return opened.error().Wrap("this command needs OpenSSL's libcrypto");
  void* crypto = *opened;
  HttpLibs libs{};
  static_cast<CurlLibrary&>(libs) = **curl;
  std::string missing;
  BindSymbol(crypto, "EVP_EncodeBlock", libs.encode_block, missing);
  BindSymbol(crypto, "EVP_Digest", libs.digest, missing);
  BindSymbol(crypto, "EVP_sha1", libs.sha1, missing);
  if (!missing.empty()) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("the installed libcrypto lacks {}: install libssl3", missing));
  }
  return libs;
}

}  // namespace

Result<const HttpLibs*> LoadHttpLibs() { return LoadOnce<HttpLibs, Load>(); }

}  // namespace sg::cli
