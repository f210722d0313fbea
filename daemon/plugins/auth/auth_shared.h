// What the auth plugin's parts share: its settings, its services, its counters, and the token
// signer. Internal to the plugin (auth_plugin.cpp, siwe_routes.cpp).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/rand.h>
#include <spdlog/logger.h>

#include "daemon/plugin_api/access.h"
#include "daemon/plugin_api/access_guard.h"
#include "daemon/plugin_api/auth.h"
#include "daemon/plugin_api/blocking_pool.h"
#include "daemon/plugin_api/http.h"
#include "daemon/plugin_api/metrics.h"
#include "daemon/plugin_api/plugin.h"
#include "daemon/plugin_api/registration.h"
#include "daemon/plugin_api/sql.h"
#include "daemon/plugins/auth/chain.h"

namespace sg::plugins::auth {

inline Result<std::string> Random(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return Fail(ErrorCode::kInternal, "the system's random source (OpenSSL RAND_bytes) failed");
  }
  return out;
}

// Why a token or a playback URL was refused, as metric labels: a fixed set.
enum class Reason {
  kNoKey,
  kMalformed,
  kUnknownKey,
  kRevoked,
  kBadScope,
  kUnavailable,
  kNotOwner,
  kNotHolder,
  kBadMessage,    // SIWE: the message does not parse, or is for another domain, URI or chain
  kExpired,       // SIWE: issued too long ago, expired, or not yet valid
  kNonce,         // SIWE: the nonce is unknown, expired or used
  kBadSignature,  // SIWE: the signature does not parse or is not the address's
  kCount
};
constexpr std::array<const char*, static_cast<size_t>(Reason::kCount)> kReasonNames = {
    "no_key",    "malformed",  "unknown_key", "revoked", "bad_scope", "unavailable",
    "not_owner", "not_holder", "bad_message", "expired", "nonce",     "bad_signature"};

// The gate of gated videos (web3.gate_*), and how to ask the chain.
struct Web3 {
  std::shared_ptr<chain::RpcClient> rpc;  // null when web3.ethereum_rpc is empty
  std::string gate_contract;              // checksummed; "" for no gate
  bool erc1155 = false;
  std::string gate_token_id = "0";
  uint64_t chain_id = 1;
  std::unique_ptr<chain::OwnershipCache> owners;
  std::atomic<uint64_t> owner_hits{0};
  std::atomic<uint64_t> owner_misses{0};
};

// Sign-In with Ethereum settings (auth.siwe_*, auth.nonce_ttl).
struct SiweSettings {
  std::string domain;  // "" for the Host header
  std::vector<std::string> uris;
  std::chrono::milliseconds nonce_ttl{5 * 60 * 1000};
  std::chrono::milliseconds max_age{10 * 60 * 1000};
};

struct Shared {
  std::shared_ptr<spdlog::logger> logger;
  std::shared_ptr<SqlDatabase> db;
  std::shared_ptr<AccessGuard> access;
  BlockingPool* blocking = nullptr;
  ServiceRegistry* services = nullptr;
  std::string where;
  std::chrono::seconds token_ttl{900};
  std::chrono::seconds key_overlap{86400};
  Web3 web3;
  SiweSettings siwe;

  std::atomic<uint64_t> keys_created{0};
  std::atomic<uint64_t> keys_revoked{0};
  std::mutex mu;
  std::map<std::string, uint64_t> issued;  // guarded by mu: tokens by how they were got
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Reason::kCount)> refused{};

  void Issued(const std::string& how) {
    std::lock_guard lock(mu);
    ++issued[how];
  }
  void Refused(Reason r) { refused[static_cast<size_t>(r)].fetch_add(1); }

  Result<IssuedToken> Sign(const std::string& subject, const std::string& scope,
                           std::chrono::seconds ttl) const {
    Claims c;
    c.subject = subject;
    c.scope = scope;
    c.issuer = "streamgate";
    c.issued_at = static_cast<int64_t>(std::time(nullptr));
    c.not_before = c.issued_at;
    c.expires = c.issued_at + ttl.count();
    auto id = Random(12);
    if (!id) return id.error();
    c.id = Base64UrlEncode(*id);
    auto token = SignJwt(*access->Keys(), c);
    if (!token) return token.error();
    return IssuedToken{std::move(*token), c.expires, subject, scope};
  }
};

inline HttpResponse Json(unsigned status, const nlohmann::json& body) {
  HttpResponse res;
  res.status = status;
  res.body = body.dump();
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

/// Reads web3.* and auth.siwe_*, auth.nonce_ttl into `s`; kConfig for a gate that is not an
/// address.
Result<void> ConfigureWeb3(Shared& s, const config::Config& config);

/// GET /api/v1/auth/siwe/nonce and POST /api/v1/auth/siwe/verify.
Result<void> AddSiweRoutes(const std::shared_ptr<Shared>& s, Router& router,
                           std::vector<Registration>& routes);

/// Whether a wallet (a token's 0x subject) may play a gated video: nullopt when it may, else the
/// response to send (403 not a holder or no gate configured, 503 when the chain cannot answer).
std::optional<HttpResponse> CheckHolder(Shared& s, const std::string& video,
                                        const std::string& video_gate, const std::string& subject,
                                        const std::string& request_id);

/// The chain's metrics and the ownership cache's.
void CollectWeb3(Shared& s, std::vector<MetricFamily>& out);

}  // namespace sg::plugins::auth
