#include "daemon/http/request_guard.h"

#include <array>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

namespace sg::http {

std::string_view RejectReasonName(RejectReason reason) {
  static constexpr std::array<std::string_view, static_cast<size_t>(RejectReason::kCount)> kNames =
      {"header_limit", "body_limit", "bad_request", "framing",       "host",
       "target",       "timeout",    "connections", "accept_failed", "exception"};
  const auto i = static_cast<size_t>(reason);
  return i < kNames.size() ? kNames[i] : "unknown";
}

std::string_view RejectHint(RejectReason reason) {
  static constexpr std::array<std::string_view, static_cast<size_t>(RejectReason::kCount)> kHints =
      {"send fewer or smaller header fields (the server takes server.max_header_bytes and "
       "server.max_header_fields)",
       "send a smaller body (server.max_body_bytes, or the route's own limit)",
       "send a well-formed HTTP/1.1 request (RFC 9112)",
       "frame the body with one Content-Length, or with Transfer-Encoding: chunked alone",
       "send exactly one Host header with a valid host",
       "send a target that starts with '/', or an absolute http URI",
       "send the whole request within server.read_timeout",
       "retry shortly: the server is at server.max_connections",
       "retry shortly",
       "retry; if it happens again, report it with the X-Request-ID"};
  const auto i = static_cast<size_t>(reason);
  return i < kHints.size() ? kHints[i] : "retry";
}

std::string BodyLimitHint(uint64_t limit) {
  return "send a smaller body: this route takes at most " + std::to_string(limit) + " bytes";
}

namespace bhttp = boost::beast::http;

namespace {

bool IsHostChar(char c) {
  // RFC 3986 reg-name, IP literals and a port: unreserved, sub-delims, '%', ':', '[' and ']'.
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("-._~!$&'()*+,;=%:[]").find(c) != std::string_view::npos;
}

std::string_view View(boost::beast::string_view s) { return {s.data(), s.size()}; }

bool IEquals(std::string_view a, std::string_view b) {
  return boost::beast::iequals(boost::beast::string_view(a.data(), a.size()),
                               boost::beast::string_view(b.data(), b.size()));
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view OriginForm(std::string_view target) {
  if (target.starts_with('/')) return target;
  // The absolute form: a scheme of ours, an authority, then the path (or none: "/").
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() && IEquals(target.substr(0, scheme.size()), scheme)) {
      const std::string_view rest = target.substr(scheme.size());
      const size_t end = rest.find_first_of("/?");
      if (end == 0) return {};  // no authority
      if (end == std::string_view::npos) return "/";
      if (rest[end] == '?') return {};  // "http://host?q": no path to route
      return rest.substr(end);
    }
  }
  return {};
}

std::optional<Rejection> CheckRequestHead(const bhttp::request_header<>& head) {
  // The target: origin form, or absolute form (which RFC 9112 says servers must accept).
  if (OriginForm(View(head.target())).empty()) {
    return Rejection{400, RejectReason::kTarget,
                     "the request target must start with '/' (origin form) or be an absolute "
                     "http URI"};
  }
  // Host: exactly one on HTTP/1.1, and a valid one wherever it appears.
  size_t hosts = 0;
  for (const auto& field : head) {
    if (field.name() != bhttp::field::host) continue;
    ++hosts;
    const std::string_view value = View(field.value());
    for (char c : value) {
      if (!IsHostChar(c))
        return Rejection{400, RejectReason::kHost, "the Host header is not a valid host"};
    }
  }
  if (hosts > 1) return Rejection{400, RejectReason::kHost, "more than one Host header"};
  if (hosts == 0 && head.version() >= 11) {
    return Rejection{400, RejectReason::kHost, "an HTTP/1.1 request needs a Host header"};
  }
  // Framing: Transfer-Encoding is "chunked" alone, once, on HTTP/1.1, and never beside
  // Content-Length. Any other reading is how requests are smuggled past a proxy.
  size_t codings = 0;
  bool chunked_only = true;
  for (const auto& field : head) {
    if (field.name() != bhttp::field::transfer_encoding) continue;
    ++codings;
    if (!IEquals(Trim(View(field.value())), "chunked")) chunked_only = false;
  }
  if (codings > 0) {
    if (head.version() < 11) {
      return Rejection{400, RejectReason::kFraming,
                       "Transfer-Encoding is not allowed on an HTTP/1.0 request"};
    }
    if (head.find(bhttp::field::content_length) != head.end()) {
      return Rejection{400, RejectReason::kFraming,
                       "a request may not carry both Content-Length and Transfer-Encoding"};
    }
    if (codings > 1 || !chunked_only) {
      return Rejection{501, RejectReason::kFraming,
                       "only 'Transfer-Encoding: chunked' is implemented; send the body with "
                       "Content-Length or plain chunked"};
    }
  }
  return std::nullopt;
}

RequestParser::RequestParser(const RequestLimits& limits) : limits_(limits) {
  header_limit(static_cast<uint32_t>(limits.max_header_bytes));
}

void RequestParser::on_field_impl(bhttp::field name, boost::beast::string_view name_string,
                                  boost::beast::string_view value, boost::beast::error_code& ec) {
  // "name: value\r\n": the same count for a header and a trailer field.
  field_bytes_ += name_string.size() + value.size() + 4;
  ++fields_;
  if (field_bytes_ > limits_.max_header_bytes) {
    rejection_ = Rejection{431, RejectReason::kHeaderLimit,
                           "the header and trailer sections are larger than this server takes"};
    ec = bhttp::error::header_limit;
    return;
  }
  if (fields_ > limits_.max_fields) {
    rejection_ = Rejection{431, RejectReason::kHeaderLimit, "too many header or trailer fields"};
    ec = bhttp::error::header_limit;
    return;
  }
  // Trailer fields are counted, then dropped (RFC 9110 6.5.1): no handler reads them, and a
  // trailer must not pose as a header such as Host.
  if (is_header_done()) return;
  get().insert(name, name_string, value);
}

void RequestParser::on_header_impl(boost::beast::error_code& ec) {
  rejection_ = CheckRequestHead(get().base());
  if (rejection_) ec = bhttp::error::bad_field;
}

}  // namespace sg::http
