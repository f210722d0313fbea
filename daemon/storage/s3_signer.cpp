#include "daemon/storage/s3_signer.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

namespace sg::storage::s3 {

namespace {

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n);
  return std::string(reinterpret_cast<const char*>(out), n);
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return Hex(digest, sizeof digest);
}

std::string UriEncode(std::string_view text, bool keep_slash) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out += c;
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

std::string CanonicalQuery(const std::map<std::string, std::string>& query) {
  // Sorted by encoded name; S3's names are plain, so the map's order is that order.
  std::string out;
  for (const auto& [name, value] : query) {
    if (!out.empty()) out += '&';
    out += UriEncode(name, false) + "=" + UriEncode(value, false);
  }
  return out;
}

std::string Authorization(const SigningRequest& request, const Credentials& credentials,
                          const std::string& amz_date) {
  std::string canonical_headers;
  std::string signed_headers;
  for (const auto& [name, value] : request.headers) {
    // Values trimmed; S3 requests carry no values with inner runs of spaces.
    const size_t first = value.find_first_not_of(' ');
    const size_t last = value.find_last_not_of(' ');
    canonical_headers += name + ":" +
                         (first == std::string::npos ? "" : value.substr(first, last - first + 1)) +
                         "\n";
    signed_headers += (signed_headers.empty() ? "" : ";") + name;
  }
  const std::string canonical_request = fmt::format(
      "{}\n{}\n{}\n{}\n{}\n{}", request.method, request.path, CanonicalQuery(request.query),
      canonical_headers, signed_headers, request.payload_hash);
  const std::string day = amz_date.substr(0, 8);
  const std::string scope = fmt::format("{}/{}/s3/aws4_request", day, credentials.region);
  const std::string string_to_sign =
      fmt::format("AWS4-HMAC-SHA256\n{}\n{}\n{}", amz_date, scope, Sha256Hex(canonical_request));
  std::string key = Hmac("AWS4" + credentials.secret_key, day);
  key = Hmac(key, credentials.region);
  key = Hmac(key, "s3");
  key = Hmac(key, "aws4_request");
  const std::string signature = Hmac(key, string_to_sign);
  return fmt::format(
      "AWS4-HMAC-SHA256 Credential={}/{},SignedHeaders={},Signature={}", credentials.access_key,
      scope, signed_headers,
      Hex(reinterpret_cast<const unsigned char*>(signature.data()), signature.size()));
}

}  // namespace sg::storage::s3
