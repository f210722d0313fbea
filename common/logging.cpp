#include "common/logging.h"

#include <cstdlib>

#include <fmt/format.h>
#include <spdlog/async_logger.h>
#include <spdlog/details/thread_pool.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

#include "common/access_log.h"
#include "common/log_sinks.h"

namespace sg::log {

LogHub::LogHub(const Options& options)
    : options_(options),
      ring_(std::make_shared<RecordRing>(std::max<size_t>(1, options.ring_size))),
      default_level_(options.level) {}

LogHub::~LogHub() {
  std::shared_ptr<AccessLog> access;
  {
    std::lock_guard lock(mu_);
    access = access_;
  }
  if (access) access->Close();
  Flush();
  // Async loggers hand their queue to the pool's thread; drop them before the pool so that it
  // drains what is queued and joins.
  std::lock_guard lock(mu_);
  loggers_.clear();
}

Result<std::unique_ptr<LogHub>> LogHub::Create(const Options& options) {
  std::unique_ptr<LogHub> hub(new LogHub(options));
  if (options.console) {
    // Colour only for people: on a terminal, and never when NO_COLOR is set (no-color.org).
    const bool color = options.format == Format::kDev && isatty(STDERR_FILENO) == 1 &&
                       std::getenv("NO_COLOR") == nullptr;
    auto console = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    console->set_formatter(
        std::make_unique<RecordFormatter>(options.format, options.service, color));
    hub->sinks_.push_back(std::make_shared<GateSink>(console, *hub));
    hub->lines_sink_ = console;
  }
  if (!options.file.empty()) {
    try {
      auto file = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          options.file, options.max_file_bytes, options.max_files);
      // Files are read by tools, not people: never colour, and the prod format unless json.
      const Format file_format = options.format == Format::kJson ? Format::kJson : Format::kProd;
      file->set_formatter(std::make_unique<RecordFormatter>(file_format, options.service, false));
      hub->sinks_.push_back(std::make_shared<GateSink>(file, *hub));
      hub->lines_sink_ = file;
    } catch (const spdlog::spdlog_ex& e) {
      return Fail(ErrorCode::kIo, fmt::format("log file {}: {}", options.file, e.what()));
    }
  }
  auto ring = std::make_shared<RingSink>(hub->ring_);
  hub->sinks_.push_back(ring);
  return hub;
}

std::shared_ptr<spdlog::logger> LogHub::Get(const std::string& component) {
  std::lock_guard lock(mu_);
  auto it = loggers_.find(component);
  if (it != loggers_.end()) return it->second;
  auto logger = std::make_shared<spdlog::logger>(component, sinks_.begin(), sinks_.end());
  ApplyLevel(component, *logger);
  logger->flush_on(spdlog::level::warn);
  loggers_.emplace(component, logger);
  return logger;
}

std::shared_ptr<spdlog::logger> LogHub::GetAsync(const std::string& component) {
  std::lock_guard lock(mu_);
  auto it = loggers_.find(component);
  if (it != loggers_.end()) return it->second;
  if (!pool_) pool_ = std::make_shared<spdlog::details::thread_pool>(8192, 1);
  auto logger = std::make_shared<spdlog::async_logger>(component, sinks_.begin(), sinks_.end(),
                                                       pool_, spdlog::async_overflow_policy::block);
  ApplyLevel(component, *logger);
  logger->flush_on(spdlog::level::warn);
  loggers_.emplace(component, logger);
  return logger;
}

std::shared_ptr<AccessLog> LogHub::Access() {
  auto level = Get("access");
  std::lock_guard lock(mu_);
  if (!access_) {
    AccessLog::Options options;
    // The format of where the lines go: the file's (json, else prod) or the console's.
    options.format =
        options_.file.empty() || options_.format == Format::kJson ? options_.format : Format::kProd;
    options.service = options_.service;
    access_ =
        std::make_shared<AccessLog>(options, std::move(level), [this](std::string_view lines) {
          if (!lines_sink_) return;
          const spdlog::details::log_msg msg(kLinesLogger, spdlog::level::info,
                                             spdlog::string_view_t(lines.data(), lines.size()));
          lines_sink_->log(msg);
          lines_sink_->flush();
        });
  }
  return access_;
}

void LogHub::ApplyLevel(const std::string& component, spdlog::logger& logger) {
  auto own = overrides_.find(component);
  const auto effective = own != overrides_.end() ? own->second : default_level_;
  logger.set_level(floor_ ? std::min(effective, *floor_) : effective);
}

void LogHub::SetLevel(spdlog::level::level_enum level) {
  std::lock_guard lock(mu_);
  default_level_ = level;
  for (auto& [name, logger] : loggers_) ApplyLevel(name, *logger);
}

spdlog::level::level_enum LogHub::EffectiveLevel(const std::string& component) const {
  std::lock_guard lock(mu_);
  auto own = overrides_.find(component);
  return own != overrides_.end() ? own->second : default_level_;
}

void LogHub::SetViewerFloor(std::optional<spdlog::level::level_enum> floor) {
  std::lock_guard lock(mu_);
  floor_ = floor;
  has_floor_ = floor.has_value();
  for (auto& [name, logger] : loggers_) ApplyLevel(name, *logger);
}

void LogHub::SetComponentLevel(const std::string& component,
                               std::optional<spdlog::level::level_enum> level) {
  std::lock_guard lock(mu_);
  if (level) {
    overrides_[component] = *level;
  } else {
    overrides_.erase(component);
  }
  auto it = loggers_.find(component);
  if (it != loggers_.end()) ApplyLevel(component, *it->second);
}

spdlog::level::level_enum LogHub::DefaultLevel() const {
  std::lock_guard lock(mu_);
  return default_level_;
}

std::map<std::string, std::pair<spdlog::level::level_enum, bool>> LogHub::Levels() const {
  std::lock_guard lock(mu_);
  std::map<std::string, std::pair<spdlog::level::level_enum, bool>> out;
  for (const auto& [name, logger] : loggers_) {
    auto own = overrides_.find(name);
    out[name] = {own != overrides_.end() ? own->second : default_level_, own != overrides_.end()};
  }
  return out;
}

void LogHub::Flush() {
  std::lock_guard lock(mu_);
  for (auto& [name, logger] : loggers_) logger->flush();
}

}  // namespace sg::log
