// The metadata plugin's REST surface without the plugin around it: turning query strings and
// bodies into catalogue calls, and results into responses in the gateway's JSON error shape
// ({"error": message, ...}), here with "code", "field" when one field is to blame, and "hint",
// what to do. Pure functions, so that the unit tests reach every branch.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/http.h"

namespace sg::plugins::metadata {

/// An error as a response: the status from the code (400, 404, 409, 503 ...), the JSON body.
/// `field` is named when one field of the request is to blame.
HttpResponse ErrorResponse(const Error& error, std::string_view field = {});
/// A response of `status` with a JSON body for the field-level checks below.
HttpResponse FieldError(unsigned status, std::string_view code, std::string_view field,
                        std::string message, std::string hint);

/// The HTTP status for an error code.
unsigned StatusFor(ErrorCode code);

/// Percent-decodes a query string component ('+' is a space); nullopt for a broken escape.
std::optional<std::string> UrlDecode(std::string_view text);

/// GET /api/v1/videos's query (limit, cursor, state, owner) as a VideoQuery, or the 400 to send.
struct ParsedQuery {
  VideoQuery query;
  std::optional<HttpResponse> error;
};
ParsedQuery ParseListQuery(std::string_view query);

/// A PATCH body (title, description, visibility) as a VideoEdit, or the 400/413 to send.
struct ParsedEdit {
  VideoEdit edit;
  std::optional<HttpResponse> error;
};
ParsedEdit ParseEdit(std::string_view body, size_t max_body_bytes);

/// Whether `id` could name a video (1..128 bytes; an upload may bring its own id, so the
/// characters are the database's to judge, as data). Longer is 404 without asking the database.
bool PlausibleId(std::string_view id);

}  // namespace sg::plugins::metadata
