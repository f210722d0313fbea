#include "daemon/bus/subject.h"

namespace sg::bus {
namespace {

// Calls fn(token, is_last) for each token; false when a token is empty or has a bad character.
template <typename Fn>
bool ForEachToken(std::string_view text, Fn&& fn) {
  if (text.empty() || text.size() > 1024) return false;
  size_t start = 0;
  for (;;) {
    const size_t dot = text.find('.', start);
    const std::string_view token =
        text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (token.empty()) return false;
    for (char c : token) {
      if (c <= ' ' || c == 0x7f) return false;
    }
    if (!fn(token, dot == std::string_view::npos)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace

bool ValidSubject(std::string_view subject) {
  return ForEachToken(subject, [](std::string_view token, bool) {
    return token.find_first_of("*>") == std::string_view::npos;
  });
}

bool ValidPattern(std::string_view pattern) {
  return ForEachToken(pattern, [](std::string_view token, bool last) {
    if (token == "*") return true;
    if (token == ">") return last;
    return token.find_first_of("*>") == std::string_view::npos;
  });
}

bool Matches(std::string_view pattern, std::string_view subject) {
  size_t p = 0;
  size_t s = 0;
  for (;;) {
    const size_t p_end = pattern.find('.', p);
    const std::string_view p_token =
        pattern.substr(p, p_end == std::string_view::npos ? std::string_view::npos : p_end - p);
    if (s > subject.size()) return false;
    if (p_token == ">") return s < subject.size();  // at least one token remains
    const size_t s_end = subject.find('.', s);
    const std::string_view s_token =
        subject.substr(s, s_end == std::string_view::npos ? std::string_view::npos : s_end - s);
    if (s == subject.size() && s_token.empty()) return false;
    if (p_token != "*" && p_token != s_token) return false;
    const bool p_done = p_end == std::string_view::npos;
    const bool s_done = s_end == std::string_view::npos;
    if (p_done || s_done) return p_done && s_done;
    p = p_end + 1;
    s = s_end + 1;
  }
}

}  // namespace sg::bus
