#include "daemon/plugin_api/http_conditional.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace sg {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// If-None-Match: "*" or a list of entity tags, compared weakly (RFC 9110 13.1.2).
bool NoneMatchHits(std::string_view header, std::string_view etag) {
  if (Trim(header) == "*") return true;
  while (!header.empty()) {
    const size_t comma = header.find(',');
    std::string_view tag = Trim(header.substr(0, comma));
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

std::optional<uint64_t> Number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::string HttpDate(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buffer;
}

std::optional<std::time_t> ParseHttpDate(std::string_view text) {
  const std::string s(Trim(text));
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return timegm(&tm);
}

RangePlan PlanConditional(const ConditionalHeaders& request, const Representation& what) {
  RangePlan plan;
  plan.count = what.size;
  if (!request.get_or_head) return plan;
  const std::string& etag = what.etag;
  const std::time_t mtime = what.modified;
  const uint64_t size = what.size;
  // If-None-Match wins over If-Modified-Since when both are sent (RFC 9110 13.2.2).
  if (!request.if_none_match.empty()) {
    if (NoneMatchHits(request.if_none_match, etag)) plan.status = 304;
    if (plan.status == 304) return plan;
  } else if (!request.if_modified_since.empty()) {
    if (const auto since = ParseHttpDate(request.if_modified_since); since && mtime <= *since) {
      plan.status = 304;
      return plan;
    }
  }
  std::string_view range = Trim(request.range);
  if (range.empty() || !range.starts_with("bytes=")) return plan;
  // If-Range: the range applies only to the representation the client already holds.
  if (!request.if_range.empty()) {
    const std::string_view validator = Trim(request.if_range);
    const bool same = validator.starts_with('"') ? validator == etag
                                                 : ParseHttpDate(validator).value_or(-1) == mtime;
    if (!same) return plan;
  }
  range.remove_prefix(6);
  if (range.find(',') != std::string_view::npos) return plan;  // several ranges: send it all
  const size_t dash = range.find('-');
  if (dash == std::string_view::npos) return plan;  // not a range: ignore it
  const std::string_view first_text = Trim(range.substr(0, dash));
  const std::string_view last_text = Trim(range.substr(dash + 1));
  if (first_text.empty()) {
    // "-N": the last N bytes.
    const auto suffix = Number(last_text);
    if (!suffix) return plan;
    if (*suffix == 0 || size == 0) {
      plan.status = 416;
      return plan;
    }
    const uint64_t n = std::min(*suffix, size);
    plan.status = 206;
    plan.first = size - n;
    plan.count = n;
    return plan;
  }
  const auto first = Number(first_text);
  if (!first) return plan;
  std::optional<uint64_t> last;
  if (!last_text.empty()) {
    last = Number(last_text);
    if (!last || *last < *first) return plan;  // invalid: ignored, as RFC 9110 allows
  }
  if (*first >= size) {
    plan.status = 416;
    return plan;
  }
  const uint64_t end = last ? std::min(*last, size - 1) : size - 1;
  plan.status = 206;
  plan.first = *first;
  plan.count = end - *first + 1;
  return plan;
}

FileMeta FileMetaOf(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_size), static_cast<uint64_t>(st.st_ino),
          int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
}

std::string StrongETag(const FileMeta& meta) {
  return fmt::format("\"{:x}-{:x}-{:x}\"", meta.inode, meta.size,
                     static_cast<uint64_t>(meta.mtime_ns));
}

}  // namespace sg
