// libcurl and libcrypto for the two commands that speak HTTP (`upload` and `videos watch`),
// loaded with dlopen when one of them first needs them. Linked, they and their two dozen
// dependencies (GnuTLS, Kerberos, LDAP, ...) cost every command about 6 ms before main(), which
// is most of what `streamgate status` took (tests/bench/README.md, "The CLI").
#pragma once

#include <curl/curl.h>
#include <openssl/evp.h>

#include "common/result.h"

namespace sg::cli {

/// The functions we call, resolved from libcurl.so.4 and libcrypto.so.3.
struct HttpLibs {
  decltype(&::curl_global_init) global_init;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_reset) easy_reset;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_perform) easy_perform;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
  decltype(&::EVP_EncodeBlock) encode_block;
  decltype(&::EVP_Digest) digest;
  decltype(&::EVP_sha1) sha1;
};

/// Loads both libraries once (curl_global_init included) and returns the same table after; safe
/// from any thread. The error names the library that is missing and the Debian package with it.
Result<const HttpLibs*> LoadHttpLibs();

}  // namespace sg::cli
