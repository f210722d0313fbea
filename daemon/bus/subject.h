// NATS-style subjects: dot-separated tokens; in patterns '*' matches one token and '>' (last)
// matches one or more.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sg::bus {

/// How many subject prefixes Bus::StatsByPrefix tells apart, so that metrics labels stay bounded.
inline constexpr size_t kMaxPrefixes = 64;

/// A subject to publish on: non-empty tokens of printable characters without spaces, no
/// wildcards.
bool ValidSubject(std::string_view subject);
/// A pattern to subscribe with: like a subject, but tokens may be '*', and the last may be '>'.
bool ValidPattern(std::string_view pattern);
/// Whether `subject` matches `pattern`. Both must be valid.
bool Matches(std::string_view pattern, std::string_view subject);

/// The entry of `by_prefix` (a map keyed by prefix) that counts `subject`: the one for its first
/// token, made if needed; once kMaxPrefixes prefixes are known, a new one counts under "other".
/// The caller guards the map.
template <typename Map>
typename Map::mapped_type& PrefixEntry(Map& by_prefix, std::string_view subject) {
  std::string prefix(subject.substr(0, subject.find('.')));
  if (!by_prefix.contains(prefix) && by_prefix.size() >= kMaxPrefixes) prefix = "other";
  return by_prefix[prefix];
}

}  // namespace sg::bus
