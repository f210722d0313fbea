#include "daemon/plugins/upload/tus.h"

#include <array>
#include <ctime>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <zlib.h>

namespace sg::plugins::tus {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

class EvpDigest final : public Digest {
 public:
  explicit EvpDigest(const EVP_MD* md) : ctx_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(ctx_, md, nullptr);
  }
  ~EvpDigest() override { EVP_MD_CTX_free(ctx_); }
  EvpDigest(const EvpDigest&) = delete;
  EvpDigest& operator=(const EvpDigest&) = delete;
  void Update(std::string_view bytes) override {
    EVP_DigestUpdate(ctx_, bytes.data(), bytes.size());
  }
  std::string Final() override {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, out.data(), &n);
    return {reinterpret_cast<const char*>(out.data()), n};
  }

 private:
  EVP_MD_CTX* ctx_;
};

class Crc32Digest final : public Digest {
 public:
  void Update(std::string_view bytes) override {
    // zlib's length is a uInt: feed large pieces in parts.
    while (!bytes.empty()) {
      const size_t n = std::min<size_t>(bytes.size(), size_t{1} << 30);
      crc_ = crc32(crc_, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(n));
      bytes.remove_prefix(n);
    }
  }
  std::string Final() override {
    std::string out(4, '\0');
    for (int i = 0; i < 4; ++i)
      out[static_cast<size_t>(i)] = static_cast<char>(crc_ >> (24 - 8 * i));
    return out;
  }

 private:
  uLong crc_ = crc32(0L, Z_NULL, 0);
};

}  // namespace

std::optional<uint64_t> ParseCount(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + static_cast<size_t>(k)];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      v[k] = Sextet(c);
      if (v[k] < 0) return std::nullopt;
    }
    const uint32_t n = (static_cast<uint32_t>(v[0]) << 18) | (static_cast<uint32_t>(v[1]) << 12) |
                       (static_cast<uint32_t>(v[2]) << 6) | static_cast<uint32_t>(v[3]);
    out += static_cast<char>(n >> 16);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t left = bytes.size() - i;
    uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (left > 1) n |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    if (left > 2) n |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 2]));
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += left > 1 ? kAlphabet[(n >> 6) & 63] : '=';
    out += left > 2 ? kAlphabet[n & 63] : '=';
  }
  return out;
}

Result<Metadata> ParseMetadata(std::string_view header) {
  Metadata out;
  size_t total = 0;
  size_t index = 0;
  while (!header.empty()) {
    const size_t comma = header.find(',');
    std::string_view pair = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    ++index;
    if (comma != std::string_view::npos && header.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("Upload-Metadata: pair {} is empty (a trailing comma)", index + 1));
    }
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    while (!pair.empty() && pair.back() == ' ') pair.remove_suffix(1);
    if (pair.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("Upload-Metadata: pair {} is empty (a stray comma)", index));
    }
    const size_t space = pair.find(' ');
    const std::string_view key = pair.substr(0, space);
    const std::string_view value =
        space == std::string_view::npos ? std::string_view() : pair.substr(space + 1);
    if (key.size() > 128) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("Upload-Metadata: key {} is longer than 128 characters", index));
    }
    for (char c : key) {
      if (c <= ' ' || c > '~') {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("Upload-Metadata: key {} has a character that is not printable "
                                "ASCII",
                                index));
      }
    }
    if (value.find(' ') != std::string_view::npos) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("Upload-Metadata: the value of '{}' has a space; each pair is a key, "
                              "one space, and the base64 of the value",
                              key));
    }
    auto decoded = Base64Decode(value);
    if (!decoded) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("Upload-Metadata: the value of '{}' is not base64 (RFC 4648, with "
                              "padding)",
                              key));
    }
    for (const auto& [k, v] : out) {
      if (k == key) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("Upload-Metadata: key '{}' is given twice", key));
      }
    }
    total += key.size() + decoded->size();
    if (total > 64 * 1024) {
      return Fail(ErrorCode::kInvalidArgument, "Upload-Metadata: more than 64 KiB in all");
    }
    out.emplace_back(std::string(key), std::move(*decoded));
  }
  return out;
}

std::optional<std::string> Find(const Metadata& metadata, std::string_view key) {
  for (const auto& [k, v] : metadata) {
    if (k == key) return v;
  }
  return std::nullopt;
}

Result<Checksum> ParseChecksum(std::string_view header) {
  const size_t space = header.find(' ');
  if (space == std::string_view::npos || space == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "Upload-Checksum: expected an algorithm, one space and the base64 of the digest "
                "(\"sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=\")");
  }
  Checksum out;
  out.algorithm = std::string(header.substr(0, space));
  auto expected = Base64Decode(header.substr(space + 1));
  if (!expected) {
    return Fail(ErrorCode::kInvalidArgument, "Upload-Checksum: the digest is not base64");
  }
  out.expected = std::move(*expected);
  size_t want = 0;
  if (out.algorithm == "sha1") {
    out.digest = std::make_unique<EvpDigest>(EVP_sha1());
    want = 20;
  } else if (out.algorithm == "md5") {
    out.digest = std::make_unique<EvpDigest>(EVP_md5());
    want = 16;
  } else if (out.algorithm == "sha256") {
    out.digest = std::make_unique<EvpDigest>(EVP_sha256());
    want = 32;
  } else if (out.algorithm == "crc32") {
    out.digest = std::make_unique<Crc32Digest>();
    want = 4;
  } else {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("Upload-Checksum: algorithm '{}' is not supported; use one of {}",
                            out.algorithm.substr(0, 32), kChecksumAlgorithms));
  }
  if (out.expected.size() != want) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("Upload-Checksum: a {} digest is {} bytes, not {}", out.algorithm, want,
                            out.expected.size()));
  }
  return out;
}

Result<Concat> ParseConcat(std::string_view header) {
  Concat out;
  if (header.empty()) return out;
  if (header == "partial") {
    out.kind = Concat::Kind::kPartial;
    return out;
  }
  if (!header.starts_with("final;")) {
    return Fail(ErrorCode::kInvalidArgument,
                "Upload-Concat: expected \"partial\" or \"final;URL URL ...\"");
  }
  out.kind = Concat::Kind::kFinal;
  std::string_view rest = header.substr(6);
  while (!rest.empty()) {
    const size_t space = rest.find(' ');
    std::string_view url = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    if (url.empty()) continue;
    while (url.ends_with('/')) url.remove_suffix(1);
    const size_t slash = url.rfind('/');
    const std::string_view id = slash == std::string_view::npos ? url : url.substr(slash + 1);
    if (id.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("Upload-Concat: '{}' names no upload", url.substr(0, 200)));
    }
    out.parts.emplace_back(id);
    if (out.parts.size() > 1000) {
      return Fail(ErrorCode::kInvalidArgument, "Upload-Concat: more than 1000 partial uploads");
    }
  }
  if (out.parts.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "Upload-Concat: final names no partial upload");
  }
  return out;
}

std::string HttpDate(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[64];
  const size_t n = std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return {buffer, n};
}

}  // namespace sg::plugins::tus
