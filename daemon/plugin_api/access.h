// Access tokens that every plugin checks by itself, with no call to the auth service: short-lived
// JWTs (HS256 only, pinned) for API clients and wallets, and playback capabilities carried in the
// path (/p/<capability>/videos/<id>/...), so that relative segment URIs inherit them.
//
// Both are HMAC-SHA256 with keys from a KeyRing: tokens are signed with the newest key and
// checked against any key not yet retired, which gives key rotation an overlap. Comparisons are
// constant-time (CRYPTO_memcmp). Nothing here does I/O; a capability check costs well under 2 µs.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sg {

/// One HMAC key with its id (the JWT "kid").
struct AccessKey {
  std::string id;      // [A-Za-z0-9_-]{1,32}
  std::string secret;  // raw bytes, at least 32
};

/// The keys in force: the first signs, all of them verify.
class KeyRing {
 public:
  KeyRing() = default;
  explicit KeyRing(std::vector<AccessKey> keys) : keys_(std::move(keys)) {}
  const AccessKey* Signing() const { return keys_.empty() ? nullptr : &keys_.front(); }
  const AccessKey* Find(std::string_view id) const;
  bool empty() const { return keys_.empty(); }
  const std::vector<AccessKey>& keys() const { return keys_; }

 private:
  std::vector<AccessKey> keys_;
};

/// What a JWT says of its bearer.
struct Claims {
  std::string subject;    // "sub": the owner name ("key:<id>", "operator", or "0x..." for a wallet)
  std::string scope;      // "scope": space-separated, such as "videos:write"
  std::string issuer;     // "iss"
  int64_t issued_at = 0;  // "iat", seconds since the epoch
  int64_t not_before = 0;  // "nbf"
  int64_t expires = 0;     // "exp"
  std::string id;          // "jti"

  bool HasScope(std::string_view s) const;
};

/// Signs claims as a compact JWS: header {"alg":"HS256","typ":"JWT","kid":...}. Empty strings
/// and zero times are left out; `expires` is required (kInvalidArgument without it).
Result<std::string> SignJwt(const KeyRing& keys, const Claims& claims);

/// Checks a compact JWT: exactly three base64url parts, the header's alg exactly "HS256" (never
/// "none" or anything else), a known kid (or, without a kid, any key), a good signature compared
/// in constant time, "exp" in the future and "nbf" not ahead of `now` beyond `leeway`. Refused
/// besides: a token over 8 KiB, a header that is not a JSON object or has "crit" or a "typ" other
/// than JWT, a claim of the wrong JSON type, a missing or non-integer "exp".
/// kPermissionDenied with a message a client can act on ("the token expired at ...; get a new
/// token: POST /api/v1/auth/token").
Result<Claims> VerifyJwt(const KeyRing& keys, std::string_view token, int64_t now_seconds,
                         std::chrono::seconds leeway = std::chrono::seconds(30));

/// A playback capability: who may fetch which video's files, until when.
struct Capability {
  std::string video;    // the video id
  std::string scope;    // "play" (room for "download")
  int64_t expires = 0;  // seconds since the epoch
  std::string subject;  // who it was issued to, for the log (may be empty); [A-Za-z0-9:_-]{0,128}
};

/// The path-safe token ([A-Za-z0-9_-] and one '.'):
///   base64url(payload) "." base64url(tag)
///   payload = "v1.<kid>.<video>.<scope>.<expires>.<subject>"
///   tag     = HMAC-SHA256(key <kid>, payload) truncated to 16 bytes
/// with kid [A-Za-z0-9_-]{1,32}, video [A-Za-z0-9_-]{1,64}, scope [a-z]{1,16}, expires decimal
/// seconds > 0, subject as above: no field can hold the '.' that separates them.
/// kInvalidArgument for a field outside its set; kFailedPrecondition without a key.
Result<std::string> SignCapability(const KeyRing& keys, const Capability& cap);

/// Checks a capability for `video` now: format, key, tag (constant time), video, expiry; the
/// caller checks the scope. No JSON, no heap beyond the returned strings (well under 2 µs).
/// kPermissionDenied saying which ("the capability is for another video").
Result<Capability> VerifyCapability(const KeyRing& keys, std::string_view token,
                                    std::string_view video, int64_t now_seconds);

/// base64url without padding (RFC 4648 §5), and its strict inverse.
std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace sg
