// The spdlog sinks and formatter behind the log hub: records rendered in our formats for the
// console and the file, the ring fed with decoded records, and a gate that keeps a log viewer's
// lower level out of the console and the file. Only the hub (logging.cpp) uses these.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/details/log_msg.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/sink.h>

#include "common/log_format.h"
#include "common/log_ring.h"

namespace sg::log {

class LogHub;

/// The logger name of a message that holds whole formatted lines (the access log's buffers):
/// the formatters pass it through as it is. No component can have this name.
inline constexpr std::string_view kLinesLogger = "\x01lines";

/// Renders records in one of our formats; spdlog calls it for the console and file sinks.
class RecordFormatter final : public spdlog::formatter {
 public:
  RecordFormatter(Format format, std::string service, bool color)
      : format_(format), service_(std::move(service)), color_(color) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<RecordFormatter>(format_, service_, color_);
  }

 private:
  const Format format_;
  const std::string service_;
  const bool color_;
};

/// Feeds the ring; formatting happens when a reader asks. Called under the logger's sink lock.
class RingSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit RingSink(std::shared_ptr<RecordRing> ring) : ring_(std::move(ring)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  std::shared_ptr<RecordRing> ring_;
};

/// Passes on only what the component's own level allows, so that a viewer's lower floor reaches
/// the ring without flooding the console and the file. Borrows the hub, which owns it.
class GateSink final : public spdlog::sinks::sink {
 public:
  GateSink(spdlog::sink_ptr inner, const LogHub& hub) : inner_(std::move(inner)), hub_(hub) {}

  void log(const spdlog::details::log_msg& msg) override;
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

 private:
  spdlog::sink_ptr inner_;
  const LogHub& hub_;
};

}  // namespace sg::log
