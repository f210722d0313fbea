// What `streamgate upload` makes of its arguments: sizes such as 8MiB, and a file's media type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace sg::cli {

/// "8M", "8MiB", "512k", "1G", "1048576": bytes (K, M and G are binary). nullopt when malformed
/// or past 2^64.
std::optional<uint64_t> ParseSize(const std::string& text);

/// The media type of a file by its extension, for the filetype metadata;
/// application/octet-stream when unknown (the server looks at the bytes anyway).
std::string GuessFiletype(const std::string& path);

}  // namespace sg::cli
