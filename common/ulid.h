// ULIDs: 128-bit ids, 48 bits of milliseconds then 80 random, written as 26 characters of
// Crockford's base32, so that they sort by creation time as text. Videos, uploads and jobs use
// them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sg {

/// A new ULID for `now_ms` (milliseconds since the Unix epoch). Ids made in one process sort in
/// the order they were made, even within one millisecond (the random part counts up) or when the
/// clock steps back by less than 10 s. Thread-safe.
std::string NewUlid(int64_t now_ms);
/// Now, as the system clock says.
std::string NewUlid();

/// Whether `id` is 26 characters of upper-case Crockford base32 whose first is at most '7'.
bool IsUlid(std::string_view id);

}  // namespace sg
