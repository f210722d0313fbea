#include "daemon/plugins/auth/auth_plugin.h"

#include <array>
#include <atomic>
#include <ctime>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/logging.h"
#include "common/paths.h"
#include "daemon/plugin_api/access.h"
#include "daemon/plugin_api/access_guard.h"
#include "daemon/plugin_api/auth.h"
#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/catalogue_json.h"
#include "daemon/plugin_api/registration.h"
#include "daemon/plugin_api/sql.h"
#include "daemon/plugins/auth/auth_config.h"
#include "daemon/plugins/auth/auth_shared.h"
#include "daemon/plugins/auth/ethereum.h"

namespace sg::plugins {
namespace {

using json = nlohmann::json;
using auth::Json;
using auth::kReasonNames;
using auth::Random;
using auth::Reason;
using auth::Shared;

constexpr std::string_view kKeyPrefix = "sgk_";
constexpr size_t kMaxBody = 4096;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A key is 256 random bits: one SHA-256 is enough to store it (nothing to guess, nothing to
// stretch), and what is stored cannot be used as a key.
std::string HashKey(std::string_view key) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int n = 0;
  EVP_Digest(key.data(), key.size(), digest.data(), &n, EVP_sha256(), nullptr);
  return eth::ToHex(std::string_view(reinterpret_cast<const char*>(digest.data()), n));
}

// The scopes a key or a token may carry: a fixed set, so that a typo is an error.
constexpr std::array<std::string_view, 2> kScopes = {kScopeWrite, kScopeRead};

Result<std::string> CheckScope(const std::string& scope) {
  if (scope.empty()) return std::string(kScopeWrite) + " " + std::string(kScopeRead);
  std::string out;
  size_t i = 0;
  while (i < scope.size()) {
    size_t j = scope.find(' ', i);
    if (j == std::string::npos) j = scope.size();
    const std::string_view one(scope.data() + i, j - i);
    if (!one.empty()) {
      bool known = false;
      for (auto s : kScopes) known = known || s == one;
      if (!known) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("'{}' is not a scope; scopes: {} and {}",
                                std::string(one.substr(0, 40)), kScopeWrite, kScopeRead));
      }
      if (!out.empty()) out += ' ';
      out += one;
    }
    i = j + 1;
  }
  return out;
}

bool Printable(const std::string& s, size_t max) {
  if (s.size() > max) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::vector<SqlMigration> AuthMigrations() {
  return {{1,
           "API keys, stored as SHA-256 hashes",
           {"CREATE TABLE auth_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL, "
            "scope TEXT NOT NULL, hash TEXT NOT NULL, created_at BIGINT NOT NULL, "
            "last_used_at BIGINT NOT NULL DEFAULT 0, revoked_at BIGINT NOT NULL DEFAULT 0)"}}};
}

ApiKeyInfo KeyFromRow(const SqlRow& r) {
  ApiKeyInfo k;
  k.id = r.Text(0);
  k.name = r.Text(1);
  k.owner = r.Text(2);
  k.scope = r.Text(3);
  k.created_ms = r.Int(4);
  k.last_used_ms = r.Int(5);
  k.revoked_ms = r.Int(6);
  return k;
}

constexpr const char* kKeyColumns = "id, name, owner, scope, created_at, last_used_at, revoked_at";

class AuthServiceImpl final : public AuthService {
 public:
  explicit AuthServiceImpl(std::shared_ptr<Shared> s) : s_(std::move(s)) {}

  Result<NewApiKey> CreateKey(const std::string& name, const std::string& owner,
                              const std::string& scope) override {
    if (name.empty() || !Printable(name, 64)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "a key's name must be 1 to 64 printable characters (say what uses it: "
                  "'ci-uploader')");
    }
    if (!Printable(owner, 128) || owner.find(' ') != std::string::npos) {
      return Fail(ErrorCode::kInvalidArgument,
                  "a key's owner must be at most 128 printable characters without spaces");
    }
    auto scopes = CheckScope(scope);
    if (!scopes) return scopes.error();
    auto id_bytes = Random(5);
    auto secret = Random(32);
    if (!id_bytes) return id_bytes.error();
    if (!secret) return secret.error();
    NewApiKey out;
    out.info.id = eth::ToHex(*id_bytes);
    out.info.name = name;
    out.info.owner = owner.empty() ? "key:" + out.info.id : owner;
    out.info.scope = *scopes;
    out.info.created_ms = NowMs();
    out.secret = std::string(kKeyPrefix) + out.info.id + "_" + Base64UrlEncode(*secret);
    auto done = s_->db->Exec(
        "INSERT INTO auth_keys (id, name, owner, scope, hash, created_at) VALUES ($1, $2, $3, "
        "$4, $5, $6)",
        {out.info.id, out.info.name, out.info.owner, out.info.scope, HashKey(out.secret),
         out.info.created_ms});
    if (!done) return done.error().Wrap("auth: store the key in " + s_->where);
    s_->keys_created.fetch_add(1);
    s_->logger->info(log::With("API key created", {{"key", out.info.id},
                                                   {"name", out.info.name},
                                                   {"owner", out.info.owner},
                                                   {"scope", out.info.scope}}));
    return out;
  }

  Result<std::vector<ApiKeyInfo>> ListKeys() override {
    auto rows =
        s_->db->Exec(fmt::format("SELECT {} FROM auth_keys ORDER BY created_at, id", kKeyColumns));
    if (!rows) return rows.error().Wrap("auth: list the keys in " + s_->where);
    std::vector<ApiKeyInfo> out;
    for (const auto& r : rows->rows) out.push_back(KeyFromRow(r));
    return out;
  }

  Result<ApiKeyInfo> RevokeKey(const std::string& id) override {
    auto done = s_->db->Exec(
        "UPDATE auth_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at = 0", {NowMs(), id});
    if (!done) return done.error().Wrap("auth: revoke the key in " + s_->where);
    auto rows =
        s_->db->Exec(fmt::format("SELECT {} FROM auth_keys WHERE id = $1", kKeyColumns), {id});
    if (!rows) return rows.error().Wrap("auth: read the key in " + s_->where);
    if (rows->rows.empty()) {
      return Fail(ErrorCode::kNotFound, fmt::format("no API key with id '{}'", id.substr(0, 64)));
    }
    if (done->changed > 0) {
      s_->keys_revoked.fetch_add(1);
      s_->logger->info(log::With("API key revoked", {{"key", id}}));
    }
    return KeyFromRow(rows->rows.front());
  }

  Result<IssuedToken> IssueToken(const std::string& subject, const std::string& scope,
                                 std::chrono::seconds ttl) override {
    auto scopes = CheckScope(scope);
    if (!scopes) return scopes.error();
    if (ttl.count() <= 0) ttl = s_->token_ttl;
    auto token = s_->Sign(subject, *scopes, ttl);
    if (token) {
      s_->Issued("operator");
      s_->logger->info(log::With("Token issued to the local operator",
                                 {{"subject", subject}, {"scope", *scopes}}));
    }
    return token;
  }

  Result<std::string> RotateSigningKey() override {
    auto id = s_->access->Rotate(s_->key_overlap);
    if (id) {
      s_->logger->warn(log::With(
          "Signing key rotated; the previous one verifies until auth.key_overlap passes",
          {{"key", *id}, {"overlap_seconds", static_cast<int64_t>(s_->key_overlap.count())}}));
    }
    return id;
  }

 private:
  std::shared_ptr<Shared> s_;
};

class AuthPlugin final : public Plugin {
 public:
  std::string_view Name() const override { return "auth"; }
  std::string_view Version() const override { return "1.0.0"; }
  std::vector<std::string> ConfigKeys() const override { return AuthConfig().Reads(); }

  Result<void> Init(PluginContext& context) override {
    const config::Config& config = *context.config;
    shared_ = std::make_shared<Shared>();
    Shared& s = *shared_;
    s.logger = context.logger;
    s.blocking = context.blocking;
    s.services = context.services;
    s.token_ttl =
        std::chrono::duration_cast<std::chrono::seconds>(config.Duration("auth.token_ttl"));
    s.key_overlap =
        std::chrono::duration_cast<std::chrono::seconds>(config.Duration("auth.key_overlap"));
    auto access = context.services->Find<AccessGuard>("access");
    if (!access) return access.error().Wrap("auth: the daemon's token check");
    s.access = *access;
    // The API keys live with the catalogue: one database for the deployment's state.
    auto opened = OpenStateDatabase(config);
    if (!opened) return opened.error().Wrap("auth: the keys' database");
    s.db = opened->db;
    s.where = opened->where;
    if (auto migrated = s.db->Migrate("auth", AuthMigrations()); !migrated) {
      return migrated.error().Wrap("auth: " + s.where);
    }
    if (auto web3 = auth::ConfigureWeb3(s, config); !web3) return web3.error();
    router_ = context.router;
    metrics_ = context.metrics;
    context.services->Provide<AuthService>("auth", std::make_shared<AuthServiceImpl>(shared_));
    return {};
  }

  Result<void> Start() override {
    auto s = shared_;
    if (router_ != nullptr) {
      auto route = router_->AddAsyncRoute(
          "POST", "/api/v1/auth/token",
          [s](const HttpRequest& req, const std::shared_ptr<HttpResponder>& responder) {
            Exchange(s, req, responder);
          });
      if (!route) return route.error().Wrap("auth: add POST /api/v1/auth/token");
      routes_.emplace_back([router = router_, id = *route] { router->RemoveRoute(id); });
      auto playback = router_->AddAsyncRoute(
          "GET", "/api/v1/videos/{id}/playback",
          [s](const HttpRequest& req, const std::shared_ptr<HttpResponder>& responder) {
            const std::string id(req.Param("id"));
            const Principal who = s->access->Identify(req);
            const std::string request_id(req.request_id);
            if (!s->blocking->Submit([s, id, who, request_id, responder] {
                  responder->Send(Playback(*s, id, who, request_id));
                })) {
              responder->Send(
                  AccessProblem(503, "overloaded", "the server is busy", "try again shortly"));
            }
          });
      if (!playback) return playback.error().Wrap("auth: add GET /api/v1/videos/{id}/playback");
      routes_.emplace_back([router = router_, id = *playback] { router->RemoveRoute(id); });
      if (auto siwe = auth::AddSiweRoutes(s, *router_, routes_); !siwe) return siwe.error();
    }
    if (metrics_ != nullptr) {
      collector_ =
          AddCollector(*metrics_, [s](std::vector<MetricFamily>& out) { Collect(*s, out); });
    }
    s->logger->info(log::With("Tokens issued at POST /api/v1/auth/token",
                              {{"keys_file", s->access->Path()},
                               {"writes_need_token", s->access->Required()},
                               {"database", s->where}}));
    return {};
  }

  void Stop(Deadline) override {
    routes_.clear();
    collector_.Reset();
  }

  HealthReport CheckHealth() const override {
    const Shared& s = *shared_;
    if (auto ping = s.db->Ping(); !ping) {
      return {HealthStatus::kDegraded, "keys database unreachable: " + ping.error().message};
    }
    if (s.web3.rpc) {
      const auto rpc = s.web3.rpc->Snapshot();
      if (rpc.last_failed) {
        return {HealthStatus::kDegraded,
                "the chain's JSON-RPC cannot be reached: " + rpc.last_error};
      }
    }
    return {HealthStatus::kHealthy,
            fmt::format("{} signing key(s); writes {}", s.access->Keys()->keys().size(),
                        s.access->Required() ? "need a token" : "are open (auth.required=false)")};
  }

 private:
  // POST /api/v1/auth/token: an API key (Authorization: Bearer sgk_..., or {"api_key": ...})
  // for a token; {"scope": "..."} may narrow what the key allows.
  static void Exchange(const std::shared_ptr<Shared>& s, const HttpRequest& req,
                       const std::shared_ptr<HttpResponder>& responder) {
    std::string key = BearerToken(req);
    std::string want_scope;
    if (!req.body.empty()) {
      if (req.body.size() > kMaxBody) {
        s->Refused(Reason::kMalformed);
        return responder->Send(AccessProblem(413, "too_large", "the body is over 4 KiB",
                                             "send {\"api_key\": \"sgk_...\"}"));
      }
      const json body = json::parse(req.body, nullptr, false);
      if (!body.is_object()) {
        s->Refused(Reason::kMalformed);
        return responder->Send(AccessProblem(400, "bad_json", "the body is not a JSON object",
                                             "send {\"api_key\": \"sgk_...\"}"));
      }
      if (body.contains("api_key")) {
        if (!body["api_key"].is_string()) {
          s->Refused(Reason::kMalformed);
          return responder->Send(AccessProblem(400, "bad_field", "\"api_key\" must be a string",
                                               "send {\"api_key\": \"sgk_...\"}"));
        }
        key = body["api_key"].get<std::string>();
      }
      if (body.contains("scope")) {
        if (!body["scope"].is_string()) {
          s->Refused(Reason::kMalformed);
          return responder->Send(AccessProblem(400, "bad_field", "\"scope\" must be a string",
                                               "leave it out, or send \"videos:write\""));
        }
        want_scope = body["scope"].get<std::string>();
      }
    }
    if (key.empty()) {
      s->Refused(Reason::kNoKey);
      return responder->Send(AccessProblem(
          401, "unauthenticated", "no API key: send Authorization: Bearer sgk_... or {\"api_key\"}",
          "make a key on the daemon's machine: streamgate auth keys create --name NAME"));
    }
    // sgk_<10 hex>_<43 base64url>
    const size_t sep = key.find('_', kKeyPrefix.size());
    if (key.rfind(kKeyPrefix, 0) != 0 || sep != kKeyPrefix.size() + 10 || key.size() > 128) {
      s->Refused(Reason::kMalformed);
      return responder->Send(AccessProblem(401, "invalid_key",
                                           "that is not a StreamGate API key (sgk_ID_SECRET)",
                                           "copy the whole key 'streamgate auth keys create' "
                                           "printed; it is shown once"));
    }
    const std::string id = key.substr(kKeyPrefix.size(), 10);
    const std::string request_id(req.request_id);
    if (!s->blocking->Submit([s, key, id, want_scope, request_id, responder] {
          responder->Send(Redeem(*s, key, id, want_scope, request_id));
        })) {
      s->Refused(Reason::kUnavailable);
      responder->Send(AccessProblem(503, "overloaded", "the server is busy", "try again shortly"));
    }
  }

  static HttpResponse Redeem(Shared& s, const std::string& key, const std::string& id,
                             const std::string& want_scope, const std::string& request_id) {
    auto rows =
        s.db->Exec(fmt::format("SELECT {}, hash FROM auth_keys WHERE id = $1", kKeyColumns), {id});
    if (!rows) {
      s.Refused(Reason::kUnavailable);
      s.logger->error(log::With("Cannot read API keys",
                                {{"error", rows.error().message}, {"request_id", request_id}}));
      return AccessProblem(503, "unavailable", "the keys database cannot be read now",
                           "try again shortly; the operator sees why in 'streamgate health'");
    }
    const std::string hash = HashKey(key);
    // Compared in constant time even when the id is unknown (against a hash of nothing).
    const std::string stored = rows->rows.empty() ? HashKey("") : rows->rows.front().Text(7);
    const bool match =
        stored.size() == hash.size() && CRYPTO_memcmp(stored.data(), hash.data(), hash.size()) == 0;
    if (rows->rows.empty() || !match) {
      s.Refused(Reason::kUnknownKey);
      s.logger->warn(
          log::With("Token refused: unknown API key", {{"key", id}, {"request_id", request_id}}));
      return AccessProblem(401, "invalid_key", "the API key is not known",
                           "check the key, or make a new one: streamgate auth keys create");
    }
    const ApiKeyInfo info = KeyFromRow(rows->rows.front());
    if (info.revoked_ms != 0) {
      s.Refused(Reason::kRevoked);
      s.logger->warn(
          log::With("Token refused: revoked API key", {{"key", id}, {"request_id", request_id}}));
      return AccessProblem(
          401, "revoked_key",
          fmt::format("the API key '{}' was revoked at {}", id, FormatTimeMs(info.revoked_ms)),
          "ask the operator for a new key");
    }
    std::string scope = info.scope;
    if (!want_scope.empty()) {
      auto asked = CheckScope(want_scope);
      if (!asked) {
        s.Refused(Reason::kBadScope);
        return AccessProblem(400, "bad_scope", asked.error().message, "ask for known scopes");
      }
      // Only narrowing: every asked scope must be the key's.
      Claims have;
      have.scope = info.scope;
      size_t i = 0;
      while (i < asked->size()) {
        size_t j = asked->find(' ', i);
        if (j == std::string::npos) j = asked->size();
        if (!have.HasScope(std::string_view(*asked).substr(i, j - i))) {
          s.Refused(Reason::kBadScope);
          return AccessProblem(403, "insufficient_scope",
                               fmt::format("the key allows '{}', not '{}'", info.scope, *asked),
                               "ask for less, or for a key with more");
        }
        i = j + 1;
      }
      scope = *asked;
    }
    auto token = s.Sign(info.owner, scope, s.token_ttl);
    if (!token) {
      s.Refused(Reason::kUnavailable);
      return AccessProblem(500, "internal", token.error().message, "see the daemon's log");
    }
    (void)s.db->Exec("UPDATE auth_keys SET last_used_at = $1 WHERE id = $2", {NowMs(), id});
    s.Issued("api_key");
    s.logger->info(log::With(
        "Token issued for an API key",
        {{"key", id}, {"subject", info.owner}, {"scope", scope}, {"request_id", request_id}}));
    return Json(200, {{"token", token->token},
                      {"token_type", "Bearer"},
                      {"expires_in", s.token_ttl.count()},
                      {"expires_at", FormatTimeMs(token->expires * 1000)},
                      {"subject", token->subject},
                      {"scope", token->scope}});
  }

  // GET /api/v1/videos/{id}/playback: where to play a video from. Public and unlisted videos
  // play from /videos/ID/; a private one from a capability URL, for its owner (or the operator);
  // a gated one from a capability URL, for a signed-in wallet that holds the gate's token.
  static HttpResponse Playback(Shared& s, const std::string& id, const Principal& who,
                               const std::string& request_id) {
    auto catalogue = s.services->Find<Catalogue>("metadata");
    if (!catalogue) {
      s.Refused(Reason::kUnavailable);
      return AccessProblem(503, "unavailable", "the catalogue is not available",
                           "start the metadata plugin, then try again");
    }
    auto video = (*catalogue)->Get(id);
    auto not_found = [&] {
      return AccessProblem(404, "not_found", "no video " + id.substr(0, 64),
                           "check the id; GET /api/v1/videos lists the videos there are");
    };
    if (!video) {
      if (video.error().code == ErrorCode::kNotFound) return not_found();
      s.Refused(Reason::kUnavailable);
      return AccessProblem(503, "unavailable", video.error().message, "try again shortly");
    }
    std::string prefix;
    int64_t expires = 0;
    const bool own = !who.anonymous && (who.subject == video->owner || who.subject == "operator");
    switch (video->visibility) {
      case Visibility::kPublic:
      case Visibility::kUnlisted:
        break;
      case Visibility::kPrivate:
        if (!own) {
          s.Refused(Reason::kNotOwner);
          return not_found();  // not even that it exists
        }
        break;
      case Visibility::kGated:
        if (own) break;
        if (who.anonymous || !who.subject.starts_with("0x")) {
          s.Refused(Reason::kNotHolder);
          return AccessProblem(403, "gated",
                               "video " + id + " plays only for holders of its gate's token",
                               "sign in with a wallet that holds it: GET "
                               "/api/v1/auth/siwe/nonce, then POST /api/v1/auth/siwe/verify");
        }
        if (auto refused = auth::CheckHolder(s, id, video->gate, who.subject, request_id))
          return *refused;
        break;
    }
    if (video->visibility == Visibility::kPrivate || video->visibility == Visibility::kGated) {
      auto cap = s.access->Capability(id, who.subject);
      if (!cap) {
        return AccessProblem(500, "internal", cap.error().message, "see the daemon's log");
      }
      prefix = "/p/" + *cap;
      expires = static_cast<int64_t>(std::time(nullptr)) + s.access->CapabilityTtl().count();
      s.Issued("capability");
      s.logger->info(
          log::With("Playback URL issued",
                    {{"video", id}, {"subject", who.subject}, {"request_id", request_id}}));
    }
    json out = {{"video", id},
                {"state", VideoStateName(video->state)},
                {"hls", prefix + "/videos/" + id + "/master.m3u8"},
                {"dash", prefix + "/videos/" + id + "/manifest.mpd"},
                {"poster", prefix + "/videos/" + id + "/poster.jpg"},
                {"expires_at", expires > 0 ? json(FormatTimeMs(expires * 1000)) : json(nullptr)}};
    return Json(200, out);
  }

  static void Collect(Shared& s, std::vector<MetricFamily>& out) {
    MetricFamily issued{
        "streamgate_auth_tokens_issued_total", "Tokens issued, by how", "counter", {}};
    {
      std::lock_guard lock(s.mu);
      for (const char* how : {"api_key", "operator", "siwe", "capability"}) {
        auto it = s.issued.find(how);
        issued.samples.push_back(Sample{
            "", {{"method", how}}, it == s.issued.end() ? 0.0 : static_cast<double>(it->second)});
      }
    }
    out.push_back(std::move(issued));
    MetricFamily refused{
        "streamgate_auth_refused_total", "Token requests refused, by reason", "counter", {}};
    for (size_t i = 0; i < kReasonNames.size(); ++i) {
      refused.samples.push_back(
          Sample{"", {{"reason", kReasonNames[i]}}, static_cast<double>(s.refused[i].load())});
    }
    out.push_back(std::move(refused));
    AddValue(out, "streamgate_auth_keys_created_total", "API keys created", "counter",
             static_cast<double>(s.keys_created.load()));
    AddValue(out, "streamgate_auth_keys_revoked_total", "API keys revoked", "counter",
             static_cast<double>(s.keys_revoked.load()));
    auth::CollectWeb3(s, out);
    AddValue(out, "streamgate_auth_signing_keys", "Signing keys that verify now", "gauge",
             static_cast<double>(s.access->Keys()->keys().size()));
  }

  std::shared_ptr<Shared> shared_;
  Router* router_ = nullptr;
  MetricsRegistry* metrics_ = nullptr;
  std::vector<Registration> routes_;
  Registration collector_;
};

}  // namespace

std::unique_ptr<Plugin> MakeAuth() { return std::make_unique<AuthPlugin>(); }

}  // namespace sg::plugins
