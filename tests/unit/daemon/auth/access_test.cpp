// Access tokens: base64url, HS256 JWTs (pinned algorithm, key rotation, times) and playback
// capabilities, including hand-built hostile tokens.
#include "daemon/plugin_api/access.h"

#include <algorithm>
#include <cctype>

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace sg {
namespace {

constexpr int64_t kNow = 1'800'000'000;

KeyRing Ring(std::vector<std::pair<std::string, std::string>> keys) {
  std::vector<AccessKey> out;
  for (auto& [id, secret] : keys) out.push_back({id, secret});
  return KeyRing(std::move(out));
}

const std::string kSecretA(32, 'a');
const std::string kSecretB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

std::string Hs(const std::string& algo, const std::string& secret, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(algo == "HS512" ? EVP_sha512() : EVP_sha256(), secret.data(),
       static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &n);
  return std::string(reinterpret_cast<const char*>(out), n);
}

// A token built by hand from JSON texts, signed with HMAC (algo) or not at all (empty algo).
std::string Build(const std::string& header, const std::string& payload, const std::string& secret,
                  const std::string& algo = "HS256") {
  std::string signing = Base64UrlEncode(header) + "." + Base64UrlEncode(payload);
  return signing + "." + (algo.empty() ? "" : Base64UrlEncode(Hs(algo, secret, signing)));
}

Claims Sample() {
  Claims c;
  c.subject = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23";
  c.scope = "videos:read videos:write";
  c.issuer = "streamgate";
  c.issued_at = kNow - 10;
  c.not_before = kNow - 10;
  c.expires = kNow + 900;
  c.id = "01J0000000000000000000000";
  return c;
}

std::string DeniedMessage(const Result<Claims>& r) {
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kPermissionDenied);
  CHECK_THAT(r.error().message, Catch::Contains("POST /api/v1/auth/token"));
  return r.error().message;
}

std::string CapDenied(const Result<Capability>& r) {
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kPermissionDenied);
  return r.error().message;
}

}  // namespace

TEST_CASE("base64url follows RFC 4648's vectors, unpadded, and decodes strictly", "[access]") {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"}};
  for (const auto& [raw, text] : vectors) {
    CHECK(Base64UrlEncode(raw) == text);
    const auto back = Base64UrlDecode(text);
    REQUIRE(back);
    CHECK(*back == raw);
  }
  for (const char* bad :
       {"Zg==", "Z", "Zh", "Zm9", "Zm9v+", "Zm9v/", "a b", "Zm9v\n", "Zm9vYmF="}) {
    INFO(bad);
    CHECK_FALSE(Base64UrlDecode(bad));
  }
}

TEST_CASE("a JWT round-trips its claims and scopes", "[access][jwt]") {
  const KeyRing keys = Ring({{"k1", kSecretA}});
  const auto token = SignJwt(keys, Sample());
  REQUIRE(token);
  CHECK(std::count(token->begin(), token->end(), '.') == 2);
  const auto header = Base64UrlDecode(token->substr(0, token->find('.')));
  REQUIRE(header);
  CHECK(*header == R"({"alg":"HS256","kid":"k1","typ":"JWT"})");

  const auto claims = VerifyJwt(keys, *token, kNow);
  REQUIRE(claims);
  CHECK(claims->subject == Sample().subject);
  CHECK(claims->scope == Sample().scope);
  CHECK(claims->issuer == "streamgate");
  CHECK(claims->issued_at == kNow - 10);
  CHECK(claims->not_before == kNow - 10);
  CHECK(claims->expires == kNow + 900);
  CHECK(claims->id == Sample().id);
  CHECK(claims->HasScope("videos:write"));
  CHECK(claims->HasScope("videos:read"));
  CHECK_FALSE(claims->HasScope("videos"));
  CHECK_FALSE(claims->HasScope(""));
  CHECK_FALSE(claims->HasScope("videos:read videos:write"));
}

TEST_CASE("HS256 agrees with jwt.io's example, whose only fault is having no exp",
          "[access][jwt]") {
  // The example token of jwt.io, secret "your-256-bit-secret", without kid: any key is tried.
  const std::string token =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
      "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0"
      "IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
  const std::string message = DeniedMessage(
      VerifyJwt(Ring({{"other", kSecretA}, {"io", "your-256-bit-secret"}}), token, kNow));
  CHECK_THAT(message, Catch::Contains("no expiry"));
  CHECK_THAT(DeniedMessage(VerifyJwt(Ring({{"other", kSecretA}}), token, kNow)),
             Catch::Contains("signature does not match"));
}

TEST_CASE("a JWT with another algorithm is refused, alg none first of all", "[access][jwt]") {
  const KeyRing keys = Ring({{"k1", kSecretA}});
  const std::string payload = R"({"sub":"operator","exp":)" + std::to_string(kNow + 60) + "}";
  // alg none: no signature at all, and one with an empty signature part.
  CHECK_THAT(
      DeniedMessage(VerifyJwt(keys, Build(R"({"alg":"none","typ":"JWT"})", payload, "", ""), kNow)),
      Catch::Contains("alg 'none'"));
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, Build(R"({"alg":"None"})", payload, "", ""), kNow)),
             Catch::Contains("only HS256"));
  // HS512 with the right key, RS256 and an HS256 spelled otherwise.
  CHECK_THAT(DeniedMessage(VerifyJwt(
                 keys, Build(R"({"alg":"HS512","kid":"k1"})", payload, kSecretA, "HS512"), kNow)),
             Catch::Contains("alg 'HS512'"));
  CHECK_THAT(DeniedMessage(
                 VerifyJwt(keys, Build(R"({"alg":"RS256","kid":"k1"})", payload, kSecretA), kNow)),
             Catch::Contains("alg 'RS256'"));
  CHECK_THAT(DeniedMessage(
                 VerifyJwt(keys, Build(R"({"alg":"hs256","kid":"k1"})", payload, kSecretA), kNow)),
             Catch::Contains("only HS256"));
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, Build(R"({"kid":"k1"})", payload, kSecretA), kNow)),
             Catch::Contains("no alg"));
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, Build(R"({"alg":["HS256"]})", payload, kSecretA), kNow)),
             Catch::Contains("no alg"));
  // The same header with HS256 passes: the refusals above are the algorithm's.
  CHECK(VerifyJwt(keys, Build(R"({"alg":"HS256","kid":"k1"})", payload, kSecretA), kNow));
}

TEST_CASE("a JWT's header must be an object without crit, and the token well formed",
          "[access][jwt]") {
  const KeyRing keys = Ring({{"k1", kSecretA}});
  const std::string payload = R"({"exp":)" + std::to_string(kNow + 60) + "}";
  const auto good = SignJwt(keys, Sample());
  REQUIRE(good);
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, "abc", kNow)), Catch::Contains("three base64url parts"));
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, "a.b", kNow)), Catch::Contains("three base64url parts"));
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, *good + ".x", kNow)),
             Catch::Contains("three base64url parts"));
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, "", kNow)), Catch::Contains("three base64url parts"));
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, "!!!." + good->substr(good->find('.') + 1), kNow)),
             Catch::Contains("header is not base64url"));
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, Build(R"(["alg","HS256"])", payload, kSecretA), kNow)),
             Catch::Contains("not a JSON object"));
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, Build(R"({"alg":"HS256")", payload, kSecretA), kNow)),
             Catch::Contains("not a JSON object"));
  CHECK_THAT(
      DeniedMessage(VerifyJwt(
          keys, Build(R"({"alg":"HS256","kid":"k1","crit":["exp"]})", payload, kSecretA), kNow)),
      Catch::Contains("crit"));
  CHECK_THAT(
      DeniedMessage(VerifyJwt(
          keys, Build(R"({"alg":"HS256","kid":"k1","typ":"JWE"})", payload, kSecretA), kNow)),
      Catch::Contains("typ"));
  CHECK_THAT(
      DeniedMessage(VerifyJwt(keys, Build(R"({"alg":"HS256","kid":7})", payload, kSecretA), kNow)),
      Catch::Contains("kid"));
  // Claims that are not an object, or of the wrong types, behind a good signature.
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, Build(R"({"alg":"HS256"})", "[1]", kSecretA), kNow)),
             Catch::Contains("claims are not a JSON object"));
  CHECK_THAT(
      DeniedMessage(VerifyJwt(
          keys, Build(R"({"alg":"HS256"})", R"({"sub":1,"exp":9999999999})", kSecretA), kNow)),
      Catch::Contains("'sub' is not a string"));
  // Oversized: refused before any parsing.
  const std::string big =
      Build(R"({"alg":"HS256"})", R"({"exp":9999999999,"pad":")" + std::string(9000, 'x') + "\"}",
            kSecretA);
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, big, kNow)), Catch::Contains("bytes, more than"));
}

TEST_CASE("a JWT signed with a wrong or unknown key, or altered, is refused", "[access][jwt]") {
  const KeyRing keys = Ring({{"k1", kSecretA}});
  const auto token = SignJwt(keys, Sample());
  REQUIRE(token);
  // Same kid, other secret.
  CHECK_THAT(DeniedMessage(VerifyJwt(Ring({{"k1", kSecretB}}), *token, kNow)),
             Catch::Contains("signature does not match"));
  // A kid not in the ring.
  CHECK_THAT(DeniedMessage(VerifyJwt(Ring({{"k2", kSecretA}}), *token, kNow)),
             Catch::Contains("key 'k1', which is not in force"));
  CHECK_THAT(DeniedMessage(VerifyJwt(KeyRing(), *token, kNow)), Catch::Contains("not in force"));

  // Tampered payload: another subject under the old signature.
  const size_t d1 = token->find('.');
  const size_t d2 = token->find('.', d1 + 1);
  Claims other = Sample();
  other.subject = "operator";
  const auto forged = SignJwt(Ring({{"k1", kSecretB}}), other);
  REQUIRE(forged);
  const size_t f1 = forged->find('.');
  const size_t f2 = forged->find('.', f1 + 1);
  const std::string swapped =
      token->substr(0, d1) + forged->substr(f1, f2 - f1) + token->substr(d2);
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, swapped, kNow)),
             Catch::Contains("signature does not match"));

  // Tampered signature: each character flipped in turn, a truncated one, an extended one.
  std::string sig = token->substr(d2 + 1);
  for (size_t i = 0; i < sig.size(); ++i) {
    std::string t = *token;
    t[d2 + 1 + i] = t[d2 + 1 + i] == 'A' ? 'B' : 'A';
    INFO(i);
    CHECK_FALSE(VerifyJwt(keys, t, kNow));
  }
  CHECK_FALSE(VerifyJwt(keys, token->substr(0, token->size() - 2), kNow));
  CHECK_FALSE(VerifyJwt(keys, *token + "AA", kNow));
  CHECK_FALSE(VerifyJwt(keys, token->substr(0, d2 + 1), kNow));
}

TEST_CASE("a JWT's exp and nbf are enforced with the leeway", "[access][jwt]") {
  const KeyRing keys = Ring({{"k1", kSecretA}});
  Claims c = Sample();
  c.expires = kNow;
  c.not_before = 0;
  auto token = SignJwt(keys, c);
  REQUIRE(token);
  CHECK(VerifyJwt(keys, *token, kNow + 29));
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, *token, kNow + 30)),
             Catch::Contains("the token expired at 2027-01-15T08:00:00Z"));
  CHECK_FALSE(VerifyJwt(keys, *token, kNow + 1, std::chrono::seconds(0)));

  c = Sample();
  c.not_before = kNow + 100;
  token = SignJwt(keys, c);
  REQUIRE(token);
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, *token, kNow)), Catch::Contains("not valid before"));
  CHECK(VerifyJwt(keys, *token, kNow + 70));

  // exp missing, a float, a string, too large; nbf not an integer.
  const std::string h = R"({"alg":"HS256","kid":"k1"})";
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, Build(h, R"({"sub":"x"})", kSecretA), kNow)),
             Catch::Contains("no expiry (exp)"));
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, Build(h, R"({"exp":1900000000.5})", kSecretA), kNow)),
             Catch::Contains("'exp' is not an integer"));
  CHECK_THAT(DeniedMessage(VerifyJwt(keys, Build(h, R"({"exp":"1900000000"})", kSecretA), kNow)),
             Catch::Contains("'exp' is not an integer"));
  CHECK_THAT(
      DeniedMessage(VerifyJwt(keys, Build(h, R"({"exp":18446744073709551615})", kSecretA), kNow)),
      Catch::Contains("'exp' is not an integer"));
  CHECK_THAT(
      DeniedMessage(VerifyJwt(keys, Build(h, R"({"exp":1900000000,"nbf":null})", kSecretA), kNow)),
      Catch::Contains("'nbf' is not an integer"));
  CHECK(VerifyJwt(keys, Build(h, R"({"exp":1900000000})", kSecretA), kNow));

  // Signing needs an expiry and a usable key.
  c = Sample();
  c.expires = 0;
  CHECK(SignJwt(keys, c).error().code == ErrorCode::kInvalidArgument);
  CHECK(SignJwt(KeyRing(), Sample()).error().code == ErrorCode::kFailedPrecondition);
  CHECK(SignJwt(Ring({{"k1", "short"}}), Sample()).error().code == ErrorCode::kConfig);
  CHECK(SignJwt(Ring({{"k.1", kSecretA}}), Sample()).error().code == ErrorCode::kConfig);
}

TEST_CASE("key rotation: tokens of the old key verify while it stays in the ring",
          "[access][jwt]") {
  const KeyRing old_ring = Ring({{"2026-11", kSecretA}});
  const KeyRing new_ring = Ring({{"2026-12", kSecretB}, {"2026-11", kSecretA}});
  const KeyRing retired = Ring({{"2026-12", kSecretB}});
  const auto old_token = SignJwt(old_ring, Sample());
  const auto new_token = SignJwt(new_ring, Sample());
  REQUIRE(old_token);
  REQUIRE(new_token);
  CHECK(VerifyJwt(new_ring, *old_token, kNow));
  CHECK(VerifyJwt(new_ring, *new_token, kNow));
  CHECK(VerifyJwt(retired, *new_token, kNow));
  CHECK_THAT(DeniedMessage(VerifyJwt(retired, *old_token, kNow)), Catch::Contains("'2026-11'"));
  CHECK_FALSE(VerifyJwt(old_ring, *new_token, kNow));

  Capability cap{"01JDXV0000VIDEO000000000000", "play", kNow + 60, "key:ci"};
  const auto old_cap = SignCapability(old_ring, cap);
  REQUIRE(old_cap);
  CHECK(VerifyCapability(new_ring, *old_cap, cap.video, kNow));
  CHECK_FALSE(VerifyCapability(retired, *old_cap, cap.video, kNow));
}

TEST_CASE("a capability round-trips, path-safe, and holds to its video and expiry",
          "[access][capability]") {
  const KeyRing keys = Ring({{"k1", kSecretA}});
  const Capability cap{"01JDXV0000VIDEO000000000000", "play", kNow + 3600,
                       "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"};
  const auto token = SignCapability(keys, cap);
  REQUIRE(token);
  for (char c : *token) {
    INFO(c);
    CHECK((std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'));
  }
  CHECK(std::count(token->begin(), token->end(), '.') == 1);

  const auto back = VerifyCapability(keys, *token, cap.video, kNow);
  REQUIRE(back);
  CHECK(back->video == cap.video);
  CHECK(back->scope == "play");
  CHECK(back->expires == cap.expires);
  CHECK(back->subject == cap.subject);

  // An empty subject is fine.
  const auto anonymous = SignCapability(keys, {cap.video, "play", kNow + 60, ""});
  REQUIRE(anonymous);
  const auto anon = VerifyCapability(keys, *anonymous, cap.video, kNow);
  REQUIRE(anon);
  CHECK(anon->subject.empty());

  CHECK_THAT(CapDenied(VerifyCapability(keys, *token, "01JDXV0000OTHER000000000000", kNow)),
             Catch::Contains("for another video"));
  CHECK_THAT(CapDenied(VerifyCapability(keys, *token, cap.video, kNow + 3600)),
             Catch::Contains("expired"));
  CHECK(VerifyCapability(keys, *token, cap.video, kNow + 3599));
}

TEST_CASE("a tampered, foreign, truncated or garbage capability is refused",
          "[access][capability]") {
  const KeyRing keys = Ring({{"k1", kSecretA}});
  const Capability cap{"vid1", "play", kNow + 3600, "key:abc"};
  const auto token = SignCapability(keys, cap);
  REQUIRE(token);
  // Every single-character change.
  for (size_t i = 0; i < token->size(); ++i) {
    for (char c : {'A', 'z', '-', '.'}) {
      std::string t = *token;
      if (t[i] == c) continue;
      t[i] = c;
      INFO(t);
      CHECK_FALSE(VerifyCapability(keys, t, cap.video, kNow));
    }
  }
  // Another key under the same id, an unknown id.
  CHECK_THAT(CapDenied(VerifyCapability(Ring({{"k1", kSecretB}}), *token, cap.video, kNow)),
             Catch::Contains("signature does not match"));
  CHECK_THAT(CapDenied(VerifyCapability(Ring({{"k2", kSecretA}}), *token, cap.video, kNow)),
             Catch::Contains("no longer in force"));
  // Truncated anywhere, extended, garbage.
  for (size_t n = 0; n < token->size(); ++n) {
    INFO(n);
    CHECK_FALSE(VerifyCapability(keys, token->substr(0, n), cap.video, kNow));
  }
  CHECK_FALSE(VerifyCapability(keys, *token + "A", cap.video, kNow));
  for (const char* garbage :
       {"", ".", "..", "x.y", "v1.k1.vid1.play.1.x", "%%%%.AAAAAAAAAAAAAAAAAAAAAA", "\xff\xfe.\x01",
        "AAAA.AAAAAAAAAAAAAAAAAAAAAA"}) {
    INFO(garbage);
    CHECK_FALSE(VerifyCapability(keys, garbage, cap.video, kNow));
  }
  CHECK_FALSE(VerifyCapability(keys, std::string(100000, 'A') + ".AAAAAAAAAAAAAAAAAAAAAA",
                               cap.video, kNow));
  // A payload we signed ourselves but with another version or a separator too many is refused.
  const std::string tag16(16, '\0');
  CHECK_FALSE(VerifyCapability(
      keys, Base64UrlEncode("v2.k1.vid1.play.9999999999.") + "." + Base64UrlEncode(tag16), "vid1",
      kNow));
}

TEST_CASE("capability fields cannot carry the separator or leave their sets",
          "[access][capability]") {
  const KeyRing keys = Ring({{"k1", kSecretA}});
  auto bad = [&](Capability c) {
    const auto r = SignCapability(keys, c);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
  };
  bad({"vid.1", "play", kNow + 1, ""});
  bad({"", "play", kNow + 1, ""});
  bad({std::string(65, 'v'), "play", kNow + 1, ""});
  bad({"vid/1", "play", kNow + 1, ""});
  bad({"vid1", "pl.ay", kNow + 1, ""});
  bad({"vid1", "", kNow + 1, ""});
  bad({"vid1", "play", 0, ""});
  bad({"vid1", "play", -5, ""});
  bad({"vid1", "play", kNow + 1, "a.b"});
  bad({"vid1", "play", kNow + 1, "a b"});
  bad({"vid1", "play", kNow + 1, std::string(129, 's')});
  CHECK(SignCapability(KeyRing(), {"vid1", "play", kNow + 1, ""}).error().code ==
        ErrorCode::kFailedPrecondition);
  CHECK(SignCapability(keys, {"vid1", "download", kNow + 1, std::string(128, 's')}));
}

}  // namespace sg
