// Turns text from a YAML scalar, an environment variable or a flag into a typed Value, checking
// the key's type, range and choices.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/schema.h"

namespace sg::config {

struct ParsedValue {
  std::optional<Value> value;  // set on success
  std::string message;         // on failure: what is wrong
  std::string hint;            // on failure: what to do
};

/// Parses scalar text for a key of any scalar type (not kStringList).
ParsedValue ParseScalar(const KeySpec& spec, std::string_view text);

/// Checks each item of a list for a kStringList key.
ParsedValue ParseList(const KeySpec& spec, std::vector<std::string> items);

/// Parses a list from the environment or a flag: "a,b,c", or "[]" / "" for an empty list.
ParsedValue ParseListText(const KeySpec& spec, std::string_view text);

}  // namespace sg::config
