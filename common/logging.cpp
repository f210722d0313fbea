#include "common/logging.h"

#include <cstdlib>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/async_logger.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/details/thread_pool.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

namespace sg::log {
namespace {

// Separators inside an encoded payload: message US key RS type value US key RS type value ...
constexpr char kFieldSep = '\x1f';
constexpr char kValueSep = '\x1e';

std::string Sanitize(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == kFieldSep || c == kValueSep) c = '?';
  }
  return out;
}

std::string FormatDouble(double d) { return fmt::format("{}", d); }

// A value as prod and dev formats print it: strings with spaces, quotes or '=' are quoted.
std::string PlainValue(const Field::Value& value) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    const bool needs_quotes = s->empty() || s->find_first_of(" \t\"=\n") != std::string::npos;
    if (!needs_quotes) return *s;
    return nlohmann::json(*s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  if (const auto* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&value)) return FormatDouble(*d);
  return std::get<bool>(value) ? "true" : "false";
}

nlohmann::json JsonValue(const Field::Value& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  if (const auto* i = std::get_if<int64_t>(&value)) return *i;
  if (const auto* d = std::get_if<double>(&value)) return *d;
  return std::get<bool>(value);
}

std::string IsoTime(std::chrono::system_clock::time_point time) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count() % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z",
                     fmt::gmtime(std::chrono::system_clock::to_time_t(time)), ms);
}

std::string LocalClock(std::chrono::system_clock::time_point time) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count() % 1000;
  return fmt::format("{:%H:%M:%S}.{:03d}",
                     fmt::localtime(std::chrono::system_clock::to_time_t(time)), ms);
}

std::string_view LevelColor(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "\033[37m";
    case spdlog::level::debug:
      return "\033[36m";
    case spdlog::level::info:
      return "\033[32m";
    case spdlog::level::warn:
      return "\033[33;1m";
    case spdlog::level::err:
      return "\033[31;1m";
    case spdlog::level::critical:
      return "\033[1;41m";
    default:
      return "";
  }
}

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

// Renders records in one of our formats; spdlog calls it for the console and file sinks.
class RecordFormatter final : public spdlog::formatter {
 public:
  RecordFormatter(Format format, std::string service, bool color)
      : format_(format), service_(std::move(service)), color_(color) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string line = Render(FromMsg(msg), format_, service_, color_);
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<RecordFormatter>(format_, service_, color_);
  }

 private:
  const Format format_;
  const std::string service_;
  const bool color_;
};

// Feeds the ring; formatting happens when a reader asks.
class RingSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit RingSink(std::shared_ptr<RecordRing> ring) : ring_(std::move(ring)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override { ring_->Add(FromMsg(msg)); }
  void flush_() override {}

 private:
  std::shared_ptr<RecordRing> ring_;
};

// Passes on only what the component's own level allows, so that a viewer's lower floor reaches
// the ring without flooding the console and the file.
class GateSink final : public spdlog::sinks::sink {
 public:
  GateSink(spdlog::sink_ptr inner, const LogHub& hub) : inner_(std::move(inner)), hub_(hub) {}

  void log(const spdlog::details::log_msg& msg) override {
    // Without a viewer's floor, loggers pass only what their own level allows: nothing to gate.
    if (hub_.HasViewerFloor() && msg.level < hub_.EffectiveLevel(std::string(
                                                 msg.logger_name.data(), msg.logger_name.size()))) {
      return;
    }
    inner_->log(msg);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

 private:
  spdlog::sink_ptr inner_;
  const LogHub& hub_;
};

}  // namespace

std::optional<Format> ParseFormat(std::string_view name) {
  if (name == "dev") return Format::kDev;
  if (name == "prod") return Format::kProd;
  if (name == "json") return Format::kJson;
  return std::nullopt;
}

std::optional<spdlog::level::level_enum> ParseLevel(std::string_view name) {
  if (name == "trace") return spdlog::level::trace;
  if (name == "debug") return spdlog::level::debug;
  if (name == "info") return spdlog::level::info;
  if (name == "warn" || name == "warning") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  if (name == "critical") return spdlog::level::critical;
  if (name == "off") return spdlog::level::off;
  return std::nullopt;
}

std::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

std::string With(std::string_view message, std::initializer_list<Field> fields) {
  std::string out = Sanitize(message);
  for (const auto& field : fields) {
    out += kFieldSep;
    out += Sanitize(field.key);
    out += kValueSep;
    std::visit(
        [&out](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, std::string>) {
            out += 's';
            out += Sanitize(v);
          } else if constexpr (std::is_same_v<V, int64_t>) {
            out += 'i';
            out += std::to_string(v);
          } else if constexpr (std::is_same_v<V, double>) {
            out += 'd';
            out += FormatDouble(v);
          } else {
            out += v ? "btrue" : "bfalse";
          }
        },
        field.value);
  }
  return out;
}

void Decode(std::string_view payload, std::string& message, std::vector<Field>& fields) {
  size_t pos = payload.find(kFieldSep);
  message.assign(payload.substr(0, pos));
  fields.clear();
  while (pos != std::string_view::npos) {
    const size_t start = pos + 1;
    pos = payload.find(kFieldSep, start);
    std::string_view part =
        payload.substr(start, pos == std::string_view::npos ? pos : pos - start);
    const size_t sep = part.find(kValueSep);
    if (sep == std::string_view::npos || sep + 1 >= part.size()) continue;
    std::string key(part.substr(0, sep));
    const char type = part[sep + 1];
    const std::string text(part.substr(sep + 2));
    Field::Value value = text;
    try {
      if (type == 'i') value = static_cast<int64_t>(std::stoll(text));
      if (type == 'd') value = std::stod(text);
      if (type == 'b') value = (text == "true");
    } catch (const std::exception&) {
      // A malformed number stays a string: a record is never dropped for its fields.
    }
    fields.emplace_back(std::move(key), std::move(value), 0);
  }
}

nlohmann::ordered_json ToJson(const Record& record, std::string_view service) {
  nlohmann::ordered_json j;
  j["ts"] = IsoTime(record.time);
  j["level"] = LevelName(record.level);
  j["service"] = service;
  j["component"] = record.component;
  j["msg"] = record.message;
  if (record.seq != 0) j["seq"] = record.seq;
  for (const auto& field : record.fields) {
    const std::string key = j.contains(field.key) ? "field." + field.key : field.key;
    j[key] = JsonValue(field.value);
  }
  return j;
}

std::string Render(const Record& record, Format format, std::string_view service, bool color) {
  switch (format) {
    case Format::kJson:
      return ToJson(record, service).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    case Format::kProd: {
      std::string out =
          fmt::format("{}\t{}\t{}\t{}\t{}", IsoTime(record.time), LevelName(record.level), service,
                      record.component, record.message);
      for (size_t i = 0; i < record.fields.size(); ++i) {
        out += i == 0 ? '\t' : ' ';
        out += record.fields[i].key + "=" + PlainValue(record.fields[i].value);
      }
      return out;
    }
    case Format::kDev: {
      std::string level(LevelName(record.level));
      for (auto& c : level) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      std::string out = LocalClock(record.time) + " ";
      if (color) out += LevelColor(record.level);
      out += fmt::format("{:<5}", level);
      if (color) out += "\033[0m";
      out += fmt::format(" {:<12} {}", record.component, record.message);
      for (const auto& field : record.fields) {
        out += "  ";
        if (color) out += "\033[2m";
        out += field.key + "=";
        if (color) out += "\033[0m";
        out += PlainValue(field.value);
      }
      return out;
    }
  }
  return record.message;
}

std::array<uint64_t, 6> RecordRing::CountsByLevel() const {
  std::array<uint64_t, 6> out{};
  for (size_t i = 0; i < out.size(); ++i) out[i] = by_level_[i].load(std::memory_order_relaxed);
  return out;
}

void RecordRing::Add(Record record) {
  const auto level = static_cast<size_t>(record.level);
  if (level < by_level_.size()) by_level_[level].fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  record.seq = next_seq_++;
  for (const auto& [id, listener] : listeners_) listener(record);
  records_.push_back(std::move(record));
  while (records_.size() > capacity_) records_.pop_front();
}

std::vector<Record> RecordRing::Last(size_t n) const {
  std::lock_guard lock(mu_);
  const size_t count = (n == 0 || n > records_.size()) ? records_.size() : n;
  return {records_.end() - static_cast<std::ptrdiff_t>(count), records_.end()};
}

uint64_t RecordRing::NextSeq() const {
  std::lock_guard lock(mu_);
  return next_seq_;
}

int RecordRing::AddListener(Listener listener) {
  std::lock_guard lock(mu_);
  const int id = next_listener_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void RecordRing::RemoveListener(int id) {
  std::lock_guard lock(mu_);
  listeners_.erase(id);
}

LogHub::LogHub(const Options& options)
    : options_(options),
      ring_(std::make_shared<RecordRing>(std::max<size_t>(1, options.ring_size))),
      default_level_(options.level) {}

LogHub::~LogHub() {
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
  }
  if (!options.file.empty()) {
    try {
      auto file = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          options.file, options.max_file_bytes, options.max_files);
      // Files are read by tools, not people: never colour, and the prod format unless json.
      const Format file_format = options.format == Format::kJson ? Format::kJson : Format::kProd;
      file->set_formatter(std::make_unique<RecordFormatter>(file_format, options.service, false));
      hub->sinks_.push_back(std::make_shared<GateSink>(file, *hub));
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
