#include "daemon/plugins/metadata/metadata_http.h"

#include <charconv>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sg::plugins::metadata {
namespace {

std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string HintFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "correct the request as the message says and send it again";
    case ErrorCode::kNotFound:
      return "check the id; GET /api/v1/videos lists the videos there are";
    case ErrorCode::kFailedPrecondition:
      return "GET the video to see its state; only the changes its state allows can be made";
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
      return "the catalogue's database cannot be reached now; try again shortly, and see "
             "'streamgate health' for why";
    default:
      return "see the daemon's log ('streamgate logs') for the request id";
  }
}

}  // namespace

unsigned StatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
      return 503;
    default:
      return 500;
  }
}

HttpResponse FieldError(unsigned status, std::string_view code, std::string_view field,
                        std::string message, std::string hint) {
  HttpResponse res;
  res.status = status;
  nlohmann::json body = {{"error", std::move(message)}, {"code", std::string(code)}};
  if (!field.empty()) body["field"] = std::string(field);
  body["hint"] = std::move(hint);
  res.body = Dump(body);
  if (status == 503) res.headers.emplace_back("Retry-After", "2");
  return res;
}

HttpResponse ErrorResponse(const Error& error, std::string_view field) {
  return FieldError(StatusFor(error.code), ErrorCodeName(error.code), field, error.message,
                    HintFor(error.code));
}

std::optional<std::string> UrlDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      unsigned value = 0;
      const auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
      if (ec != std::errc() || end != text.data() + i + 3) return std::nullopt;
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

namespace {

HttpResponse BadParam(std::string_view field, std::string message, std::string hint) {
  return FieldError(400, "invalid_argument", field, std::move(message), std::move(hint));
}

}  // namespace

ParsedQuery ParseListQuery(std::string_view query) {
  ParsedQuery out;
  std::set<std::string> seen;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const auto name = UrlDecode(pair.substr(0, eq));
    const auto value =
        UrlDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!name || !value) {
      out.error = BadParam("query", "the query string has a broken percent-escape",
                           "encode reserved characters as %XX with two hex digits");
      return out;
    }
    if (!seen.insert(*name).second) {
      out.error = BadParam(*name, "query parameter '" + *name + "' is given twice",
                           "give each parameter once");
      return out;
    }
    if (*name == "limit") {
      int limit = 0;
      const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), limit);
      if (ec != std::errc() || end != value->data() + value->size() || limit < 1 ||
          limit > kMaxPageSize) {
        out.error = BadParam(
            "limit",
            fmt::format("limit: '{}' is not a whole number from 1 to {}", *value, kMaxPageSize),
            fmt::format("ask for at most {} videos a page and follow next_cursor "
                        "for the rest",
                        kMaxPageSize));
        return out;
      }
      out.query.limit = limit;
    } else if (*name == "cursor") {
      out.query.cursor = *value;
    } else if (*name == "state") {
      const auto state = ParseVideoState(*value);
      if (!state) {
        out.error =
            BadParam("state", "state: '" + *value + "' is not a video state",
                     "use one of uploading, uploaded, queued, processing, ready, failed, deleted");
        return out;
      }
      out.query.state = *state;
      // Asking for deleted videos by name is asking to see them.
      if (*state == VideoState::kDeleted) out.query.include_deleted = true;
    } else if (*name == "owner") {
      if (value->empty()) {
        out.error = BadParam("owner", "owner: must not be empty",
                             "name an account, or leave "
                             "owner out for everyone's");
        return out;
      }
      out.query.owner = *value;
    } else {
      out.error = BadParam(*name, "unknown query parameter '" + *name + "'",
                           "GET /api/v1/videos takes limit, cursor, state and owner");
      return out;
    }
  }
  return out;
}

ParsedEdit ParseEdit(std::string_view body, size_t max_body_bytes) {
  ParsedEdit out;
  if (body.size() > max_body_bytes) {
    out.error = FieldError(413, "invalid_argument", "body",
                           fmt::format("the body has {} bytes, more than the {} that "
                                       "metadata.max_body_size allows",
                                       body.size(), max_body_bytes),
                           "send only the fields to change: title, description, visibility, "
                           "gate");
    return out;
  }
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    out.error =
        FieldError(400, "invalid_argument", "body",
                   fmt::format("the body is not valid JSON (at byte {}): {}", e.byte, e.what()),
                   R"(send a JSON object such as {"title": "My video"})");
    return out;
  }
  if (!json.is_object()) {
    out.error = FieldError(400, "invalid_argument", "body", "the body must be a JSON object",
                           R"(send a JSON object such as {"title": "My video"})");
    return out;
  }
  for (const auto& [key, value] : json.items()) {
    if (key == "title" || key == "description") {
      if (!value.is_string()) {
        out.error = BadParam(key, key + ": must be a string, not " + value.type_name(),
                             "send " + key + " as a JSON string");
        return out;
      }
      (key == "title" ? out.edit.title : out.edit.description) = value.get<std::string>();
    } else if (key == "visibility") {
      const auto v = value.is_string() ? ParseVisibility(value.get<std::string>()) : std::nullopt;
      if (!v) {
        out.error =
            BadParam(key,
                     value.is_string()
                         ? "visibility: '" + value.get<std::string>() + "' is not a visibility"
                         : std::string("visibility: must be a string, not ") + value.type_name(),
                     "use one of public, unlisted, private, gated");
        return out;
      }
      out.edit.visibility = *v;
    } else if (key == "gate") {
      // null or "" clears it: the server's default gate applies again.
      auto gate =
          value.is_null() ? Result<std::string>(std::string())
          : value.is_string()
              ? NormalizeGate(value.get<std::string>())
              : Result<std::string>(Fail(ErrorCode::kInvalidArgument, std::string("gate: must be a "
                                                                                  "string, not ") +
                                                                          value.type_name()));
      if (!gate) {
        out.error = BadParam(key, gate.error().message,
                             "send erc721:0xCONTRACT or erc1155:0xCONTRACT:TOKEN_ID, or null");
        return out;
      }
      out.edit.gate = std::move(*gate);
    } else {
      out.error = BadParam(key, "unknown field '" + key + "'",
                           "a PATCH may change title, description, visibility and gate only");
      return out;
    }
  }
  return out;
}

bool PlausibleId(std::string_view id) { return !id.empty() && id.size() <= 128; }

}  // namespace sg::plugins::metadata
