// The tus 1.0.0 protocol's pieces without the plugin around it: its headers parsed and checked,
// chunk checksums, dates. Pure functions, so that the unit tests (and the fuzzer) reach every
// branch. https://tus.io/protocols/resumable-upload
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace sg::plugins::tus {

inline constexpr std::string_view kVersion = "1.0.0";
inline constexpr std::string_view kExtensions =
    "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration,"
    "concatenation";
inline constexpr std::string_view kChecksumAlgorithms = "sha1,md5,crc32,sha256";
inline constexpr std::string_view kOffsetOctetStream = "application/offset+octet-stream";

/// An unsigned decimal header value ("1024"): no sign, no spaces, no leading '+', fits 63 bits.
std::optional<uint64_t> ParseCount(std::string_view text);

/// Standard base64 (RFC 4648, with padding, as tus asks); nullopt for anything else.
std::optional<std::string> Base64Decode(std::string_view text);
std::string Base64Encode(std::string_view bytes);

/// Upload-Metadata: "key base64value,key2 base64value2,flag". Keys are unique, 1..128 printable
/// ASCII characters without spaces or commas; values decode to at most 64 KiB in all.
/// kInvalidArgument says which pair is wrong and why.
using Metadata = std::vector<std::pair<std::string, std::string>>;
Result<Metadata> ParseMetadata(std::string_view header);
std::optional<std::string> Find(const Metadata& metadata, std::string_view key);

/// A running checksum of one PATCH body.
class Digest {
 public:
  virtual ~Digest() = default;
  virtual void Update(std::string_view bytes) = 0;
  /// The digest's raw bytes (crc32: 4 bytes, big-endian).
  virtual std::string Final() = 0;
};

/// Upload-Checksum: "sha1 <base64 digest>". kInvalidArgument (answer 400) for a malformed header
/// or an algorithm not in kChecksumAlgorithms, naming the ones we take.
struct Checksum {
  std::string algorithm;
  std::string expected;  // raw digest bytes
  std::unique_ptr<Digest> digest;
};
Result<Checksum> ParseChecksum(std::string_view header);

/// Upload-Concat: "partial", or "final;URL URL ..." whose URLs end in the partial uploads' ids
/// (absolute URLs or paths: only the last segment counts).
struct Concat {
  enum class Kind { kNone, kPartial, kFinal } kind = Kind::kNone;
  std::vector<std::string> parts;  // ids, for kFinal
};
Result<Concat> ParseConcat(std::string_view header);

/// An HTTP date (RFC 9110 IMF-fixdate) for milliseconds since the Unix epoch.
std::string HttpDate(int64_t ms);

}  // namespace sg::plugins::tus
