// The cost of one access check: a playback capability (every segment request pays it), a JWT
// (every API call), a wallet's signature recovery, and a whole Sign-In with Ethereum check (parse,
// check, recover, on a message signed here with libsecp256k1), with Catch2's BENCHMARK.
//
//   bench_access [Catch2 options, e.g. --benchmark-samples 200]
#define CATCH_CONFIG_MAIN
#define CATCH_CONFIG_ENABLE_BENCHMARKING
#include <algorithm>

#include <catch2/catch.hpp>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "daemon/plugin_api/access.h"
#include "daemon/plugins/auth/ethereum.h"
#include "daemon/plugins/auth/siwe.h"

namespace {

constexpr int64_t kNow = 1'800'000'000;

sg::KeyRing Ring() {
  return sg::KeyRing({{"2026-12", std::string(32, 'n')}, {"2026-11", std::string(32, 'o')}});
}

namespace eth = sg::plugins::eth;

// A fixed key's EIP-55 address and its EIP-191 signature (r || s || v) of `message`.
std::pair<std::string, std::string> SignPersonal(const std::string& key,
                                                 const std::string& message) {
  static secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  secp256k1_pubkey pub;
  REQUIRE(secp256k1_ec_pubkey_create(ctx, &pub, k) == 1);
  unsigned char point[65];
  size_t n = sizeof point;
  REQUIRE(secp256k1_ec_pubkey_serialize(ctx, point, &n, &pub, SECP256K1_EC_UNCOMPRESSED) == 1);
  const eth::Hash h =
      eth::Keccak256(std::string_view(reinterpret_cast<const char*>(point) + 1, 64));
  eth::Address address{};
  std::copy(h.end() - 20, h.end(), address.begin());
  const eth::Hash digest = eth::PersonalMessageHash(message);
  secp256k1_ecdsa_recoverable_signature sig;
  REQUIRE(secp256k1_ecdsa_sign_recoverable(ctx, &sig, digest.data(), k, nullptr, nullptr) == 1);
  unsigned char out[64];
  int recid = 0;
  REQUIRE(secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, out, &recid, &sig) == 1);
  std::string bytes(reinterpret_cast<const char*>(out), 64);
  bytes += static_cast<char>(27 + recid);
  return {eth::ChecksumAddress(address), "0x" + eth::ToHex(bytes)};
}

}  // namespace

TEST_CASE("access checks, per call", "[benchmark]") {
  const sg::KeyRing keys = Ring();
  const sg::Capability cap{"01JDXV0000VIDEO000000000000", "play", kNow + 3600,
                           "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"};
  const std::string capability = *sg::SignCapability(keys, cap);
  sg::Claims claims;
  claims.subject = cap.subject;
  claims.scope = "videos:read videos:write";
  claims.issuer = "streamgate";
  claims.issued_at = kNow;
  claims.expires = kNow + 900;
  claims.id = "01JDXV0000TOKEN000000000000";
  const std::string jwt = *sg::SignJwt(keys, claims);
  // web3.eth.accounts.sign('Some data', ...) from web3.js's documentation.
  const std::string signature =
      "0xb91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd6007e74cd82e037b800186422f"
      "c2da167c747ef045e5d18a5f5d4300f8e1a0291c";
  REQUIRE(sg::VerifyCapability(keys, capability, cap.video, kNow));
  REQUIRE(sg::VerifyJwt(keys, jwt, kNow));
  REQUIRE(sg::plugins::eth::RecoverPersonal("Some data", signature));

  BENCHMARK("VerifyCapability") { return sg::VerifyCapability(keys, capability, cap.video, kNow); };
  BENCHMARK("VerifyCapability, refused (other video)") {
    return sg::VerifyCapability(keys, capability, "01JDXV0000OTHER000000000000", kNow);
  };
  BENCHMARK("VerifyJwt") { return sg::VerifyJwt(keys, jwt, kNow); };
  BENCHMARK("RecoverPersonal") {
    return sg::plugins::eth::RecoverPersonal("Some data", signature);
  };
  BENCHMARK("SignCapability") { return sg::SignCapability(keys, cap); };
}

TEST_CASE("Sign-In with Ethereum, per verification", "[benchmark]") {
  const std::string key(32, '\x42');
  auto [address, unused] = SignPersonal(key, "");
  const std::string message = "localhost wants you to sign in with your Ethereum account:\n" +
                              address +
                              "\n\nSign in to StreamGate\n\nURI: http://localhost/login\n"
                              "Version: 1\nChain ID: 1337\nNonce: abcdef0123456789\n"
                              "Issued At: 2026-12-01T00:00:00Z";
  const std::string signature = SignPersonal(key, message).second;
  sg::plugins::siwe::Expect expect;
  expect.domain = "localhost";
  expect.uri_prefixes = {"http://localhost"};
  expect.chain_id = 1337;
  expect.now_ms = *sg::plugins::siwe::ParseRfc3339("2026-12-01T00:01:00Z");
  // Parse, Check and RecoverPersonal, and the signer compared: what POST /api/v1/auth/siwe/verify
  // computes besides its nonce and its token.
  const auto verify = [&] {
    auto m = sg::plugins::siwe::Parse(message);
    if (!m || !sg::plugins::siwe::Check(*m, expect)) return false;
    auto signer = eth::RecoverPersonal(message, signature);
    return signer && eth::ChecksumAddress(*signer) == m->address;
  };
  REQUIRE(verify());
  BENCHMARK("siwe::Parse") { return sg::plugins::siwe::Parse(message); };
  BENCHMARK("SIWE verification (Parse + Check + RecoverPersonal)") { return verify(); };
}
