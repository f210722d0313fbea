#include "common/curve_keys.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <sys/stat.h>
#include <zmq.h>

namespace sg {
namespace {

// Reads "name: value" lines.
Result<std::map<std::string, std::string>> ReadFields(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return Fail(ErrorCode::kIo, fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::map<std::string, std::string> fields;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t\r") + 1);
    fields[line.substr(0, colon)] = value;
  }
  return fields;
}

}  // namespace

bool ValidZ85Key(const std::string& key) {
  uint8_t binary[32];
  return key.size() == 40 && zmq_z85_decode(binary, key.c_str()) != nullptr;
}

Result<KeyPair> GenerateKeyPair() {
  char public_key[41] = {};
  char secret_key[41] = {};
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return Fail(ErrorCode::kInternal, "this libzmq was built without CURVE support");
  }
  return KeyPair{public_key, secret_key};
}

Result<KeyPair> ReadKeyFile(const std::string& path) {
  auto fields = ReadFields(path);
  if (!fields) return fields.error();
  KeyPair keys;
  keys.public_key = (*fields)["public-key"];
  keys.secret_key = (*fields)["secret-key"];
  if (!ValidZ85Key(keys.public_key)) {
    return Fail(ErrorCode::kConfig,
                fmt::format("{}: no valid 'public-key:' line (40 Z85 characters)", path));
  }
  if (!keys.secret_key.empty() && !ValidZ85Key(keys.secret_key)) {
    return Fail(ErrorCode::kConfig,
                fmt::format("{}: the 'secret-key:' line is not a valid key", path));
  }
  return keys;
}

Result<void> WriteKeyFile(const std::string& path, const KeyPair& keys) {
  const mode_t old = umask(keys.secret_key.empty() ? 022 : 077);
  std::ofstream out(path, std::ios::trunc);
  umask(old);
  if (!out)
    return Fail(ErrorCode::kIo, fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  out << "# StreamGate CURVE key; see streamgate(1), 'keys generate'\n";
  out << "public-key: " << keys.public_key << "\n";
  if (!keys.secret_key.empty()) out << "secret-key: " << keys.secret_key << "\n";
  out.close();
  if (!out) return Fail(ErrorCode::kIo, fmt::format("cannot write {}", path));
  return {};
}

}  // namespace sg
