#include "daemon/http/session.h"

#include <cctype>
#include <ctime>
#include <random>

#include <boost/beast/http/status.hpp>
#include <fmt/format.h>

#include "common/build_info.h"

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

std::string_view RejectReasonName(RejectReason reason) {
  static constexpr std::array<std::string_view, static_cast<size_t>(RejectReason::kCount)>
      kNames = {"header_limit", "body_limit",  "bad_request",   "framing",
                "host",         "target",      "timeout",       "connections",
                "accept_failed", "exception"};
  const auto i = static_cast<size_t>(reason);
  return i < kNames.size() ? kNames[i] : "unknown";
}

bool Generation::Worker::ShouldWarn(const std::string& source, RejectReason reason) {
  const auto now = std::chrono::steady_clock::now();
  std::string key = source;
  key += '/';
  key += RejectReasonName(reason);
  auto it = last_warned.find(key);
  if (it != last_warned.end() && now - it->second < std::chrono::seconds(10)) return false;
  if (last_warned.size() >= 4096) last_warned.clear();  // bounded: forget, never grow
  last_warned[std::move(key)] = now;
  return true;
}

void RunIoLoop(boost::asio::io_context& io, spdlog::logger& logger, RejectCounters& rejects) {
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      rejects.Add(RejectReason::kException);
      logger.error(log::With("Exception on an HTTP I/O thread; its connection was closed",
                             {{"error", e.what()}}));
    } catch (...) {
      rejects.Add(RejectReason::kException);
      logger.error("Unknown exception on an HTTP I/O thread; its connection was closed");
    }
  }
}

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

std::string NewRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

bool UsableRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  }
  return true;
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

void LogAccessRecord(spdlog::logger& access, std::string_view method, std::string_view path,
                     unsigned status, size_t bytes, std::chrono::steady_clock::duration elapsed,
                     std::string_view request_id, std::string_view remote) {
  access.info(log::With(
      "request", {{"method", std::string(method)},
                  {"path", std::string(path)},
                  {"status", static_cast<int64_t>(status)},
                  {"bytes", static_cast<int64_t>(bytes)},
                  {"duration_ms", std::chrono::duration<double, std::milli>(elapsed).count()},
                  {"request_id", std::string(request_id)},
                  {"remote", std::string(remote)}}));
}

}  // namespace sg::http
