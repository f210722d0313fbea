// The check every plugin makes of a request that needs a token, in whatever process it runs:
// the daemon loads the signing keys (auth.keys_file) and offers this guard to the plugins as the
// "access" service. Checking needs no call to the auth plugin: a token is verified with the
// keys alone, so an upload instance in another process checks it just the same.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "config/config.h"
#include "daemon/plugin_api/access.h"
#include "daemon/plugin_api/http.h"

namespace sg {

/// Scopes a token may carry.
inline constexpr std::string_view kScopeWrite = "videos:write";  // upload, edit, delete
inline constexpr std::string_view kScopeRead = "videos:read";    // own private videos

/// Who made a request, as a checked token says.
struct Principal {
  std::string subject;  // the token's "sub": "key:ID", "operator", or a wallet's 0x address
  std::string scope;
  bool anonymous = true;  // no token (auth.required=false lets some routes through then)
};

/// Thread-safe. Verifies with the keys of auth.keys_file, re-read when the file changes (checked
/// at most once every few seconds), so a rotation reaches every process without a restart.
class AccessGuard {
 public:
  /// Reads the keys file, or makes it (mode 0600, one fresh 256-bit key) when it is missing;
  /// two processes starting at once end up with the same file. kConfig naming the file when it
  /// is unreadable, malformed, or readable by others than its owner.
  static Result<std::shared_ptr<AccessGuard>> Open(const config::Config& config);
  /// For tests and tools: a guard over given keys.
  AccessGuard(std::string path, KeyRing keys, bool required, std::chrono::seconds capability_ttl);

  /// The keys file auth.keys_file names (or its default in the state folder).
  static std::string KeysFile(const config::Config& config);

  bool Required() const { return required_; }
  const std::string& Path() const { return path_; }
  /// The keys in force now (re-read when the file changed).
  std::shared_ptr<const KeyRing> Keys() const;

  /// Checks the request's Authorization: Bearer token for `scope`. The principal, or the
  /// response to send: 401 (no token, or a bad or expired one; with WWW-Authenticate) or 403
  /// (a good token without the scope). With auth.required=false a request without a token is
  /// let through as anonymous; one with a token is still checked.
  std::variant<Principal, HttpResponse> Require(const HttpRequest& req,
                                                std::string_view scope) const;
  /// The principal of a request's token when it has a good one; anonymous otherwise (a bad token
  /// counts as none: read routes then show what anyone may see).
  Principal Identify(const HttpRequest& req) const;

  /// Signs a playback capability for `video`, good for auth.capability_ttl (or `ttl`).
  Result<std::string> Capability(const std::string& video, const std::string& subject,
                                 std::optional<std::chrono::seconds> ttl = std::nullopt) const;
  std::chrono::seconds CapabilityTtl() const { return capability_ttl_; }

  /// Makes a new signing key the first, keeps the previous ones younger than `overlap`, and
  /// writes the file (atomically, 0600). Returns the new key's id.
  Result<std::string> Rotate(std::chrono::seconds overlap);

 private:
  void Refresh() const;

  std::string path_;
  bool required_ = true;
  std::chrono::seconds capability_ttl_{6 * 3600};
  mutable std::mutex mu_;
  mutable std::shared_ptr<const KeyRing> keys_;               // guarded by mu_
  mutable std::chrono::steady_clock::time_point next_check_;  // guarded by mu_
  mutable int64_t mtime_ns_ = 0;                              // guarded by mu_
};

/// The credential of `Authorization: Bearer CREDENTIAL` (the scheme in any case, spaces
/// trimmed), or "" when there is none.
std::string BearerToken(const HttpRequest& req);

/// The JSON error the gateway's routes share, for a 401 or 403 (exposed for the auth plugin).
HttpResponse AccessProblem(unsigned status, std::string_view code, std::string_view message,
                           std::string_view hint);

}  // namespace sg
