// The auth plugin through the real daemon and the real CLI: API keys made and revoked over the
// control socket, exchanged for tokens at POST /api/v1/auth/token, tokens guarding the write
// routes, owners and private videos, signing-key rotation, and the hostile tokens.
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include "daemon/plugin_api/access.h"
#include "tests/support/daemon_fixture.h"
#include "tests/support/http_client.h"

namespace sg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::vector<std::string> kSecure = {
    "auth.required=true",
    "plugins.enabled=[api-gateway,cache,monitor,metadata,worker,upload,auth]"};

std::optional<HttpReply> Http(uint16_t port, const std::string& method, const std::string& target,
                              const std::string& headers = "", const std::string& body = "") {
  HttpConnection c(port);
  c.Send(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  return c.Read(15s);
}

std::string Bearer(const std::string& token) { return "Authorization: Bearer " + token + "\r\n"; }

const std::string kTus = "Tus-Resumable: 1.0.0\r\n";

// Creates a 5-byte upload; the reply.
std::optional<HttpReply> CreateUpload(uint16_t port, const std::string& headers) {
  return Http(port, "POST", "/api/v1/uploads", kTus + "Upload-Length: 5\r\n" + headers);
}

std::string VideoIdOf(const HttpReply& r) {
  const std::string location(r.headers["Location"]);
  return location.substr(location.rfind('/') + 1);
}

std::string Exchange(uint16_t port, const std::string& key) {
  auto r = Http(port, "POST", "/api/v1/auth/token", Bearer(key));
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == 200);
  return json::parse(r->body).at("token").get<std::string>();
}

}  // namespace

TEST_CASE("writes need a token; API keys from the CLI buy tokens, revoked keys do not", "[auth]") {
  RunningDaemon d(kSecure);

  // No token: 401 that says how to get one.
  auto anonymous = CreateUpload(d.port, "");
  REQUIRE(anonymous);
  CHECK(anonymous->status == 401);
  CHECK(std::string(anonymous->headers["WWW-Authenticate"]).starts_with("Bearer "));
  CHECK(Contains(anonymous->body, "streamgate auth token"));

  // The keys file was made at start, private to the daemon's user.
  struct stat st {};
  REQUIRE(::stat((d.dir.path() + "/auth-keys.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  // A key, printed once on stdout; the list never shows it.
  auto made = d.Cli({"auth", "keys", "create", "--name", "ci", "--owner", "alice"});
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  const std::string key = made.out.substr(0, made.out.find('\n'));
  CHECK(key.starts_with("sgk_"));
  auto listed = d.Cli({"--json", "auth", "keys", "list"});
  REQUIRE(listed.exit_code == 0);
  CHECK_FALSE(Contains(listed.out, key));
  const json keys = json::parse(listed.out).at("keys");
  REQUIRE(keys.size() == 1);
  CHECK(keys[0].at("owner") == "alice");
  const std::string key_id = keys[0].at("id");

  // Exchanged for a token, which creates uploads owned by the key's owner.
  const std::string token = Exchange(d.port, key);
  auto created = CreateUpload(d.port, Bearer(token));
  REQUIRE(created);
  INFO(created->body);
  REQUIRE(created->status == 201);
  const std::string video = VideoIdOf(*created);
  auto shown = Http(d.port, "GET", "/api/v1/videos/" + video);
  REQUIRE(shown);
  CHECK(json::parse(shown->body).value("owner", "") == "alice");

  // A wrong key, a malformed one, and no key at all are 401 and counted.
  auto wrong = Http(d.port, "POST", "/api/v1/auth/token",
                    Bearer(key.substr(0, key.size() - 2) + (key.back() == 'A' ? "BB" : "AA")));
  REQUIRE(wrong);
  CHECK(wrong->status == 401);
  auto garbage = Http(d.port, "POST", "/api/v1/auth/token", "Content-Type: application/json\r\n",
                      std::string("{\"api_key\": [1,2,{\"x\":") + std::string(3000, '[') + "}");
  REQUIRE(garbage);
  CHECK(garbage->status == 400);

  // Revoked: no new token; the list says when.
  auto revoked = d.Cli({"auth", "keys", "revoke", key_id});
  REQUIRE(revoked.exit_code == 0);
  auto refused = Http(d.port, "POST", "/api/v1/auth/token", Bearer(key));
  REQUIRE(refused);
  CHECK(refused->status == 401);
  CHECK(Contains(refused->body, "revoked"));
  CHECK(d.Cli({"auth", "keys", "revoke", "0123456789"}).exit_code == 5);

  // A key for another owner may not change alice's video; the operator may.
  auto bob_made = d.Cli({"auth", "keys", "create", "--name", "bob", "--owner", "bob"});
  REQUIRE(bob_made.exit_code == 0);
  const std::string bob = Exchange(d.port, bob_made.out.substr(0, bob_made.out.find('\n')));
  auto edit = Http(d.port, "PATCH", "/api/v1/videos/" + video,
                   Bearer(bob) + "Content-Type: application/json\r\n", R"({"title":"mine"})");
  REQUIRE(edit);
  CHECK(edit->status == 403);
  auto operator_token = d.Cli({"auth", "token"});
  REQUIRE(operator_token.exit_code == 0);
  const std::string op = operator_token.out.substr(0, operator_token.out.find('\n'));
  auto op_edit = Http(d.port, "PATCH", "/api/v1/videos/" + video,
                      Bearer(op) + "Content-Type: application/json\r\n", R"({"title":"ours"})");
  REQUIRE(op_edit);
  CHECK(op_edit->status == 200);

  // A read-only key cannot write.
  auto reader = d.Cli({"auth", "keys", "create", "--name", "viewer", "--scope", "videos:read"});
  REQUIRE(reader.exit_code == 0);
  const std::string read_token = Exchange(d.port, reader.out.substr(0, reader.out.find('\n')));
  auto read_only = CreateUpload(d.port, Bearer(read_token));
  REQUIRE(read_only);
  CHECK(read_only->status == 403);

  // The counts, by method and by reason.
  HttpConnection m(d.metrics_port);
  auto metrics = m.Request("GET", "/metrics");
  REQUIRE(metrics);
  CHECK(Contains(metrics->body, "streamgate_auth_tokens_issued_total{method=\"api_key\"} 3"));
  CHECK(Contains(metrics->body, "streamgate_auth_refused_total{reason=\"revoked\"} 1"));
  CHECK(Contains(metrics->body, "streamgate_upload_failures_total{reason=\"unauthorized\"}"));
}

TEST_CASE("hostile tokens are refused: none, tampered, another key, expired, alg none", "[auth]") {
  RunningDaemon d(kSecure);
  auto issued = d.Cli({"auth", "token"});
  REQUIRE(issued.exit_code == 0);
  const std::string token = issued.out.substr(0, issued.out.find('\n'));
  const auto dot = token.find('.');
  const std::string header = token.substr(0, dot);

  // A key that is not the daemon's, and the claims of an expired token.
  KeyRing other({{"kx", std::string(32, 'x')}});
  Claims claims;
  claims.subject = "operator";
  claims.scope = "videos:write";
  claims.issued_at = 1;
  claims.expires = 2000000000;
  auto forged = SignJwt(other, claims);
  REQUIRE(forged);

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"tampered payload",
       header + "." +
           Base64UrlEncode(R"({"sub":"operator","scope":"videos:write","exp":2000000000})") +
           token.substr(token.rfind('.'))},
      {"alg none",
       Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." +
           Base64UrlEncode(R"({"sub":"operator","scope":"videos:write","exp":2000000000})") + "."},
      {"another key", *forged},
      {"garbage", std::string(5000, 'A')},
      {"two parts", "abc.def"},
  };
  for (const auto& [what, t] : bad) {
    INFO(what);
    auto r = CreateUpload(d.port, Bearer(t));
    REQUIRE(r);
    CHECK(r->status == 401);
    CHECK(Contains(r->body, "invalid_token"));
  }
  // The real one works, and the daemon still serves.
  auto good = CreateUpload(d.port, Bearer(token));
  REQUIRE(good);
  CHECK(good->status == 201);
}

TEST_CASE("private videos: hidden from others, shown to their owner; rotation keeps old tokens",
          "[auth]") {
  RunningDaemon d(kSecure);
  const auto first = d.Cli({"auth", "token"});
  REQUIRE(first.exit_code == 0);
  const std::string op = first.out.substr(0, first.out.find('\n'));
  auto created = CreateUpload(
      d.port, Bearer(op) + "Upload-Metadata: visibility cHJpdmF0ZQ==,title c2VjcmV0\r\n");
  REQUIRE(created);
  REQUIRE(created->status == 201);
  const std::string video = VideoIdOf(*created);

  auto as_anyone = Http(d.port, "GET", "/api/v1/videos/" + video);
  REQUIRE(as_anyone);
  CHECK(as_anyone->status == 404);
  auto listed = Http(d.port, "GET", "/api/v1/videos");
  REQUIRE(listed);
  CHECK_FALSE(Contains(listed->body, video));
  auto as_owner = Http(d.port, "GET", "/api/v1/videos/" + video, Bearer(op));
  REQUIRE(as_owner);
  CHECK(as_owner->status == 200);

  // Rotate: the old token still works for the overlap; new tokens use the new key.
  auto rotated = d.Cli({"--json", "auth", "rotate"});
  INFO(rotated.err);
  REQUIRE(rotated.exit_code == 0);
  const std::string kid = json::parse(rotated.out).at("signing_key");
  auto still = CreateUpload(d.port, Bearer(op));
  REQUIRE(still);
  CHECK(still->status == 201);
  const auto second = d.Cli({"auth", "token"});
  REQUIRE(second.exit_code == 0);
  const std::string fresh = second.out.substr(0, second.out.find('\n'));
  const json head = json::parse(*Base64UrlDecode(fresh.substr(0, fresh.find('.'))));
  CHECK(head.at("kid") == kid);
  auto with_new = CreateUpload(d.port, Bearer(fresh));
  REQUIRE(with_new);
  CHECK(with_new->status == 201);
}

TEST_CASE("the CLI uploads with the operator's token by itself", "[auth]") {
  RunningDaemon d(kSecure);
  const std::string file = d.dir.Write("clip.bin", std::string(1000, 'v'));
  auto up = d.Cli({"upload", file, "--title", "mine"});
  INFO(up.err);
  CHECK(up.exit_code == 0);
  auto refused = d.Cli({"upload", file, "--token", "not-a-token", "--no-resume"});
  CHECK(refused.exit_code != 0);
  CHECK(Contains(refused.err, "401"));
}

}  // namespace sg::test
