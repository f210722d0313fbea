// AWS Signature Version 4 for S3 requests (header form), computed with OpenSSL: kept apart from
// the HTTP client so that AWS's published examples can test it.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace sg::storage::s3 {

std::string Sha256Hex(std::string_view data);
/// Percent-encodes all but A-Z a-z 0-9 - _ . ~ (and '/', when `keep_slash`), as SigV4 wants.
std::string UriEncode(std::string_view text, bool keep_slash);

struct SigningRequest {
  std::string method;                          // "GET"
  std::string path;                            // already encoded: "/bucket/videos/a%20b"
  std::map<std::string, std::string> query;    // raw names and values; "" for "?uploads"
  std::map<std::string, std::string> headers;  // lower-case names: host, x-amz-date, ...
  std::string payload_hash;                    // hex SHA-256, or "UNSIGNED-PAYLOAD"
};

struct Credentials {
  std::string access_key;
  std::string secret_key;
  std::string region;
};

/// The query string, encoded and sorted: what goes after '?' in the URL and the signature.
std::string CanonicalQuery(const std::map<std::string, std::string>& query);
/// The Authorization header's value for a request made at `amz_date` ("20130524T000000Z");
/// every header in `request.headers` is signed.
std::string Authorization(const SigningRequest& request, const Credentials& credentials,
                          const std::string& amz_date);

}  // namespace sg::storage::s3
