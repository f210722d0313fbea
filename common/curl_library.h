// libcurl, loaded with dlopen when something first needs it: the S3 store, the auth plugin's
// chain (JSON-RPC), the CLI's `upload` and `videos watch`. Linked, libcurl and the two dozen
// libraries it brings (GnuTLS, nettle, p11-kit, LDAP, SASL, ssh2, ...) are loaded and mapped by
// every process, which costs the CLI milliseconds at start and the daemon about 3.4 MiB of
// resident memory that a deployment on local storage never uses (tests/bench/README.md).
#pragma once

#include <string>

#include <curl/curl.h>
#include <dlfcn.h>

#include "common/result.h"

namespace sg {

/// The libcurl functions we call, resolved from libcurl.so.4.
struct CurlLibrary {
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
};

/// Loads libcurl once (curl_global_init included) and returns the same table after; safe from
/// any thread. The error says what to install.
Result<const CurlLibrary*> LoadCurl();

/// The table, for code whose creator checked LoadCurl (S3Storage::Create, the chain): loads it
/// if that has not happened, and ends the process with the error if it cannot be loaded.
const CurlLibrary& Curl();

}  // namespace sg
