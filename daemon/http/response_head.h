// The head of a response, built by hand into a buffer the session keeps (no per-field
// allocations), and the JSON string escaping of the server's own error bodies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sg::http {

struct ResponseHead {
  /// Status line, Server, Date, Content-Type, X-Request-ID, the handler's headers (any with a
  /// line break or a colon in its name dropped), Content-Length when given, Connection: close
  /// when `close`.
  static void Build(std::string& head, unsigned status, std::string_view request_id,
                    std::string_view content_type,
                    const std::vector<std::pair<std::string, std::string>>& headers,
                    std::optional<uint64_t> content_length, bool close);
};

/// `text` as a JSON string, quotes included; control and non-ASCII bytes as \u escapes.
std::string JsonString(std::string_view text);

}  // namespace sg::http
