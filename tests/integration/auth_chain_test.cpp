// Sign-In with Ethereum and token-gated playback through the real daemon, against a real local
// chain (tests/peers/chain/chain.mjs: ganache with an ERC-721, an ERC-1155 and an EIP-1271 wallet):
// holders play, others do not, a transfer takes effect within web3.ownership_ttl, a chain that is
// gone refuses (503, never allows), and the hostile messages and signatures are refused. Then a
// differential test of signer recovery against ethers. Exits 77 (skipped) without node or the
// chain peer's node_modules (scripts/install-deps.sh --test installs them).
#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "daemon/plugins/auth/ethereum.h"
#include "tests/support/daemon_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/tools.h"

namespace sg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kChainDir = SG_SOURCE_DIR "/tests/peers/chain";

std::string Node() {
  const std::string node = Tool("node");
  if (!std::filesystem::exists(kChainDir + "/node_modules")) {
    std::cerr << "skipped: tests/peers/chain/node_modules is missing; scripts/install-deps.sh "
                 "--test installs it\n";
    std::exit(77);
  }
  return node;
}

// One chain.mjs subcommand: its JSON line.
json Chain(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 60s) {
  std::vector<std::string> argv = {Node(), kChainDir + "/chain.mjs"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = Run(argv, {}, timeout);
  INFO("chain.mjs " << args.front() << ": " << r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

// ganache on a free port of 127.0.0.1, stopped with the test.
struct Ganache {
  Ganache()
      : process({Node(), kChainDir + "/chain.mjs", "serve", "--port", std::to_string(port)}, dir) {
    INFO(process.Stderr());
    REQUIRE(WaitFor([&] { return process.Stdout().find("}\n") != std::string::npos; }, 60s));
    served = json::parse(process.Stdout().substr(0, process.Stdout().find('\n')));
  }
  std::string Key(int i) const { return served.at("accounts").at(i).at("key"); }
  std::string Address(int i) const { return served.at("accounts").at(i).at("address"); }
  std::string Rpc() const { return served.at("rpc"); }

  TempDir dir;
  uint16_t port = FreePort();
  Process process;
  json served;
};

std::optional<HttpReply> Http(uint16_t port, const std::string& method, const std::string& target,
                              const std::string& headers = "", const std::string& body = "") {
  HttpConnection c(port);
  c.Send(method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n" + headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  return c.Read(15s);
}

std::string Bearer(const std::string& token) { return "Authorization: Bearer " + token + "\r\n"; }

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// An RFC 3339 time `offset` from now.
std::string IsoTime(std::chrono::seconds offset) {
  const std::time_t t = std::time(nullptr) + offset.count();
  std::tm tm{};
  gmtime_r(&t, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

std::string NewNonce(uint16_t port) {
  auto r = Http(port, "GET", "/api/v1/auth/siwe/nonce");
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == 200);
  const std::string nonce = json::parse(r->body).at("nonce");
  CHECK(nonce.size() >= 16);
  return nonce;
}

// A SIWE message for the daemon, signed with `key`; `extra` adds or overrides chain.mjs options.
json Signed(uint16_t port, const std::string& key, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"siwe",    "--key",       key, "--uri", "http://localhost/login",
                                   "--nonce", NewNonce(port)};
  const auto has = [&](const std::string& option) {
    return std::find(extra.begin(), extra.end(), option) != extra.end();
  };
  if (!has("--domain")) args.insert(args.end(), {"--domain", "localhost"});
  if (!has("--chain-id")) args.insert(args.end(), {"--chain-id", "1337"});
  args.insert(args.end(), extra.begin(), extra.end());
  return Chain(args);
}

HttpReply Verify(uint16_t port, const std::string& message, const std::string& signature) {
  const json body = {{"message", message}, {"signature", signature}};
  auto r = Http(port, "POST", "/api/v1/auth/siwe/verify", "Content-Type: application/json\r\n",
                body.dump());
  REQUIRE(r);
  return *r;
}

std::string SignIn(uint16_t port, const std::string& key) {
  const json s = Signed(port, key);
  const HttpReply r = Verify(port, s.at("message"), s.at("signature"));
  INFO(r.body);
  REQUIRE(r.status == 200);
  return json::parse(r.body).at("token");
}

unsigned PlaybackStatus(uint16_t port, const std::string& video, const std::string& token) {
  auto r = Http(port, "GET", "/api/v1/videos/" + video + "/playback", Bearer(token));
  return r ? r->status : 0;
}

// The same signature with s' = n - s and v flipped: valid for secp256k1, refused by EIP-2.
std::string HighS(const std::string& signature) {
  auto bytes = sg::plugins::eth::FromHex(signature);
  REQUIRE(bytes);
  static const std::string kOrder = *sg::plugins::eth::FromHex(
      "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int d = static_cast<uint8_t>(kOrder[i]) - static_cast<uint8_t>((*bytes)[32 + i]) - borrow;
    borrow = d < 0 ? 1 : 0;
    (*bytes)[32 + i] = static_cast<char>(d & 0xff);
  }
  (*bytes)[64] = static_cast<char>((*bytes)[64] == 27 ? 28 : 27);
  return "0x" + sg::plugins::eth::ToHex(*bytes);
}

}  // namespace

TEST_CASE("Sign-In with Ethereum and gated playback against a local chain", "[auth][chain]") {
  Ganache chain;
  const json deployed = Chain({"deploy", "--rpc", chain.Rpc()}, 240s);
  const std::string erc721 = deployed.at("erc721");
  const std::string wallet = deployed.at("wallet");

  RunningDaemon d(
      {"auth.required=true",
       "plugins.enabled=[api-gateway,cache,monitor,metadata,worker,upload,streaming,auth]",
       "web3.ethereum_rpc=" + chain.Rpc(), "web3.chain_id=1337", "web3.gate_contract=" + erc721,
       "web3.ownership_ttl=1s", "web3.rpc_timeout=1s", "auth.siwe_domain=localhost"});

  // A gated video, uploaded by the operator.
  const auto op = d.Cli({"auth", "token"});
  REQUIRE(op.exit_code == 0);
  const std::string op_token = op.out.substr(0, op.out.find('\n'));
  auto created = Http(d.port, "POST", "/api/v1/uploads",
                      Bearer(op_token) +
                          "Tus-Resumable: 1.0.0\r\nUpload-Length: 5\r\n"
                          "Upload-Metadata: visibility Z2F0ZWQ=\r\n");
  REQUIRE(created);
  INFO(created->body);
  REQUIRE(created->status == 201);
  const std::string location(created->headers["Location"]);
  const std::string video = location.substr(location.rfind('/') + 1);

  SECTION("hostile messages and signatures are refused, saying what to do") {
    // Another domain, another chain, an expired message: 401 before the nonce is spent.
    for (const auto& [what, extra, code] :
         std::vector<std::tuple<std::string, std::vector<std::string>, std::string>>{
             {"domain", {"--domain", "evil.example"}, "bad_message"},
             {"chain", {"--chain-id", "1"}, "bad_message"},
             {"expired",
              {"--issued-at", IsoTime(-120s), "--expiration", IsoTime(-60s)},
              "expired"}}) {
      INFO(what);
      const json s = Signed(d.port, chain.Key(1), extra);
      const HttpReply r = Verify(d.port, s.at("message"), s.at("signature"));
      INFO(r.body);
      CHECK(r.status == 401);
      CHECK(json::parse(r.body).contains("hint"));
      CHECK(Contains(r.body, code));
      CHECK(Contains(r.body, "GET /api/v1/auth/siwe/nonce"));
    }
    // Bad signatures: a byte short, s in the upper half (EIP-2), v = 29.
    for (const auto& [what, mangle, says] : std::vector<
             std::tuple<std::string, std::function<std::string(const std::string&)>, std::string>>{
             {"short", [](const std::string& sig) { return sig.substr(0, sig.size() - 2); }, "65"},
             {"high s", [](const std::string& sig) { return HighS(sig); }, "upper half"},
             {"v 29", [](const std::string& sig) { return sig.substr(0, sig.size() - 2) + "1d"; },
              "29"}}) {
      INFO(what);
      const json s = Signed(d.port, chain.Key(1));
      const HttpReply r = Verify(d.port, s.at("message"), mangle(s.at("signature")));
      INFO(r.body);
      CHECK((r.status == 400 || r.status == 401));
      CHECK(Contains(r.body, "bad_signature"));
      CHECK(Contains(r.body, says));
    }
    // Another key's signature of a message for account 1.
    const json other = Signed(d.port, chain.Key(2), {"--address", chain.Address(1)});
    const HttpReply mismatch = Verify(d.port, other.at("message"), other.at("signature"));
    CHECK(mismatch.status == 401);
    CHECK(Contains(mismatch.body, "not by"));
    // A nonce the daemon never gave, and one used twice.
    const json made_up =
        Chain({"siwe", "--key", chain.Key(1), "--domain", "localhost", "--uri",
               "http://localhost/login", "--chain-id", "1337", "--nonce", "abcdefgh12345678"});
    CHECK(Verify(d.port, made_up.at("message"), made_up.at("signature")).status == 401);
    const json once = Signed(d.port, chain.Key(1));
    CHECK(Verify(d.port, once.at("message"), once.at("signature")).status == 200);
    const HttpReply replay = Verify(d.port, once.at("message"), once.at("signature"));
    CHECK(replay.status == 401);
    CHECK(Contains(replay.body, "nonce unknown, expired or used"));
    // Not JSON, or too big.
    auto junk = Http(d.port, "POST", "/api/v1/auth/siwe/verify", "", "{\"message\": 1}");
    REQUIRE(junk);
    CHECK(junk->status == 400);
    auto big = Http(d.port, "POST", "/api/v1/auth/siwe/verify", "", std::string(9000, ' '));
    REQUIRE(big);
    CHECK(big->status == 413);
  }

  SECTION("a video with a gate of its own: holders of that token play, the default's do not") {
    const std::string erc1155 = deployed.at("erc1155");
    const std::string body = R"({"gate": "erc1155:)" + erc1155 + R"(:7"})";
    auto patched = Http(d.port, "PATCH", "/api/v1/videos/" + video,
                        Bearer(op_token) + "Content-Type: application/json\r\n", body);
    REQUIRE(patched);
    INFO(patched->body);
    REQUIRE(patched->status == 200);
    CHECK(json::parse(patched->body).at("gate") == "erc1155:" + Lower(erc1155) + ":7");
    // Account 2 holds ERC-1155 id 7; account 1 holds the default gate's ERC-721 token only.
    CHECK(PlaybackStatus(d.port, video, SignIn(d.port, chain.Key(2))) == 200);
    CHECK(PlaybackStatus(d.port, video, SignIn(d.port, chain.Key(1))) == 403);
    // A bad gate is refused naming the field; null gives the default gate back.
    auto bad =
        Http(d.port, "PATCH", "/api/v1/videos/" + video,
             Bearer(op_token) + "Content-Type: application/json\r\n", R"({"gate": "erc20:0x12"})");
    REQUIRE(bad);
    CHECK(bad->status == 400);
    CHECK(Contains(bad->body, "\"field\":\"gate\""));
    auto cleared =
        Http(d.port, "PATCH", "/api/v1/videos/" + video,
             Bearer(op_token) + "Content-Type: application/json\r\n", R"({"gate": null})");
    REQUIRE(cleared);
    CHECK(cleared->status == 200);
    CHECK(WaitFor(
        [&] { return PlaybackStatus(d.port, video, SignIn(d.port, chain.Key(1))) == 200; }, 10s));
  }

  SECTION("a contract wallet signs in through EIP-1271") {
    const json s = Signed(d.port, chain.Key(3), {"--address", wallet});
    const HttpReply r = Verify(d.port, s.at("message"), s.at("signature"));
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(Lower(json::parse(r.body).at("address")) == Lower(wallet));
    // Not the owner's key: refused.
    const json stranger = Signed(d.port, chain.Key(2), {"--address", wallet});
    CHECK(Verify(d.port, stranger.at("message"), stranger.at("signature")).status == 401);
  }

  SECTION("holders play, others do not; a transfer and a chain outage take effect") {
    const std::string holder = SignIn(d.port, chain.Key(1));
    auto played = Http(d.port, "GET", "/api/v1/videos/" + video + "/playback", Bearer(holder));
    REQUIRE(played);
    INFO(played->body);
    REQUIRE(played->status == 200);
    const std::string hls = json::parse(played->body).at("hls");
    CHECK(hls.starts_with("/p/"));
    // The capability passes the streaming route's check (the video is not transcoded).
    auto streamed = Http(d.port, "GET", hls);
    REQUIRE(streamed);
    INFO(streamed->body);
    CHECK(streamed->status != 401);
    CHECK(streamed->status != 403);

    const std::string stranger = SignIn(d.port, chain.Key(2));
    auto refused = Http(d.port, "GET", "/api/v1/videos/" + video + "/playback", Bearer(stranger));
    REQUIRE(refused);
    CHECK(refused->status == 403);
    CHECK(Contains(refused->body, "not_holder"));
    CHECK(PlaybackStatus(d.port, video, "") == 403);

    // Token 1 goes to account 4: within web3.ownership_ttl the old holder is refused.
    Chain({"transfer", "--rpc", chain.Rpc(), "--contract", erc721, "--key", chain.Key(1), "--to",
           chain.Address(4), "--token", "1"});
    CHECK(WaitFor([&] { return PlaybackStatus(d.port, video, holder) == 403; }, 20s));
    const std::string buyer = SignIn(d.port, chain.Key(4));
    CHECK(PlaybackStatus(d.port, video, buyer) == 200);

    // The chain goes away: once the cached answers expire, 503, never 200.
    chain.process.Signal(SIGTERM);
    REQUIRE(chain.process.Wait(30s));
    CHECK(WaitFor([&] { return PlaybackStatus(d.port, video, buyer) == 503; }, 20s));
    auto down = Http(d.port, "GET", "/api/v1/videos/" + video + "/playback", Bearer(buyer));
    REQUIRE(down);
    CHECK(down->status == 503);
    CHECK(Contains(down->body, "127.0.0.1:" + std::to_string(chain.port)));
    // The operator sees it.
    CHECK(WaitFor(
        [&] {
          return Contains(d.Cli({"--json", "health"}).out, "JSON-RPC cannot be reached");
        },
        20s));

    HttpConnection m(d.metrics_port);
    auto metrics = m.Request("GET", "/metrics");
    REQUIRE(metrics);
    CHECK(Contains(metrics->body, "streamgate_auth_tokens_issued_total{method=\"siwe\"} 3"));
    CHECK(Contains(metrics->body, "streamgate_auth_rpc_calls_total{outcome=\"error\"}"));
    CHECK(Contains(metrics->body, "streamgate_auth_ownership_cache_total{result=\"hit\"}"));
    CHECK(Contains(metrics->body, "streamgate_auth_refused_total{reason=\"not_holder\"}"));
  }
}

TEST_CASE("signer recovery agrees with ethers on 1000 signed messages", "[auth][chain]") {
  const json cases = Chain({"differential", "--count", "1000", "--seed", "7"}, 120s).at("cases");
  REQUIRE(cases.size() == 1000);
  size_t agreed = 0;
  for (const auto& c : cases) {
    const std::string message = c.at("message");
    auto signer = sg::plugins::eth::RecoverPersonal(message, c.at("signature").get<std::string>());
    INFO(message);
    REQUIRE(signer);
    if (sg::plugins::eth::ChecksumAddress(*signer) == c.at("address").get<std::string>()) ++agreed;
  }
  CHECK(agreed == 1000);
}

}  // namespace sg::test
