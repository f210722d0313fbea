#include "daemon/http/session.h"

namespace sg::http {

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

void LogAccessRecord(log::AccessLog& access, std::string_view method, std::string_view path,
                     unsigned status, size_t bytes, std::chrono::steady_clock::duration elapsed,
                     std::string_view request_id, std::string_view remote) {
  access.Add({.time = std::chrono::system_clock::now(),
              .method = method,
              .path = path,
              .status = status,
              .bytes = bytes,
              .duration_ms = std::chrono::duration<double, std::milli>(elapsed).count(),
              .request_id = request_id,
              .remote = remote});
}

}  // namespace sg::http
