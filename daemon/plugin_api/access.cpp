#include "daemon/plugin_api/access.h"

#include <array>
#include <charconv>
#include <cstring>
#include <ctime>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace sg {
namespace {

constexpr std::string_view kNewToken = "get a new token: POST /api/v1/auth/token";
constexpr std::string_view kNewUrl = "ask for a new playback URL";
constexpr size_t kMaxJwtBytes = 8 * 1024;
constexpr size_t kSha256Bytes = 32;
constexpr size_t kBlockBytes = 64;

// The capability's limits, which keep its decoding on the stack.
constexpr size_t kCapTagBytes = 16;
constexpr size_t kCapTagChars = 22;  // base64url of 16 bytes, unpadded
constexpr size_t kMaxCapPayload = 320;
constexpr size_t kMaxCapPayloadChars = (kMaxCapPayload / 3) * 4 + 4;
constexpr size_t kMaxKeyId = 32;
constexpr size_t kMaxVideo = 64;
constexpr size_t kMaxScope = 16;
constexpr size_t kMaxSubject = 128;

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// The sextet of each base64url character, kBad for anything else.
constexpr unsigned kBad = 0x80;
constexpr std::array<uint8_t, 256> kSextets = [] {
  std::array<uint8_t, 256> t{};
  t.fill(kBad);
  for (size_t i = 0; i < kAlphabet.size(); ++i)
    t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<uint8_t>(i);
  return t;
}();

unsigned Sextet(char c) { return kSextets[static_cast<unsigned char>(c)]; }

size_t DecodedSize(size_t chars) { return chars / 4 * 3 + (chars % 4 == 0 ? 0 : chars % 4 - 1); }

// Strict base64url without padding into `out` (room for DecodedSize(text.size())): false on a
// character outside the alphabet, an impossible length (4n+1), or set bits past the last byte
// (so that each byte string has exactly one encoding).
bool DecodeInto(std::string_view text, unsigned char* out) {
  if (text.size() % 4 == 1) return false;
  size_t o = 0;
  size_t i = 0;
  for (; i + 4 <= text.size(); i += 4) {
    const unsigned a = Sextet(text[i]);
    const unsigned b = Sextet(text[i + 1]);
    const unsigned c = Sextet(text[i + 2]);
    const unsigned d = Sextet(text[i + 3]);
    if (((a | b | c | d) & kBad) != 0) return false;
    const uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = static_cast<unsigned char>(v >> 16);
    out[o++] = static_cast<unsigned char>(v >> 8);
    out[o++] = static_cast<unsigned char>(v);
  }
  const size_t rest = text.size() - i;
  if (rest == 2) {
    const unsigned a = Sextet(text[i]);
    const unsigned b = Sextet(text[i + 1]);
    if (((a | b) & kBad) != 0 || (b & 0x0f) != 0) return false;
    out[o++] = static_cast<unsigned char>((a << 2) | (b >> 4));
  } else if (rest == 3) {
    const unsigned a = Sextet(text[i]);
    const unsigned b = Sextet(text[i + 1]);
    const unsigned c = Sextet(text[i + 2]);
    if (((a | b | c) & kBad) != 0 || (c & 0x03) != 0) return false;
    out[o++] = static_cast<unsigned char>((a << 2) | (b >> 4));
    out[o++] = static_cast<unsigned char>(((b & 0x0f) << 4) | (c >> 2));
  }
  return true;
}

// SHA-256 fetched once; the digest context is reused per thread, so that a check allocates nothing.
const EVP_MD* Sha256() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  SG_CHECK(md != nullptr);
  return md;
}

struct DigestCtx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  DigestCtx() { SG_CHECK(ctx != nullptr); }
  ~DigestCtx() { EVP_MD_CTX_free(ctx); }
  DigestCtx(const DigestCtx&) = delete;
  DigestCtx& operator=(const DigestCtx&) = delete;
};

using Mac = std::array<unsigned char, kSha256Bytes>;

// HMAC-SHA256 (RFC 2104) on the EVP digest: OpenSSL 3's one-shot HMAC() looks the algorithm up on
// every call, which alone costs more than the whole check may.
Mac HmacSha256(std::string_view key, std::string_view data) {
  thread_local DigestCtx d;
  const EVP_MD* md = Sha256();
  std::array<unsigned char, kBlockBytes> block{};
  if (key.size() > kBlockBytes) {
    unsigned int n = 0;
    SG_CHECK(EVP_Digest(key.data(), key.size(), block.data(), &n, md, nullptr) == 1);
  } else {
    std::memcpy(block.data(), key.data(), key.size());
  }
  std::array<unsigned char, kBlockBytes> pad{};
  for (size_t i = 0; i < kBlockBytes; ++i) pad[i] = block[i] ^ 0x36;
  Mac inner{};
  unsigned int n = 0;
  SG_CHECK(EVP_DigestInit_ex2(d.ctx, md, nullptr) == 1);
  EVP_DigestUpdate(d.ctx, pad.data(), pad.size());
  EVP_DigestUpdate(d.ctx, data.data(), data.size());
  SG_CHECK(EVP_DigestFinal_ex(d.ctx, inner.data(), &n) == 1);
  for (size_t i = 0; i < kBlockBytes; ++i) pad[i] = block[i] ^ 0x5c;
  Mac outer{};
  SG_CHECK(EVP_DigestInit_ex2(d.ctx, md, nullptr) == 1);
  EVP_DigestUpdate(d.ctx, pad.data(), pad.size());
  EVP_DigestUpdate(d.ctx, inner.data(), inner.size());
  SG_CHECK(EVP_DigestFinal_ex(d.ctx, outer.data(), &n) == 1);
  OPENSSL_cleanse(block.data(), block.size());
  OPENSSL_cleanse(pad.data(), pad.size());
  return outer;
}

bool IsKeyIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool IsKeyIdText(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s)
    if (!IsKeyIdChar(c)) return false;
  return true;
}

bool IsSubjectText(std::string_view s) {
  if (s.size() > kMaxSubject) return false;
  for (char c : s)
    if (!IsKeyIdChar(c) && c != ':') return false;
  return true;
}

bool IsScopeText(std::string_view s) {
  if (s.empty() || s.size() > kMaxScope) return false;
  for (char c : s)
    if (c < 'a' || c > 'z') return false;
  return true;
}

Result<void> CheckSigningKey(const KeyRing& keys, const char* what) {
  const AccessKey* key = keys.Signing();
  if (key == nullptr)
    return Fail(ErrorCode::kFailedPrecondition, fmt::format("no key to sign {} with", what));
  if (!IsKeyIdText(key->id, kMaxKeyId)) {
    return Fail(ErrorCode::kConfig,
                fmt::format("the signing key id '{}' is not 1 to 32 of [A-Za-z0-9_-]", key->id));
  }
  if (key->secret.size() < 32) {
    return Fail(ErrorCode::kConfig,
                fmt::format("the signing key '{}' has {} bytes of secret; it needs at least 32",
                            key->id, key->secret.size()));
  }
  return {};
}

std::string FormatTime(int64_t seconds) {
  std::tm tm{};
  const auto t = static_cast<std::time_t>(seconds);
  if (gmtime_r(&t, &tm) == nullptr) return std::to_string(seconds);
  char buf[32];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

Error Denied(std::string_view what) {
  return Fail(ErrorCode::kPermissionDenied, fmt::format("{}; {}", what, kNewToken));
}

Error CapDenied(std::string_view what) {
  return Fail(ErrorCode::kPermissionDenied, fmt::format("{}; {}", what, kNewUrl));
}

// A JSON integer that fits an int64_t.
std::optional<int64_t> Int64(const nlohmann::json& v) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}

}  // namespace

const AccessKey* KeyRing::Find(std::string_view id) const {
  for (const AccessKey& k : keys_)
    if (k.id == id) return &k;
  return nullptr;
}

bool Claims::HasScope(std::string_view s) const {
  if (s.empty()) return false;
  std::string_view rest = scope;
  while (!rest.empty()) {
    const size_t sp = rest.find(' ');
    if (rest.substr(0, sp) == s) return true;
    if (sp == std::string_view::npos) break;
    rest.remove_prefix(sp + 1);
  }
  return false;
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    const uint32_t v = byte(i) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    const uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out(DecodedSize(text.size()), '\0');
  if (!DecodeInto(text, reinterpret_cast<unsigned char*>(out.data()))) return std::nullopt;
  return out;
}

// --- JWT ----------------------------------------------------------------------------------------

Result<std::string> SignJwt(const KeyRing& keys, const Claims& claims) {
  if (auto ok = CheckSigningKey(keys, "a token"); !ok) return ok.error();
  if (claims.expires <= 0)
    return Fail(ErrorCode::kInvalidArgument, "a token needs an expiry (exp)");
  const AccessKey& key = *keys.Signing();
  const nlohmann::json header = {{"alg", "HS256"}, {"typ", "JWT"}, {"kid", key.id}};
  nlohmann::json body = nlohmann::json::object();
  if (!claims.subject.empty()) body["sub"] = claims.subject;
  if (!claims.scope.empty()) body["scope"] = claims.scope;
  if (!claims.issuer.empty()) body["iss"] = claims.issuer;
  if (claims.issued_at != 0) body["iat"] = claims.issued_at;
  if (claims.not_before != 0) body["nbf"] = claims.not_before;
  body["exp"] = claims.expires;
  if (!claims.id.empty()) body["jti"] = claims.id;
  const auto dump = [](const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  };
  std::string out;
  try {
    out = Base64UrlEncode(dump(header)) + "." + Base64UrlEncode(dump(body));
  } catch (const nlohmann::json::exception&) {
    return Fail(ErrorCode::kInvalidArgument, "a claim is not valid UTF-8");
  }
  const Mac mac = HmacSha256(key.secret, out);
  out += '.';
  out += Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
  return out;
}

Result<Claims> VerifyJwt(const KeyRing& keys, std::string_view token, int64_t now_seconds,
                         std::chrono::seconds leeway) {
  if (token.size() > kMaxJwtBytes) {
    return Denied(fmt::format("the token is {} bytes, more than a token of ours can be ({})",
                              token.size(), kMaxJwtBytes));
  }
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Denied("the token is not a JWT (three base64url parts separated by '.')");
  }
  const std::string_view header_text = token.substr(0, dot1);
  const std::string_view payload_text = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_text = token.substr(dot2 + 1);

  const std::optional<std::string> header_json = Base64UrlDecode(header_text);
  if (!header_json) return Denied("the token's header is not base64url");
  const nlohmann::json header = nlohmann::json::parse(*header_json, nullptr, false);
  if (header.is_discarded() || !header.is_object()) {
    return Denied("the token's header is not a JSON object");
  }
  const auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) return Denied("the token's header names no alg");
  if (alg->get_ref<const std::string&>() != "HS256") {
    return Denied(fmt::format("the token is signed with alg '{}'; only HS256 is accepted",
                              alg->get_ref<const std::string&>()));
  }
  if (header.contains("crit")) {
    return Denied("the token's header has critical extensions (crit), which are not understood");
  }
  if (const auto typ = header.find("typ"); typ != header.end()) {
    if (!typ->is_string() || (typ->get_ref<const std::string&>() != "JWT" &&
                              typ->get_ref<const std::string&>() != "jwt")) {
      return Denied("the token's header has a typ other than JWT");
    }
  }

  const std::optional<std::string> signature = Base64UrlDecode(signature_text);
  if (!signature) return Denied("the token's signature is not base64url");
  const std::string_view signed_part = token.substr(0, dot2);
  auto matches = [&](const AccessKey& key) {
    const Mac mac = HmacSha256(key.secret, signed_part);
    return signature->size() == mac.size() &&
           CRYPTO_memcmp(mac.data(), signature->data(), mac.size()) == 0;
  };
  bool good = false;
  if (const auto kid = header.find("kid"); kid != header.end()) {
    if (!kid->is_string()) return Denied("the token's key id (kid) is not a string");
    const AccessKey* key = keys.Find(kid->get_ref<const std::string&>());
    if (key == nullptr) {
      return Denied(fmt::format("the token was signed with key '{}', which is not in force",
                                kid->get_ref<const std::string&>()));
    }
    good = matches(*key);
  } else {
    for (const AccessKey& key : keys.keys()) good = matches(key) || good;
  }
  if (!good) return Denied("the token's signature does not match");

  const std::optional<std::string> payload_json = Base64UrlDecode(payload_text);
  if (!payload_json) return Denied("the token's claims are not base64url");
  const nlohmann::json payload = nlohmann::json::parse(*payload_json, nullptr, false);
  if (payload.is_discarded() || !payload.is_object()) {
    return Denied("the token's claims are not a JSON object");
  }
  Claims claims;
  struct StringClaim {
    const char* name;
    std::string* out;
  };
  for (const StringClaim& c :
       {StringClaim{"sub", &claims.subject}, StringClaim{"scope", &claims.scope},
        StringClaim{"iss", &claims.issuer}, StringClaim{"jti", &claims.id}}) {
    const auto it = payload.find(c.name);
    if (it == payload.end()) continue;
    if (!it->is_string())
      return Denied(fmt::format("the token's claim '{}' is not a string", c.name));
    *c.out = it->get<std::string>();
  }
  struct TimeClaim {
    const char* name;
    int64_t* out;
  };
  for (const TimeClaim& c :
       {TimeClaim{"iat", &claims.issued_at}, TimeClaim{"nbf", &claims.not_before},
        TimeClaim{"exp", &claims.expires}}) {
    const auto it = payload.find(c.name);
    if (it == payload.end()) continue;
    const std::optional<int64_t> v = Int64(*it);
    if (!v)
      return Denied(fmt::format("the token's claim '{}' is not an integer of seconds", c.name));
    *c.out = *v;
  }
  if (!payload.contains("exp")) return Denied("the token has no expiry (exp)");
  const int64_t slack = leeway.count();
  if (claims.expires <= now_seconds - slack) {
    return Denied(fmt::format("the token expired at {}", FormatTime(claims.expires)));
  }
  if (payload.contains("nbf") && claims.not_before > now_seconds + slack) {
    return Denied(fmt::format("the token is not valid before {}", FormatTime(claims.not_before)));
  }
  return claims;
}

// --- Capabilities -------------------------------------------------------------------------------

Result<std::string> SignCapability(const KeyRing& keys, const Capability& cap) {
  if (auto ok = CheckSigningKey(keys, "a capability"); !ok) return ok.error();
  if (!IsKeyIdText(cap.video, kMaxVideo)) {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("the video id '{}' is not 1 to {} of [A-Za-z0-9_-]", cap.video, kMaxVideo));
  }
  if (!IsScopeText(cap.scope)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("the scope '{}' is not 1 to {} of [a-z]", cap.scope, kMaxScope));
  }
  if (cap.expires <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "a capability needs an expiry after the epoch");
  }
  if (!IsSubjectText(cap.subject)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("the subject '{}' is not up to {} of [A-Za-z0-9:_-]", cap.subject,
                            kMaxSubject));
  }
  const AccessKey& key = *keys.Signing();
  const std::string payload =
      fmt::format("v1.{}.{}.{}.{}.{}", key.id, cap.video, cap.scope, cap.expires, cap.subject);
  SG_CHECK(payload.size() <= kMaxCapPayload);
  const Mac mac = HmacSha256(key.secret, payload);
  return Base64UrlEncode(payload) + "." +
         Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac.data()), kCapTagBytes));
}

Result<Capability> VerifyCapability(const KeyRing& keys, std::string_view token,
                                    std::string_view video, int64_t now_seconds) {
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos || token.size() - dot - 1 != kCapTagChars ||
      dot > kMaxCapPayloadChars || token.find('.', dot + 1) != std::string_view::npos) {
    return CapDenied("the capability is malformed");
  }
  const std::string_view payload_text = token.substr(0, dot);
  std::array<unsigned char, kCapTagBytes> tag{};
  std::array<unsigned char, kMaxCapPayload + 3> payload_bytes{};
  if (payload_text.size() % 4 == 1 || DecodedSize(payload_text.size()) > kMaxCapPayload ||
      !DecodeInto(payload_text, payload_bytes.data()) ||
      !DecodeInto(token.substr(dot + 1), tag.data())) {
    return CapDenied("the capability is not base64url");
  }
  const std::string_view payload(reinterpret_cast<const char*>(payload_bytes.data()),
                                 DecodedSize(payload_text.size()));

  // v1.<kid>.<video>.<scope>.<expires>.<subject>: exactly six fields, none holding a '.'.
  std::array<std::string_view, 6> f;
  size_t start = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    const size_t end = i + 1 == f.size() ? payload.size() : payload.find('.', start);
    if (end == std::string_view::npos) return CapDenied("the capability is malformed");
    f[i] = payload.substr(start, end - start);
    start = end + 1;
  }
  if (f[0] != "v1") return CapDenied("the capability is of an unknown version");
  const AccessKey* key = keys.Find(f[1]);
  if (key == nullptr) return CapDenied("the capability was signed with a key no longer in force");
  const Mac mac = HmacSha256(key->secret, payload);
  if (CRYPTO_memcmp(mac.data(), tag.data(), kCapTagBytes) != 0) {
    return CapDenied("the capability's signature does not match");
  }
  // Signed by us, so well formed; checked again all the same.
  int64_t expires = 0;
  const auto [end, ec] = std::from_chars(f[4].data(), f[4].data() + f[4].size(), expires);
  if (ec != std::errc() || end != f[4].data() + f[4].size() || !IsKeyIdText(f[2], kMaxVideo) ||
      !IsScopeText(f[3]) || !IsSubjectText(f[5]) || expires <= 0) {
    return CapDenied("the capability is malformed");
  }
  if (f[2] != video) return CapDenied("the capability is for another video");
  if (now_seconds >= expires) {
    return CapDenied(fmt::format("the capability expired at {}", FormatTime(expires)));
  }
  return Capability{std::string(f[2]), std::string(f[3]), expires, std::string(f[5])};
}

}  // namespace sg
