// The upload plugin's answers in the tus protocol's shape: its headers, and errors in the
// gateway's JSON shape ({"error", "code", "hint"}) that say what to do next.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "daemon/plugin_api/http.h"

namespace sg::plugins::upload {

/// An answer with the tus headers every response carries.
HttpResponse Tus(unsigned status);
/// An error in the gateway's JSON shape, with what to do next.
HttpResponse TusError(unsigned status, std::string_view code, const std::string& message,
                      const std::string& hint);
HttpResponse Missing(const std::string& id);
HttpResponse Gone(const std::string& id, const std::string& why);
/// The media store failed: 507 when it is full, 503 when it cannot be reached, else 500.
HttpResponse StorageError(const Error& e);
/// Checks Tus-Resumable; the 412 to send when it is missing or another version.
std::optional<HttpResponse> CheckVersion(const HttpRequest& req);
/// Upload-Offset, Upload-Length (or Upload-Defer-Length), Upload-Expires and Upload-Concat.
void AddOffsetHeaders(HttpResponse& res, uint64_t offset, const std::optional<uint64_t>& length,
                      int64_t expires, bool partial);
/// The answer when the deployment-wide lease of an upload (TakeLease) was refused: 423 while
/// another instance holds it, 503 when the lock store cannot be reached.
HttpResponse LeaseRefused(const Error& e, const std::string& id);

}  // namespace sg::plugins::upload
