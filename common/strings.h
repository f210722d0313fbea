// Small string helpers shared by the CLI, the daemon and the config loader.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sg {

/// The Levenshtein distance between a and b.
size_t EditDistance(std::string_view a, std::string_view b);

/// The candidate closest to `word` if it is close enough to be a plausible typo, else "".
std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates);

/// " (did you mean 'x'?)" for the closest candidate, or "" when none is close.
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates);

/// Joins items with a separator.
std::string Join(const std::vector<std::string>& items, std::string_view separator);

/// Splits on a single character, trimming spaces around each piece and dropping empty ones.
std::vector<std::string> SplitList(std::string_view text, char separator);

/// ASCII lower case.
std::string ToLower(std::string_view text);

/// Prints a value for a message: printable ASCII as is, other bytes as \xNN, cut at `max` bytes.
std::string Printable(std::string_view text, size_t max = 60);

}  // namespace sg
