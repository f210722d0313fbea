// The key lists that other files carry, generated from a Schema: the KEYS table of
// streamgate.yaml(5) and the key lists of the bash, zsh and fish completions. Each file holds its
// list between two marker lines; tools/config_keys rewrites or checks that text.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/schema.h"

namespace sg::config {

enum class KeyDocFormat { kMan, kBash, kZsh, kFish };

/// The text between the markers for one format, ending in a newline.
std::string RenderKeyDocs(const Schema& schema, KeyDocFormat format);

/// The marker lines of a format: the text starting the first, and the whole second.
std::string_view BeginMarker(KeyDocFormat format);
std::string_view EndMarker(KeyDocFormat format);

/// `file` with the lines between its markers replaced by `generated`; nullopt when the file
/// lacks either marker line.
std::optional<std::string> ReplaceGenerated(std::string_view file, KeyDocFormat format,
                                            std::string_view generated);

}  // namespace sg::config
