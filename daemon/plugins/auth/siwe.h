// Sign-In with Ethereum messages (EIP-4361): the parser follows the spec's ABNF line by line, and
// the checks an expecting server must make before it trusts one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sg::plugins::siwe {

struct Message {
  std::string scheme;     // optional "https" before the domain
  std::string domain;     // authority: host[:port]
  std::string address;    // 0x + 40 hex, EIP-55 checksummed as sent
  std::string statement;  // optional
  std::string uri;
  std::string version;  // "1"
  uint64_t chain_id = 0;
  std::string nonce;         // at least 8 alphanumerics
  std::string issued_at;     // RFC 3339, as sent
  int64_t issued_at_ms = 0;  // parsed
  std::optional<std::string> expiration_time;
  int64_t expiration_ms = 0;  // 0 when absent
  std::optional<std::string> not_before;
  int64_t not_before_ms = 0;
  std::optional<std::string> request_id;
  std::vector<std::string> resources;
};

/// Parses the exact text the wallet signed. kInvalidArgument saying which line is wrong. Lines
/// end with \n alone (a \r is refused) and the last has no line break; without a statement the
/// address is followed by two empty lines, as the ABNF has it. The address must be in its EIP-55
/// form.
Result<Message> Parse(std::string_view text);

/// An RFC 3339 date-time ("2021-09-30T16:25:24.5+02:00") as milliseconds since the epoch:
/// fractional seconds past the third digit are cut, T/Z may be lower case, no locale.
Result<int64_t> ParseRfc3339(std::string_view text);

/// What the server expects of a message.
struct Expect {
  std::string domain;                     // must equal Message::domain
  std::vector<std::string> uri_prefixes;  // the URI must start with one (empty: any)
  uint64_t chain_id = 0;                  // must equal
  int64_t now_ms = 0;
  int64_t max_age_ms = 10 * 60 * 1000;  // issued-at no older than this, and not in the future
                                        // beyond a minute of skew
};

/// Checks domain (ASCII case-insensitive), URI, version, chain id, issued-at, expiration and
/// not-before (with the same minute of skew) but not the nonce's single use: the caller holds the
/// nonce store. A URI prefix matches at a boundary: "https://a.example" takes
/// "https://a.example/login" but not "https://a.example.evil". kPermissionDenied naming the failed
/// field first ("chain id: ...").
Result<void> Check(const Message& m, const Expect& expect);

}  // namespace sg::plugins::siwe
