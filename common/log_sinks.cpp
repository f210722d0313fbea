#include "common/log_sinks.h"

#include "common/logging.h"

namespace sg::log {
namespace {

// Every sink of a logger sees the same message in turn on the logging thread: decode it once.
const Record& FromMsg(const spdlog::details::log_msg& msg) {
  thread_local Record record;
  thread_local const char* last_payload = nullptr;
  thread_local size_t last_size = 0;
  thread_local spdlog::log_clock::time_point last_time;
  if (msg.payload.data() != last_payload || msg.payload.size() != last_size ||
      msg.time != last_time) {
    record.seq = 0;
    record.time = msg.time;
    record.level = msg.level;
    record.component.assign(msg.logger_name.data(), msg.logger_name.size());
    Decode(std::string_view(msg.payload.data(), msg.payload.size()), record.message, record.fields);
    last_payload = msg.payload.data();
    last_size = msg.payload.size();
    last_time = msg.time;
  }
  return record;
}

}  // namespace

void RecordFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  if (std::string_view(msg.logger_name.data(), msg.logger_name.size()) == kLinesLogger) {
    dest.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
    return;
  }
  const std::string line = Render(FromMsg(msg), format_, service_, color_);
  dest.append(line.data(), line.data() + line.size());
  dest.push_back('\n');
}

void RingSink::sink_it_(const spdlog::details::log_msg& msg) { ring_->Add(FromMsg(msg)); }

void GateSink::log(const spdlog::details::log_msg& msg) {
  // Without a viewer's floor, loggers pass only what their own level allows: nothing to gate.
  if (hub_.HasViewerFloor() && msg.level < hub_.EffectiveLevel(std::string(
                                               msg.logger_name.data(), msg.logger_name.size()))) {
    return;
  }
  inner_->log(msg);
}

}  // namespace sg::log
