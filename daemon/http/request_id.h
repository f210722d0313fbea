// Request ids: the one a client sent in X-Request-ID when it is usable, a new one otherwise.
// Every response and log line of a request carries it.
#pragma once

#include <string>
#include <string_view>

namespace sg::http {

/// 16 hex digits, random per thread.
std::string NewRequestId();
/// Whether a client's X-Request-ID can be used as it is: 1 to 128 of [A-Za-z0-9._-].
bool UsableRequestId(std::string_view id);

}  // namespace sg::http
