#include "daemon/plugins/auth/siwe.h"

#include <charconv>
#include <ctime>

#include <fmt/format.h>

#include "common/strings.h"
#include "daemon/plugins/auth/ethereum.h"

namespace sg::plugins::siwe {
namespace {

constexpr std::string_view kHeaderSuffix = " wants you to sign in with your Ethereum account:";
constexpr int64_t kSkewMs = 60 * 1000;

bool IsAlpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
// RFC 3986's character classes.
bool IsUnreserved(char c) {
  return IsAlpha(c) || IsDigit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
bool IsSubDelim(char c) {
  return std::string_view("!$&'()*+,;=").find(c) != std::string_view::npos;
}
bool IsGenDelim(char c) { return std::string_view(":/?#[]@").find(c) != std::string_view::npos; }
bool IsReserved(char c) { return IsSubDelim(c) || IsGenDelim(c); }

// Every character of `s` passes `ok`, or is a %HH escape when `percent` allows them.
template <typename Pred>
bool AllOf(std::string_view s, Pred ok, bool percent) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (ok(s[i])) continue;
    if (percent && s[i] == '%' && i + 2 < s.size() && IsHex(s[i + 1]) && IsHex(s[i + 2])) {
      i += 2;
      continue;
    }
    return false;
  }
  return true;
}

// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
bool IsScheme(std::string_view s) {
  if (s.empty() || !IsAlpha(s[0])) return false;
  return AllOf(
      s, [](char c) { return IsAlpha(c) || IsDigit(c) || c == '+' || c == '-' || c == '.'; },
      false);
}

// authority = [ userinfo "@" ] host [ ":" port ], by its character set, with a numeric port.
bool IsAuthority(std::string_view s) {
  if (s.empty()) return false;
  if (!AllOf(
          s,
          [](char c) {
            return IsUnreserved(c) || IsSubDelim(c) || c == ':' || c == '@' || c == '[' || c == ']';
          },
          true)) {
    return false;
  }
  std::string_view host = s.substr(s.rfind('@') == std::string_view::npos ? 0 : s.rfind('@') + 1);
  if (host.empty()) return false;
  if (host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    host.remove_prefix(close + 1);
    if (host.empty()) return true;
    if (host.front() != ':') return false;
    return AllOf(host.substr(1), IsDigit, false);
  }
  if (host.find_first_of("[]") != std::string_view::npos) return false;
  const size_t colon = host.find(':');
  if (colon == 0) return false;
  return colon == std::string_view::npos || AllOf(host.substr(colon + 1), IsDigit, false);
}

// URI = scheme ":" hier-part [ "?" query ] [ "#" fragment ], by its character set.
bool IsUri(std::string_view s) {
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos || !IsScheme(s.substr(0, colon))) return false;
  return AllOf(
      s.substr(colon + 1), [](char c) { return IsUnreserved(c) || IsReserved(c); }, true);
}

// Fixed-width decimal digits.
bool Digits(std::string_view s, size_t at, size_t n, int* out) {
  if (at + n > s.size()) return false;
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (!IsDigit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

Error Line(size_t line, std::string_view what) {
  return Fail(ErrorCode::kInvalidArgument, fmt::format("line {}: {}", line + 1, what));
}

Error Denied(std::string_view field, std::string_view what) {
  return Fail(ErrorCode::kPermissionDenied, fmt::format("{}: {}", field, what));
}

std::string FormatMs(int64_t ms) {
  const int64_t s = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  std::tm tm{};
  const auto t = static_cast<std::time_t>(s);
  if (gmtime_r(&t, &tm) == nullptr) return std::to_string(ms);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

}  // namespace

Result<int64_t> ParseRfc3339(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("'{}' is not an RFC 3339 date-time: {}", Printable(text), why));
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!Digits(text, 0, 4, &year) || text.size() < 19 || text[4] != '-' ||
      !Digits(text, 5, 2, &month) || text[7] != '-' || !Digits(text, 8, 2, &day) ||
      (text[10] != 'T' && text[10] != 't') || !Digits(text, 11, 2, &hour) || text[13] != ':' ||
      !Digits(text, 14, 2, &minute) || text[16] != ':' || !Digits(text, 17, 2, &second)) {
    return bad("expected YYYY-MM-DDTHH:MM:SS followed by Z or an offset");
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) {
    return bad("no such date");
  }
  // 60 is a leap second, which the epoch count folds into the next minute's first.
  if (hour > 23 || minute > 59 || second > 60) return bad("no such time of day");
  size_t at = 19;
  int64_t fraction_ms = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    const size_t start = at;
    while (at < text.size() && IsDigit(text[at])) {
      if (at - start < 3) fraction_ms = fraction_ms * 10 + (text[at] - '0');
      ++at;
    }
    if (at == start) return bad("a '.' without fractional digits");
    for (size_t n = at - start; n < 3; ++n) fraction_ms *= 10;
  }
  int64_t offset_minutes = 0;
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    int oh = 0, om = 0;
    if (!Digits(text, at + 1, 2, &oh) || at + 3 >= text.size() || text[at + 3] != ':' ||
        !Digits(text, at + 4, 2, &om) || oh > 23 || om > 59) {
      return bad("the offset is not +HH:MM or -HH:MM");
    }
    offset_minutes = (text[at] == '-' ? -1 : 1) * (oh * 60 + om);
    at += 6;
  } else {
    return bad("no time zone (Z or +HH:MM)");
  }
  if (at != text.size()) return bad("text after the time zone");
  const int64_t seconds = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                          second - offset_minutes * 60;
  return seconds * 1000 + fraction_ms;
}

Result<Message> Parse(std::string_view text) {
  if (const size_t cr = text.find('\r'); cr != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                "the message has a carriage return (\\r); lines end with \\n alone");
  }
  std::vector<std::string_view> lines;
  for (size_t start = 0;;) {
    const size_t nl = text.find('\n', start);
    lines.push_back(text.substr(start, nl == std::string_view::npos ? nl : nl - start));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  Message m;
  size_t i = 0;
  auto field = [&](std::string_view label) -> std::optional<std::string_view> {
    if (i >= lines.size() || !lines[i].starts_with(label)) return std::nullopt;
    return lines[i].substr(label.size());
  };

  // ${scheme}://${domain} wants you to sign in with your Ethereum account:
  std::string_view head = lines[0];
  if (!head.ends_with(kHeaderSuffix)) {
    return Line(0, fmt::format("expected '<domain>{}'", kHeaderSuffix));
  }
  head.remove_suffix(kHeaderSuffix.size());
  if (const size_t sep = head.find("://"); sep != std::string_view::npos) {
    if (!IsScheme(head.substr(0, sep))) {
      return Line(0, fmt::format("'{}' is not a URI scheme", Printable(head.substr(0, sep))));
    }
    m.scheme = head.substr(0, sep);
    head.remove_prefix(sep + 3);
  }
  if (!IsAuthority(head)) {
    return Line(0, fmt::format("the domain '{}' is not an RFC 3986 authority", Printable(head)));
  }
  m.domain = head;

  // ${address}, EIP-55 checksummed.
  i = 1;
  if (i >= lines.size()) return Line(i, "expected the address");
  Result<eth::Address> address = eth::ParseAddress(lines[i]);
  if (!address) return Line(i, address.error().message);
  const std::string checksummed = eth::ChecksumAddress(*address);
  if (checksummed != lines[i]) {
    return Line(i, fmt::format("the address is not in its EIP-55 form {}", checksummed));
  }
  m.address = checksummed;

  // An empty line, then either another empty line or the statement and an empty line.
  i = 2;
  if (i >= lines.size() || !lines[i].empty())
    return Line(i, "expected an empty line after the address");
  i = 3;
  if (i >= lines.size()) return Line(i, "expected an empty line or a statement");
  if (!lines[i].empty()) {
    if (!AllOf(
            lines[i], [](char c) { return IsReserved(c) || IsUnreserved(c) || c == ' '; }, false)) {
      return Line(i,
                  "the statement has a character outside RFC 3986's reserved and unreserved "
                  "characters and space");
    }
    m.statement = lines[i];
    i = 4;
    if (i >= lines.size() || !lines[i].empty())
      return Line(i, "expected an empty line after the statement");
  }
  ++i;

  std::optional<std::string_view> v = field("URI: ");
  if (!v) return Line(i, "expected 'URI: '");
  if (!IsUri(*v)) return Line(i, fmt::format("'{}' is not an RFC 3986 URI", Printable(*v)));
  m.uri = *v;
  ++i;

  v = field("Version: ");
  if (!v) return Line(i, "expected 'Version: '");
  if (*v != "1") return Line(i, fmt::format("version '{}' is not 1", Printable(*v)));
  m.version = *v;
  ++i;

  v = field("Chain ID: ");
  if (!v) return Line(i, "expected 'Chain ID: '");
  const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), m.chain_id);
  if (v->empty() || !AllOf(*v, IsDigit, false) || ec != std::errc() ||
      end != v->data() + v->size()) {
    return Line(i, fmt::format("the chain id '{}' is not a decimal number", Printable(*v)));
  }
  ++i;

  v = field("Nonce: ");
  if (!v) return Line(i, "expected 'Nonce: '");
  if (v->size() < 8 || !AllOf(
                           *v, [](char c) { return IsAlpha(c) || IsDigit(c); }, false)) {
    return Line(i, "the nonce is not at least 8 letters and digits");
  }
  m.nonce = *v;
  ++i;

  v = field("Issued At: ");
  if (!v) return Line(i, "expected 'Issued At: '");
  Result<int64_t> t = ParseRfc3339(*v);
  if (!t) return Line(i, t.error().message);
  m.issued_at = *v;
  m.issued_at_ms = *t;
  ++i;

  if ((v = field("Expiration Time: "))) {
    t = ParseRfc3339(*v);
    if (!t) return Line(i, t.error().message);
    m.expiration_time = std::string(*v);
    m.expiration_ms = *t;
    ++i;
  }
  if ((v = field("Not Before: "))) {
    t = ParseRfc3339(*v);
    if (!t) return Line(i, t.error().message);
    m.not_before = std::string(*v);
    m.not_before_ms = *t;
    ++i;
  }
  if ((v = field("Request ID: "))) {
    if (!AllOf(
            *v, [](char c) { return IsUnreserved(c) || IsSubDelim(c) || c == ':' || c == '@'; },
            true)) {
      return Line(i, "the request id has a character outside RFC 3986's pchar");
    }
    m.request_id = std::string(*v);
    ++i;
  }
  if (i < lines.size() && lines[i] == "Resources:") {
    for (++i; i < lines.size(); ++i) {
      if (i + 1 == lines.size() && lines[i].empty()) break;  // named below
      if (!lines[i].starts_with("- ")) return Line(i, "expected a resource: '- ' and a URI");
      const std::string_view uri = lines[i].substr(2);
      if (!IsUri(uri))
        return Line(i, fmt::format("the resource '{}' is not an RFC 3986 URI", Printable(uri)));
      m.resources.emplace_back(uri);
    }
  }
  if (i < lines.size()) {
    if (i + 1 == lines.size() && lines[i].empty()) {
      return Line(i, "the message ends with a line break; the last line has none");
    }
    return Line(i, fmt::format("unexpected '{}' (the optional fields are Expiration Time, Not "
                               "Before, Request ID and Resources, in that order)",
                               Printable(lines[i])));
  }
  return m;
}

Result<void> Check(const Message& m, const Expect& expect) {
  if (ToLower(m.domain) != ToLower(expect.domain)) {
    return Denied("domain", fmt::format("the message is for '{}', not '{}'", Printable(m.domain),
                                        Printable(expect.domain)));
  }
  if (!expect.uri_prefixes.empty()) {
    bool ok = false;
    for (const std::string& prefix : expect.uri_prefixes) {
      if (!m.uri.starts_with(prefix)) continue;
      // A prefix ends at a path boundary: https://a.example does not take https://a.example.evil.
      ok = m.uri.size() == prefix.size() || prefix.ends_with('/') ||
           std::string_view("/?#").find(m.uri[prefix.size()]) != std::string_view::npos;
      if (ok) break;
    }
    if (!ok)
      return Denied("uri", fmt::format("'{}' is not a URI of this server", Printable(m.uri)));
  }
  if (m.version != "1")
    return Denied("version", fmt::format("'{}' is not 1", Printable(m.version)));
  if (m.chain_id != expect.chain_id) {
    return Denied("chain id", fmt::format("the message is for chain {}, this server takes chain {}",
                                          m.chain_id, expect.chain_id));
  }
  if (m.issued_at_ms > expect.now_ms + kSkewMs) {
    return Denied("issued at", fmt::format("{} is in the future; check the clock", m.issued_at));
  }
  if (m.issued_at_ms < expect.now_ms - expect.max_age_ms) {
    return Denied("issued at", fmt::format("{} is more than {} s ago; sign in again", m.issued_at,
                                           expect.max_age_ms / 1000));
  }
  if (m.expiration_time && m.expiration_ms <= expect.now_ms) {
    return Denied("expiration time",
                  fmt::format("the message expired at {} (now {}); sign in again",
                              *m.expiration_time, FormatMs(expect.now_ms)));
  }
  if (m.not_before && m.not_before_ms > expect.now_ms + kSkewMs) {
    return Denied("not before", fmt::format("the message is not valid before {}", *m.not_before));
  }
  return {};
}

}  // namespace sg::plugins::siwe
