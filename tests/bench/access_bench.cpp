// The cost of one access check: a playback capability (every segment request pays it), a JWT
// (every API call) and a wallet's signature recovery (every sign-in), with Catch2's BENCHMARK.
//
//   bench_access [Catch2 options, e.g. --benchmark-samples 200]
#define CATCH_CONFIG_MAIN
#define CATCH_CONFIG_ENABLE_BENCHMARKING
#include <catch2/catch.hpp>

#include "daemon/plugin_api/access.h"
#include "daemon/plugins/auth/ethereum.h"

namespace {

constexpr int64_t kNow = 1'800'000'000;

sg::KeyRing Ring() {
  return sg::KeyRing({{"2026-12", std::string(32, 'n')}, {"2026-11", std::string(32, 'o')}});
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
