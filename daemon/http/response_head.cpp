#include "daemon/http/response_head.h"

#include <ctime>

#include <boost/beast/http/status.hpp>
#include <fmt/format.h>

#include "common/build_info.h"
#include "daemon/http/file_response.h"

namespace sg::http {

namespace {

// The Date header, formatted once a second per thread.
const std::string& DateHeader() {
  thread_local std::time_t cached = 0;
  thread_local std::string text;
  const std::time_t now = std::time(nullptr);
  if (now != cached) {
    cached = now;
    text = HttpDate(now);
  }
  return text;
}

}  // namespace

void ResponseHead::Build(std::string& head, unsigned status, std::string_view request_id,
                         std::string_view content_type,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         std::optional<uint64_t> content_length, bool close) {
  const auto reason =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  head.clear();
  head += "HTTP/1.1 ";
  head += std::to_string(status);
  head += ' ';
  head.append(reason.data(), reason.size());
  head += "\r\nServer: streamgate/" SG_VERSION "\r\nDate: ";
  head += DateHeader();
  head += "\r\nContent-Type: ";
  head += content_type;
  head += "\r\nX-Request-ID: ";
  head += request_id;
  for (const auto& [k, v] : headers) {
    // A handler's header must not smuggle a line break into the response.
    if (k.find_first_of("\r\n:") != std::string::npos ||
        v.find_first_of("\r\n") != std::string::npos)
      continue;
    head += "\r\n";
    head += k;
    head += ": ";
    head += v;
  }
  if (content_length) {
    head += "\r\nContent-Length: ";
    head += std::to_string(*content_length);
  }
  if (close) head += "\r\nConnection: close";
  head += "\r\n\r\n";
}

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      out += fmt::format("\\u{:04x}", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace sg::http
