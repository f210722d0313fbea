// The auth plugin's chain client without a chain: the ABI it writes and reads, the ownership
// cache's expiry and bound, and what an unreachable RPC URL reports (its host, never its path).
#include "daemon/plugins/auth/chain.h"

#include <chrono>

#include <catch2/catch.hpp>

namespace sg::plugins::chain {
namespace {

bool Is(const Result<bool>& r, bool want) { return r && *r == want; }

const eth::Address kOwner = *eth::ParseAddress("0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");
const std::string kOwnerWord = "0000000000000000000000002c7536e3605d9c16a7a3d7b1898e529396a65c23";

TEST_CASE("balanceOf call data: ERC-721 and ERC-1155", "[chain]") {
  CHECK(Erc721BalanceOf(kOwner) == "0x70a08231" + kOwnerWord);
  auto seven = Erc1155BalanceOf(kOwner, "7");
  REQUIRE(seven);
  CHECK(*seven == "0x00fdd58e" + kOwnerWord + std::string(63, '0') + "7");
  auto big = Erc1155BalanceOf(kOwner, "256");
  REQUIRE(big);
  CHECK(big->ends_with("0100"));
  const std::string max =
      "115792089237316195423570985008687907853269984665640564039457584007913129639935";
  auto top = Erc1155BalanceOf(kOwner, max);
  REQUIRE(top);
  CHECK(top->ends_with(std::string(64, 'f')));
  CHECK_FALSE(Erc1155BalanceOf(kOwner, max.substr(0, max.size() - 1) + "6"));  // 2^256
  CHECK_FALSE(Erc1155BalanceOf(kOwner, ""));
  CHECK_FALSE(Erc1155BalanceOf(kOwner, "0x10"));
  CHECK_FALSE(Erc1155BalanceOf(kOwner, "-1"));
}

TEST_CASE("isValidSignature call data encodes the bytes as a dynamic argument", "[chain]") {
  eth::Hash hash{};
  hash[31] = 0xab;
  const std::string sig(65, '\x11');
  const std::string data = IsValidSignature(hash, sig);
  REQUIRE(data.size() == 2 + 8 + 64 * 6);  // selector, hash, offset, length, 96 bytes
  CHECK(data.substr(0, 10) == "0x1626ba7e");
  CHECK(data.substr(10, 64) == std::string(62, '0') + "ab");
  CHECK(data.substr(74, 64) == std::string(62, '0') + "40");
  CHECK(data.substr(138, 64) == std::string(62, '0') + "41");
  CHECK(data.substr(202, 130) == std::string(130, '1'));
  CHECK(data.substr(332) == std::string(62, '0'));
  CHECK(IsValidSignature(hash, std::string(64, 'x')).size() == 2 + 8 + 64 * 5);
}

TEST_CASE("results are read strictly", "[chain]") {
  CHECK(Is(NonZeroWord("0x" + std::string(64, '0')), false));
  CHECK(Is(NonZeroWord("0x" + std::string(63, '0') + "1"), true));
  CHECK_FALSE(NonZeroWord("0x"));                         // no code at the address
  CHECK_FALSE(NonZeroWord("0x" + std::string(66, '0')));  // 33 bytes
  CHECK_FALSE(NonZeroWord("0x" + std::string(63, 'g') + "1"));
  CHECK_FALSE(NonZeroWord(std::string(64, '0')));  // no 0x
  CHECK(Is(IsMagic("0x1626ba7e" + std::string(56, '0')), true));
  CHECK(Is(IsMagic("0xffffffff" + std::string(56, '0')), false));
  CHECK(Is(IsMagic("0x1626ba7e" + std::string(55, '0') + "1"), false));
  CHECK(Is(IsMagic("0x"), false));
  CHECK_FALSE(IsMagic("0xzz"));
}

TEST_CASE("an RPC URL shows its host only", "[chain]") {
  CHECK(HostOf("https://mainnet.infura.io/v3/SECRETKEY") == "mainnet.infura.io");
  CHECK(HostOf("http://user:pw@127.0.0.1:8545/?key=SECRET") == "127.0.0.1:8545");
  CHECK(HostOf("https://rpc.example#frag") == "rpc.example");
  // Nothing listens on port 1; ws is not for this client: both fail, naming hosts only.
  RpcClient rpc({"http://127.0.0.1:1/SECRETPATH", "wss://ws.example/SECRET2"},
                std::chrono::milliseconds(2000));
  auto r = rpc.EthCall("0x2c7536E3605D9C16a7a3D7b1898e529396a65c23", "0x70a08231");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kUnavailable);
  CHECK_THAT(r.error().message, Catch::Contains("127.0.0.1:1") && Catch::Contains("ws.example") &&
                                    !Catch::Contains("SECRET"));
  const auto stats = rpc.Snapshot();
  CHECK(stats.errors == 2);
  CHECK(stats.last_failed);
  CHECK_FALSE(RpcClient({}, std::chrono::milliseconds(100)).EthCall("0x", "0x"));
}

TEST_CASE("the ownership cache expires answers and keeps at most its capacity", "[chain]") {
  OwnershipCache cache(std::chrono::milliseconds(20), 2);
  cache.Put("a", true);
  cache.Put("b", false);
  CHECK(cache.Get("a") == std::optional<bool>(true));
  CHECK(cache.Get("b") == std::optional<bool>(false));
  cache.Put("c", true);  // drops the oldest, a
  CHECK(cache.Size() == 2);
  CHECK_FALSE(cache.Get("a"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (cache.Get("c") && std::chrono::steady_clock::now() < deadline) {
  }
  CHECK_FALSE(cache.Get("c"));
  OwnershipCache off(std::chrono::milliseconds(0));
  off.Put("a", true);
  CHECK_FALSE(off.Get("a"));
}

}  // namespace
}  // namespace sg::plugins::chain
