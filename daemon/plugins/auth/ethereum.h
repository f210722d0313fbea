// Ethereum's signatures, as Sign-In with Ethereum needs them: Keccak-256 (a sponge around
// Nettle's Keccak-f[1600] permutation), the EIP-191 personal-message hash, public-key recovery
// with libsecp256k1's recovery module, and EIP-55 addresses. Pure functions: no I/O, no global
// state beyond libsecp256k1's context.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sg::plugins::eth {

using Hash = std::array<uint8_t, 32>;
using Address = std::array<uint8_t, 20>;

/// Keccak-256 as Ethereum uses it: the original Keccak padding (domain bits 0x01), not
/// SHA3-256's (0x06).
Hash Keccak256(std::string_view bytes);

/// The 256-bit sponge with the given domain bits: 0x01 is Keccak-256, 0x06 SHA3-256 (which the
/// tests compare with Nettle's own).
Hash Sponge256(std::string_view bytes, uint8_t domain);

/// keccak256("\x19Ethereum Signed Message:\n" + decimal length + message) (EIP-191 v0x45).
Hash PersonalMessageHash(std::string_view message);

/// The signer of a 65-byte signature r||s||v over `hash`. v may be 27/28 or 0/1; anything else,
/// another length, r or s zero or out of range, or s in the upper half of the order (EIP-2:
/// malleable) is kInvalidArgument naming the fault.
Result<Address> Recover(const Hash& hash, std::string_view signature);

/// Recover over PersonalMessageHash(message), with the signature as 0x-prefixed hex.
Result<Address> RecoverPersonal(std::string_view message, std::string_view signature_hex);

/// "0x" + 40 hex digits with the EIP-55 mixed-case checksum.
std::string ChecksumAddress(const Address& address);

/// Parses "0x" + 40 hex digits. All-lower or all-upper is accepted; mixed case must carry a
/// correct EIP-55 checksum.
Result<Address> ParseAddress(std::string_view text);

/// Lower-case hex without "0x"; strict decoding of "0x"-prefixed hex (either case, whole bytes).
std::string ToHex(std::string_view bytes);
Result<std::string> FromHex(std::string_view text);

}  // namespace sg::plugins::eth
