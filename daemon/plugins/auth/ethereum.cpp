#include "daemon/plugins/auth/ethereum.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <nettle/sha3.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

namespace sg::plugins::eth {
namespace {

// The order n of secp256k1's group, and n / 2 (rounded down), big-endian.
constexpr std::array<uint8_t, 32> kOrder = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
constexpr std::array<uint8_t, 32> kHalfOrder = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0};

constexpr std::string_view kHexDigits = "0123456789abcdef";

// One context for the process, created once and only read afterwards, which libsecp256k1 allows
// from any number of threads.
const secp256k1_context* Context() {
  static const secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  return ctx;
}

// Compares 32-byte big-endian numbers: <0, 0, >0.
int Compare(const uint8_t* a, const std::array<uint8_t, 32>& b) {
  return std::memcmp(a, b.data(), b.size());
}

bool IsZero(const uint8_t* a) {
  return std::all_of(a, a + 32, [](uint8_t b) { return b == 0; });
}

int Nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Hash Sponge256(std::string_view bytes, uint8_t domain) {
  // Keccak's sponge at SHA3-256's rate: each block XORed into the state's first lanes
  // (little-endian), then the permutation (Nettle's); the last block padded with the domain's bits
  // and pad10*1; the digest is the first lanes' bytes.
  constexpr size_t kRate = SHA3_256_BLOCK_SIZE;  // 136 bytes: 17 lanes
  sha3_state state{};
  auto absorb = [&state](const uint8_t* block) {
    for (size_t lane = 0; lane < kRate / 8; ++lane) {
      uint64_t v = 0;
      for (size_t b = 0; b < 8; ++b) v |= uint64_t{block[lane * 8 + b]} << (8 * b);
      state.a[lane] ^= v;
    }
    sha3_permute(&state);
  };
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  size_t left = bytes.size();
  for (; left >= kRate; left -= kRate, p += kRate) absorb(p);
  std::array<uint8_t, kRate> last{};
  if (left > 0) std::memcpy(last.data(), p, left);
  last[left] = domain;
  last[kRate - 1] |= 0x80;
  absorb(last.data());
  Hash out{};
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<uint8_t>(state.a[i / 8] >> (8 * (i % 8)));
  }
  return out;
}

Hash Keccak256(std::string_view bytes) { return Sponge256(bytes, 0x01); }

Hash PersonalMessageHash(std::string_view message) {
  std::string prefixed = fmt::format(
      "\x19"
      "Ethereum Signed Message:\n{}",
      message.size());
  prefixed.append(message);
  return Keccak256(prefixed);
}

Result<Address> Recover(const Hash& hash, std::string_view signature) {
  if (signature.size() != 65) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("the signature is {} bytes; r, s and v make 65", signature.size()));
  }
  const auto* sig = reinterpret_cast<const uint8_t*>(signature.data());
  const uint8_t v = sig[64];
  if (v != 0 && v != 1 && v != 27 && v != 28) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("the signature's v is {}; it must be 27 or 28 (or 0 or 1)", v));
  }
  const int recid = v >= 27 ? v - 27 : v;
  if (IsZero(sig) || Compare(sig, kOrder) >= 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "the signature's r is zero or not below the curve order");
  }
  if (IsZero(sig + 32) || Compare(sig + 32, kOrder) >= 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "the signature's s is zero or not below the curve order");
  }
  if (Compare(sig + 32, kHalfOrder) > 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "the signature's s is in the upper half of the curve order (malleable, EIP-2); "
                "sign again with a wallet that makes low-s signatures");
  }
  const secp256k1_context* ctx = Context();
  secp256k1_ecdsa_recoverable_signature parsed;
  if (secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &parsed, sig, recid) != 1) {
    return Fail(ErrorCode::kInvalidArgument, "the signature does not parse");
  }
  secp256k1_pubkey pubkey;
  if (secp256k1_ecdsa_recover(ctx, &pubkey, &parsed, hash.data()) != 1) {
    return Fail(ErrorCode::kInvalidArgument, "no public key recovers from the signature");
  }
  std::array<uint8_t, 65> point{};
  size_t length = point.size();
  if (secp256k1_ec_pubkey_serialize(ctx, point.data(), &length, &pubkey,
                                    SECP256K1_EC_UNCOMPRESSED) != 1 ||
      length != point.size()) {
    return Fail(ErrorCode::kInternal, "the recovered public key does not serialize");
  }
  // The address is the last 20 bytes of the Keccak-256 of x || y (without the 0x04 prefix).
  const Hash h = Keccak256(std::string_view(reinterpret_cast<const char*>(point.data()) + 1, 64));
  Address address{};
  std::copy(h.end() - 20, h.end(), address.begin());
  return address;
}

Result<Address> RecoverPersonal(std::string_view message, std::string_view signature_hex) {
  Result<std::string> signature = FromHex(signature_hex);
  if (!signature) return signature.error().Wrap("the signature");
  return Recover(PersonalMessageHash(message), *signature);
}

std::string ChecksumAddress(const Address& address) {
  const std::string lower =
      ToHex(std::string_view(reinterpret_cast<const char*>(address.data()), address.size()));
  const Hash h = Keccak256(lower);
  std::string out = "0x" + lower;
  for (size_t i = 0; i < lower.size(); ++i) {
    const uint8_t nibble = (i % 2 == 0) ? (h[i / 2] >> 4) : (h[i / 2] & 0x0f);
    if (lower[i] >= 'a' && nibble >= 8) out[i + 2] = static_cast<char>(lower[i] - 'a' + 'A');
  }
  return out;
}

Result<Address> ParseAddress(std::string_view text) {
  if (text.size() != 42 || !text.starts_with("0x")) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("'{}' is not an address: 0x and 40 hex digits", text));
  }
  Address address{};
  bool lower = false;
  bool upper = false;
  for (size_t i = 0; i < 40; ++i) {
    const char c = text[i + 2];
    const int n = Nibble(c);
    if (n < 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("'{}' is not an address: '{}' is not a hex digit", text, c));
    }
    lower = lower || (c >= 'a' && c <= 'f');
    upper = upper || (c >= 'A' && c <= 'F');
    address[i / 2] = static_cast<uint8_t>(address[i / 2] | (n << (i % 2 == 0 ? 4 : 0)));
  }
  if (lower && upper) {
    const std::string expected = ChecksumAddress(address);
    if (expected != text) {
      return Fail(
          ErrorCode::kInvalidArgument,
          fmt::format("the address '{}' has a wrong EIP-55 checksum (mixed case); a typo?", text));
    }
  }
  return address;
}

std::string ToHex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += kHexDigits[b >> 4];
    out += kHexDigits[b & 0x0f];
  }
  return out;
}

Result<std::string> FromHex(std::string_view text) {
  if (!text.starts_with("0x")) {
    return Fail(ErrorCode::kInvalidArgument, "hex must start with 0x");
  }
  text.remove_prefix(2);
  if (text.size() % 2 != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("hex of {} digits, an odd number, is not whole bytes", text.size()));
  }
  std::string out(text.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = Nibble(text[2 * i]);
    const int lo = Nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("'{}' at digit {} is not hex", text[hi < 0 ? 2 * i : 2 * i + 1],
                              hi < 0 ? 2 * i : 2 * i + 1));
    }
    out[i] = static_cast<char>((hi << 4) | lo);
  }
  return out;
}

}  // namespace sg::plugins::eth
