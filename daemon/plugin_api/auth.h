// The auth plugin's service ("auth" in the registry): API keys, which the control socket's
// `auth keys` commands manage, and tokens for the local operator. Checking a token needs none of
// this: see access_guard.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace sg {

struct ApiKeyInfo {
  std::string id;     // "k" + 10 characters; the public half of the key
  std::string name;   // what the operator called it ("ci-uploader")
  std::string owner;  // the subject its tokens carry; videos it uploads are this owner's
  std::string scope;  // space-separated scopes its tokens carry
  int64_t created_ms = 0;
  int64_t last_used_ms = 0;  // 0: never exchanged for a token
  int64_t revoked_ms = 0;    // 0: in force
};

struct NewApiKey {
  ApiKeyInfo info;
  std::string secret;  // "sgk_ID_SECRET": shown once, stored only as a hash
};

struct IssuedToken {
  std::string token;
  int64_t expires = 0;  // seconds since the epoch
  std::string subject;
  std::string scope;
};

/// Thread-safe; calls may block on the database (make them off I/O threads).
class AuthService {
 public:
  virtual ~AuthService() = default;
  /// kInvalidArgument for a bad name or scope.
  virtual Result<NewApiKey> CreateKey(const std::string& name, const std::string& owner,
                                      const std::string& scope) = 0;
  virtual Result<std::vector<ApiKeyInfo>> ListKeys() = 0;
  /// kNotFound for an unknown id; revoking twice is not an error.
  virtual Result<ApiKeyInfo> RevokeKey(const std::string& id) = 0;
  /// A token for `subject` without a key: the local operator's (`streamgate auth token`).
  virtual Result<IssuedToken> IssueToken(const std::string& subject, const std::string& scope,
                                         std::chrono::seconds ttl) = 0;
  /// Makes a new signing key; the previous one verifies for auth.key_overlap. The new key's id.
  virtual Result<std::string> RotateSigningKey() = 0;
};

}  // namespace sg
