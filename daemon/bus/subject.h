// NATS-style subjects: dot-separated tokens; in patterns '*' matches one token and '>' (last)
// matches one or more.
#pragma once

#include <string_view>

namespace sg::bus {

/// A subject to publish on: non-empty tokens of printable characters without spaces, no
/// wildcards.
bool ValidSubject(std::string_view subject);
/// A pattern to subscribe with: like a subject, but tokens may be '*', and the last may be '>'.
bool ValidPattern(std::string_view pattern);
/// Whether `subject` matches `pattern`. Both must be valid.
bool Matches(std::string_view pattern, std::string_view subject);

}  // namespace sg::bus
