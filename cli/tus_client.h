// A small tus 1.0.0 client over libcurl for `streamgate upload`: one connection kept alive for
// the requests of one upload, headers collected by name, and a hook that sees the bytes a PATCH
// has sent so far and may abort it (Ctrl-C).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sg::cli {

/// One HTTP answer: its status, its headers (names in lower case; the last of a repeated name
/// wins) and its body.
struct HttpReply {
  long status = 0;
  std::map<std::string, std::string> headers;
  std::string body;

  /// The header's value, or "" when it is missing.
  std::string Header(const std::string& lower_name) const;
  /// "HTTP STATUS: MESSAGE", the message from a gateway error body {"error":{"message":...}},
  /// else the body's first line; "HTTP STATUS" alone when there is neither.
  std::string Problem() const;
};

/// Called while a request sends its body, with the bytes sent so far; returning false aborts the
/// request, which then fails with ErrorCode::kFailedPrecondition ("interrupted").
using SendProgress = std::function<bool(uint64_t sent)>;

/// Not thread-safe: one upload, one thread.
class TusClient {
 public:
  /// Fails only when libcurl cannot make a handle.
  static Result<std::unique_ptr<TusClient>> Create();
  ~TusClient();
  TusClient(const TusClient&) = delete;
  TusClient& operator=(const TusClient&) = delete;

  /// Sends at most `max_bytes_per_second` of request bodies (0: no limit).
  void LimitRate(uint64_t max_bytes_per_second) { rate_limit_ = max_bytes_per_second; }
  /// Checked between transfers and while one runs; the request stops when it returns false.
  void SetProgress(SendProgress progress) { progress_ = std::move(progress); }

  /// Sends `method` to `url` with `headers` ("Name: value") and `body`. Errors: kUnavailable when
  /// the server could not be reached or the connection broke (the message is curl's),
  /// kFailedPrecondition when SetProgress's hook stopped it. An HTTP error status is a reply.
  Result<HttpReply> Send(const std::string& method, const std::string& url,
                         const std::vector<std::string>& headers, std::string_view body = {});

 private:
  struct Impl;
  explicit TusClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  uint64_t rate_limit_ = 0;
  SendProgress progress_;
};

/// `url` resolved against `base` (an absolute URL): an absolute URL stays, "/path" takes base's
/// scheme and authority, anything else is taken relative to base's folder.
std::string ResolveUrl(const std::string& base, const std::string& url);

/// Base64 (RFC 4648, padded) of `bytes`.
std::string Base64(std::string_view bytes);

/// "sha1 BASE64" of `bytes`: the value of an Upload-Checksum header.
std::string Sha1Checksum(std::string_view bytes);

}  // namespace sg::cli
