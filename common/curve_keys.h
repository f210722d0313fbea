// CURVE key files for a tcp:// control endpoint, shared by the daemon and the CLI.
#pragma once

#include <string>

#include "common/result.h"

namespace sg {

/// A CURVE key pair in Z85 text (40 characters each).
struct KeyPair {
  std::string public_key;
  std::string secret_key;  // "" in a file that holds only the public key
};

/// Makes a new key pair.
Result<KeyPair> GenerateKeyPair();
/// Reads a key file: lines "public-key: Z85" and "secret-key: Z85" (the secret may be absent).
Result<KeyPair> ReadKeyFile(const std::string& path);
/// Writes a key file with mode 0600 (0644 when it holds no secret).
Result<void> WriteKeyFile(const std::string& path, const KeyPair& keys);
/// Whether text is a Z85-encoded 32-byte key.
bool ValidZ85Key(const std::string& key);

}  // namespace sg
