#include "daemon/plugins/upload/responses.h"

#include <fmt/format.h>

#include "daemon/plugins/upload/tus.h"
#include "daemon/plugins/upload/upload_state.h"

namespace sg::plugins::upload {

HttpResponse Tus(unsigned status) {
  HttpResponse res;
  res.status = status;
  res.content_type = "application/json";
  res.headers.emplace_back("Tus-Resumable", std::string(tus::kVersion));
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

// An error in the gateway's JSON shape, with what to do next.
HttpResponse TusError(unsigned status, std::string_view code, const std::string& message,
                      const std::string& hint) {
  HttpResponse res = Tus(status);
  res.body = Dump({{"error", message}, {"code", std::string(code)}, {"hint", hint}});
  if (status == 412) res.headers.emplace_back("Tus-Version", std::string(tus::kVersion));
  if (status == 503 || status == 429) res.headers.emplace_back("Retry-After", "1");
  return res;
}

HttpResponse Missing(const std::string& id) {
  return TusError(404, "not_found", fmt::format("no upload with id '{}'", id.substr(0, 80)),
                  "create the upload again with POST /api/v1/uploads");
}

HttpResponse Gone(const std::string& id, const std::string& why) {
  return TusError(410, "gone", fmt::format("upload '{}' is gone: {}", id, why),
                  "start a new upload with POST /api/v1/uploads");
}

HttpResponse StorageError(const Error& e) {
  if (e.code == ErrorCode::kNoSpace) {
    return TusError(507, "no_space", e.message,
                    "free space in the media store (storage.path) or raise its quota; the bytes "
                    "received so far are kept, resume once there is room");
  }
  if (e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kTimeout) {
    return TusError(503, "unavailable", e.message,
                    "the media store cannot be reached; try again shortly (HEAD for the offset)");
  }
  return TusError(500, "storage", e.message,
                  "see the daemon's log ('streamgate logs --plugin upload'); HEAD the upload for "
                  "the offset and resume");
}

// Checks Tus-Resumable; the 412 to send when it is missing or another version.
std::optional<HttpResponse> CheckVersion(const HttpRequest& req) {
  const std::string_view v = req.Header("Tus-Resumable");
  if (v == tus::kVersion) return std::nullopt;
  return TusError(412, "version",
                  v.empty() ? std::string("the Tus-Resumable header is missing")
                            : fmt::format("Tus-Resumable {} is not supported", v.substr(0, 32)),
                  "send 'Tus-Resumable: 1.0.0' (this server speaks tus 1.0.0)");
}

void AddOffsetHeaders(HttpResponse& res, uint64_t offset, const std::optional<uint64_t>& length,
                      int64_t expires, bool partial) {
  res.headers.emplace_back("Upload-Offset", std::to_string(offset));
  if (length) {
    res.headers.emplace_back("Upload-Length", std::to_string(*length));
  } else {
    res.headers.emplace_back("Upload-Defer-Length", "1");
  }
  if ((!length || offset < *length) && expires > 0) {
    res.headers.emplace_back("Upload-Expires", tus::HttpDate(expires));
  }
  if (partial) res.headers.emplace_back("Upload-Concat", "partial");
}

HttpResponse LeaseRefused(const Error& e, const std::string& id) {
  if (e.code == ErrorCode::kFailedPrecondition) {
    HttpResponse res = TusError(
        423, "locked",
        fmt::format("another upload instance is writing upload '{}' now ({})", id, e.message),
        "wait for it to end (or cancel it), then HEAD for the offset; if that instance died, its "
        "lease lapses within 30 seconds");
    // The holder renews its lease every 10 s; a dead one's lapses 30 s after its last renewal.
    res.headers.emplace_back("Retry-After", "10");
    return res;
  }
  return TusError(503, "unavailable", e.message,
                  "the deployment's lock store (NATS JetStream) cannot be reached; try again "
                  "shortly");
}

}  // namespace sg::plugins::upload
