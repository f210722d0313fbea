// libcurl and libcrypto for the two commands that speak HTTP (`upload` and `videos watch`),
// loaded with dlopen when one of them first needs them. Linked, they and their two dozen
// dependencies (GnuTLS, Kerberos, LDAP, ...) cost every command about 6 ms before main(), which
// is most of what `streamgate status` took (tests/bench/README.md, "The CLI").
#pragma once

#include <openssl/evp.h>

#include "common/curl_library.h"
#include "common/result.h"

namespace sg::cli {

/// The functions we call: libcurl's (common/curl_library) and these of libcrypto.so.3.
struct HttpLibs : CurlLibrary {
  decltype(&::EVP_EncodeBlock) encode_block;
  decltype(&::EVP_Digest) digest;
  decltype(&::EVP_sha1) sha1;
};

/// Loads both libraries once (curl_global_init included) and returns the same table after; safe
/// from any thread. The error names the library that is missing and the Debian package with it.
Result<const HttpLibs*> LoadHttpLibs();

}  // namespace sg::cli
