// The request parser every session uses: Beast's parser with every size a client controls
// bounded, and RFC 9112's framing rules applied as soon as the header section is in, before a
// byte of the body is read. Beast 1.74 does not count the trailer section against the header
// limit and throws (std::length_error) on a field of 64 KiB; here nothing throws, trailers are
// counted with the headers and then discarded, and each refusal says which status it deserves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace sg::http {

/// Why the server refused or dropped something: a bounded label for
/// `streamgate_http_rejected_total{reason}`.
enum class RejectReason : size_t {
  kHeaderLimit,   // 431: the header and trailer sections, or their field count
  kBodyLimit,     // 413
  kBadRequest,    // 400: malformed
  kFraming,       // 400 or 501: Transfer-Encoding and Content-Length
  kHost,          // 400: no Host, several, or an invalid one
  kTarget,        // 400: neither origin nor absolute form
  kTimeout,       // the request's deadline passed mid-request
  kConnections,   // closed at accept: server.max_connections or the descriptor budget
  kAcceptFailed,  // accept() failed, out of descriptors say
  kException,     // something threw on an I/O thread; the connection was closed
  kCount
};
std::string_view RejectReasonName(RejectReason reason);
/// What a client refused for `reason` can do next, for the "hint" of the JSON body.
std::string_view RejectHint(RejectReason reason);
/// The hint for a body over `limit` bytes.
std::string BodyLimitHint(uint64_t limit);

/// Why a request is refused: the status to answer (the connection then closes) and a message a
/// client can act on.
struct Rejection {
  unsigned status;
  RejectReason reason;
  std::string_view message;  // for the JSON body
};

struct RequestLimits {
  size_t max_header_bytes = 16 * 1024;  // the header and trailer sections together
  size_t max_fields = 100;              // header and trailer fields together
};

/// Where the request's path starts in its target: the origin form "/p?q" as it is, the
/// absolute form "http://host/p?q" from its first slash after the authority. Empty when the
/// target is neither (and so refused).
std::string_view OriginForm(std::string_view target);

/// The checks RFC 9112 asks of a request head: one valid Host on HTTP/1.1, a target in origin
/// or absolute form, and framing that is unambiguous (only "chunked" as a transfer coding, never
/// with Content-Length).
std::optional<Rejection> CheckRequestHead(const boost::beast::http::request_header<>& head);

class RequestParser final
    : public boost::beast::http::parser<true, boost::beast::http::string_body> {
 public:
  explicit RequestParser(const RequestLimits& limits);

  /// Set when the parser stopped because the request breaks a rule; the error code the read
  /// returned is then only a carrier.
  const std::optional<Rejection>& rejection() const { return rejection_; }

 private:
  void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::beast::error_code& ec) override;
  void on_header_impl(boost::beast::error_code& ec) override;

  RequestLimits limits_;
  size_t field_bytes_ = 0;
  size_t fields_ = 0;
  std::optional<Rejection> rejection_;
};

}  // namespace sg::http
