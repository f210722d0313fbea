// Ethereum's signatures: Keccak-256 and EIP-191 vectors, recovery against signatures made here
// with libsecp256k1 and against web3.js's published one, malleable and malformed signatures, and
// EIP-55 addresses.
#include "daemon/plugins/auth/ethereum.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include <catch2/catch.hpp>
#include <nettle/sha3.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

namespace sg::plugins::eth {
namespace {

std::string Hex(const Hash& h) {
  return ToHex(std::string_view(reinterpret_cast<const char*>(h.data()), h.size()));
}

std::string Bytes(std::string_view hex) {
  auto r = FromHex(hex);
  REQUIRE(r);
  return *r;
}

const secp256k1_context* Ctx() {
  static secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  return ctx;
}

// The address of a private key, derived here with libsecp256k1 and Keccak-256.
Address AddressOf(const std::string& key) {
  secp256k1_pubkey pub;
  REQUIRE(secp256k1_ec_pubkey_create(Ctx(), &pub,
                                     reinterpret_cast<const unsigned char*>(key.data())) == 1);
  unsigned char point[65];
  size_t n = sizeof point;
  REQUIRE(secp256k1_ec_pubkey_serialize(Ctx(), point, &n, &pub, SECP256K1_EC_UNCOMPRESSED) == 1);
  const Hash h = Keccak256(std::string_view(reinterpret_cast<const char*>(point) + 1, 64));
  Address a{};
  std::copy(h.end() - 20, h.end(), a.begin());
  return a;
}

// r || s || v (27 + recovery id) over `hash`, as a wallet signs.
std::string Sign(const std::string& key, const Hash& hash) {
  secp256k1_ecdsa_recoverable_signature sig;
  REQUIRE(secp256k1_ecdsa_sign_recoverable(Ctx(), &sig, hash.data(),
                                           reinterpret_cast<const unsigned char*>(key.data()),
                                           nullptr, nullptr) == 1);
  unsigned char out[64];
  int recid = 0;
  REQUIRE(secp256k1_ecdsa_recoverable_signature_serialize_compact(Ctx(), out, &recid, &sig) == 1);
  std::string s(reinterpret_cast<const char*>(out), 64);
  s += static_cast<char>(27 + recid);
  return s;
}

// n - x for a 32-byte big-endian x, n the order of the curve.
std::string OrderMinus(std::string_view x) {
  const std::string n = Bytes("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
  std::string out(32, '\0');
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int d = static_cast<unsigned char>(n[static_cast<size_t>(i)]) -
            static_cast<unsigned char>(x[static_cast<size_t>(i)]) - borrow;
    borrow = d < 0 ? 1 : 0;
    out[static_cast<size_t>(i)] = static_cast<char>(d + (borrow ? 256 : 0));
  }
  return out;
}

const std::string kWeb3Key = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const std::string kWeb3Address = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23";
// web3.eth.accounts.sign('Some data', kWeb3Key), from web3.js's documentation.
const std::string kWeb3Signature =
    "0xb91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd6007e74cd82e037b800186422fc2"
    "da167c747ef045e5d18a5f5d4300f8e1a0291c";

void RequireFault(const Result<Address>& r, const std::string& words) {
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kInvalidArgument);
  CHECK_THAT(r.error().message, Catch::Contains(words));
}

}  // namespace

TEST_CASE("Keccak-256 and the personal-message hash match the known vectors", "[ethereum]") {
  CHECK(Hex(Keccak256("")) == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  CHECK(Hex(Keccak256("abc")) ==
        "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
  CHECK(Hex(Keccak256("hello")) ==
        "1c8aff950685c2ed4bc3174f3472287b56d9517b9c948127319a09a7a36deac8");
  CHECK(Hex(PersonalMessageHash("hello")) ==
        "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750");
  CHECK(Hex(PersonalMessageHash("Some data")) ==
        "1da44b586eb0729ff70a73c326926f6ed5a25f5b056e7f47fbc6e58d86871655");
  CHECK(PersonalMessageHash("") == Keccak256("\x19"
                                             "Ethereum Signed Message:\n0"));
}

TEST_CASE("Keccak-256 across block boundaries, and the same sponge as SHA3-256 matches Nettle's",
          "[ethereum]") {
  // Crypto++'s Keccak_256 (the implementation before this one) of bytes i*7+3 for i < n: one
  // byte short of, exactly and one byte over one and two blocks of 136 bytes (exact: the padding
  // takes a block of its own; short: the domain bits and the final bit share a byte), and 1000.
  const std::vector<std::pair<size_t, std::string>> vectors = {
      {135, "00ef96af9cf4b24c7f269d922294444a197d0a33638c2e56634c57e892103a8f"},
      {136, "742061bcad767ed4c4f5883b1dcb1aad11afdcc140dc469d953759b127b9f9ed"},
      {137, "e3371f61e770abf254c34239c3b0099ad90594507415bc81dd0a10b9692bbf2a"},
      {271, "4401c4afbe16ff911bdbf2d38e556e5b861f3fdf0f9d4306b1c46f6ae4f73584"},
      {272, "ac141fd7b0a0ffcd2e967254d508da3ec616596493c36fa304425647d90e6de5"},
      {273, "16192ea86793083e47731cb3c970600f04768414d92bc0540e54ce8607a0fce0"},
      {1000, "80cdc8dd52cbb3dbaea8f383209893fa2bb52efbd5aedbb4b26dcfe307fcdc9b"}};
  auto input = [](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(i * 7 + 3));
    return s;
  };
  for (const auto& [n, hex] : vectors) {
    INFO("length " << n);
    CHECK(Hex(Keccak256(input(n))) == hex);
  }
  // With SHA3's domain bits the sponge is SHA3-256: Nettle's own, at every length to three blocks.
  for (size_t n = 0; n <= 3 * SHA3_256_BLOCK_SIZE + 1; ++n) {
    const std::string in = input(n);
    sha3_256_ctx ctx;
    sha3_256_init(&ctx);
    sha3_256_update(&ctx, in.size(), reinterpret_cast<const uint8_t*>(in.data()));
    Hash want{};
    sha3_256_digest(&ctx, want.size(), want.data());
    INFO("length " << n);
    CHECK(Sponge256(in, 0x06) == want);
  }
}

TEST_CASE("web3.js's published signature recovers its documented address", "[ethereum]") {
  const Address expected = AddressOf(Bytes(kWeb3Key));
  CHECK(ChecksumAddress(expected) == kWeb3Address);
  const auto signer = RecoverPersonal("Some data", kWeb3Signature);
  REQUIRE(signer);
  CHECK(ChecksumAddress(*signer) == kWeb3Address);
  // libsecp256k1 signs deterministically (RFC 6979): the same bytes as web3.js.
  CHECK("0x" + ToHex(Sign(Bytes(kWeb3Key), PersonalMessageHash("Some data"))) == kWeb3Signature);
  // Another message, same signature: someone else (or nobody).
  const auto other = RecoverPersonal("Some datb", kWeb3Signature);
  CHECK((!other || *other != *signer));
}

TEST_CASE("signatures made with fixed keys recover their signers, with v as 27/28 or 0/1",
          "[ethereum]") {
  for (int k = 1; k <= 8; ++k) {
    std::string key(32, '\0');
    key[31] = static_cast<char>(k * 37);
    key[0] = static_cast<char>(k);
    const Address expected = AddressOf(key);
    for (const std::string& message : std::vector<std::string>{
             "", "hello", "localhost wants you to sign in", std::string(1000, 'x')}) {
      const Hash hash = PersonalMessageHash(message);
      std::string sig = Sign(key, hash);
      auto a = Recover(hash, sig);
      REQUIRE(a);
      CHECK(*a == expected);
      sig[64] = static_cast<char>(sig[64] - 27);
      a = Recover(hash, sig);
      REQUIRE(a);
      CHECK(*a == expected);
      const auto p = RecoverPersonal(message, "0x" + ToHex(sig));
      REQUIRE(p);
      CHECK(*p == expected);
      // The other recovery id yields another key, never the signer.
      sig[64] = static_cast<char>(sig[64] ^ 1);
      a = Recover(hash, sig);
      CHECK((!a || *a != expected));
    }
  }
}

TEST_CASE("malformed and malleable signatures are refused, naming the fault", "[ethereum]") {
  const Hash hash = PersonalMessageHash("Some data");
  const std::string good = Bytes(kWeb3Signature);
  REQUIRE(Recover(hash, good));

  RequireFault(Recover(hash, good.substr(0, 64)), "64 bytes");
  RequireFault(Recover(hash, good + '\x1b'), "66 bytes");
  RequireFault(Recover(hash, ""), "0 bytes");
  for (int v : {2, 3, 26, 29, 30, 35, 36, 255}) {
    std::string s = good;
    s[64] = static_cast<char>(v);
    INFO(v);
    RequireFault(Recover(hash, s), "v is " + std::to_string(v));
  }
  // High s: n - s is the same signature's twin, which EIP-2 refuses.
  std::string high = good.substr(0, 32) + OrderMinus(good.substr(32, 32)) + good[64];
  RequireFault(Recover(hash, high), "upper half");
  // r or s zero, or not below n.
  const std::string zero(32, '\0');
  const std::string n = OrderMinus(zero);  // n - 0 = n
  RequireFault(Recover(hash, zero + good.substr(32)), "r is zero");
  RequireFault(Recover(hash, good.substr(0, 32) + zero + good[64]), "s is zero");
  RequireFault(Recover(hash, n + good.substr(32)), "r is zero or not below");
  RequireFault(Recover(hash, std::string(32, '\xff') + good.substr(32)), "r is zero or not below");
  RequireFault(Recover(hash, good.substr(0, 32) + n + good[64]), "s is zero or not below");

  // Bad hex.
  RequireFault(RecoverPersonal("Some data", kWeb3Signature.substr(2)), "0x");
  RequireFault(RecoverPersonal("Some data", kWeb3Signature.substr(0, kWeb3Signature.size() - 1)),
               "odd");
  RequireFault(RecoverPersonal("Some data", "0x" + std::string(130, 'g')), "not hex");
  RequireFault(RecoverPersonal("Some data", "0x"), "0 bytes");
  RequireFault(RecoverPersonal("Some data", "0x 1"), "");
}

TEST_CASE("EIP-55 checksums match the EIP's vectors and parsing is strict", "[ethereum]") {
  for (const std::string vector :
       {"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"}) {
    INFO(vector);
    const auto a = ParseAddress(vector);
    REQUIRE(a);
    CHECK(ChecksumAddress(*a) == vector);
    // All lower and all upper case carry no checksum and are accepted.
    std::string lower = vector;
    std::string upper = vector;
    for (size_t i = 2; i < vector.size(); ++i) {
      lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(vector[i])));
      upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(vector[i])));
    }
    CHECK(ParseAddress(lower));
    CHECK(ParseAddress(upper));
    CHECK(*ParseAddress(lower) == *a);
    // One letter's case changed breaks the checksum.
    std::string typo = vector;
    for (size_t i = 2; i < typo.size(); ++i) {
      if (std::isalpha(static_cast<unsigned char>(typo[i]))) {
        typo[i] = static_cast<char>(typo[i] ^ 0x20);
        break;
      }
    }
    RequireFault(ParseAddress(typo), "checksum");
  }
  for (const std::string bad :
       {"", "0x", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0X5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed0", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg",
        " 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}) {
    INFO(bad);
    CHECK(ParseAddress(bad).error().code == ErrorCode::kInvalidArgument);
  }
}

TEST_CASE("hex encodes lower case and decodes strictly", "[ethereum]") {
  CHECK(ToHex("") == "");
  CHECK(ToHex(std::string("\x00\x01\xab\xff", 4)) == "0001abff");
  CHECK(*FromHex("0x0001ABff") == std::string("\x00\x01\xab\xff", 4));
  CHECK(*FromHex("0x") == "");
  CHECK_FALSE(FromHex(""));
  CHECK_FALSE(FromHex("00"));
  CHECK_FALSE(FromHex("0X00"));
  CHECK_FALSE(FromHex("0x0"));
  CHECK_FALSE(FromHex("0x0g"));
  CHECK_FALSE(FromHex("0x-1"));
}

}  // namespace sg::plugins::eth
