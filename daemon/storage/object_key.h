// The rules every store applies to object keys (see daemon/plugin_api/storage.h), and the errno
// translation the local store and the tests share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"
#include "daemon/plugin_api/storage.h"

namespace sg::storage {

/// Accepts a key as storage.h describes, or says why not (kInvalidArgument), naming the key.
Result<void> ValidateKey(std::string_view key);
/// Accepts a List prefix: "" or the start of a valid key (it may end in '/' or mid-segment).
Result<void> ValidatePrefix(std::string_view prefix);
/// The key with control bytes and backslashes escaped, for messages.
std::string PrintableKey(std::string_view key);
/// An Error for a failed system call: ENOSPC, EDQUOT and EFBIG give kNoSpace; EACCES, EPERM and
/// EROFS kPermissionDenied; ENOENT kNotFound; the rest kIo. `what` says what was tried, where.
Error ErrnoError(int err, const std::string& what);
/// The first byte and the length a range covers in an object of `size` bytes; kInvalidArgument
/// (naming the key and size) when it starts at or past the end, except 0 of an empty object.
Result<std::pair<uint64_t, uint64_t>> ResolveRange(const ByteRange& range, uint64_t size,
                                                   std::string_view key);

}  // namespace sg::storage
