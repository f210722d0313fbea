#include "common/access_log.h"

#include <algorithm>
#include <atomic>
#include <iterator>

#include <fmt/format.h>

namespace sg::log {

namespace {

std::atomic<uint64_t> next_id{1};

}  // namespace

Record ToRecord(const AccessEntry& entry) {
  Record record;
  record.time = entry.time;
  record.level = spdlog::level::info;
  record.component = "access";
  record.message = "request";
  record.fields = {{"method", std::string(entry.method)},
                   {"path", std::string(entry.path)},
                   {"status", static_cast<int64_t>(entry.status)},
                   {"bytes", static_cast<int64_t>(entry.bytes)},
                   {"duration_ms", entry.duration_ms},
                   {"request_id", std::string(entry.request_id)},
                   {"remote", std::string(entry.remote)}};
  return record;
}

void AppendAccessLine(std::string& out, const AccessEntry& entry, Format format,
                      std::string_view service) {
  if (format != Format::kProd) {
    out += Render(ToRecord(entry), format, service, false);
    out += '\n';
    return;
  }
  // Render's prod layout: time, level, service, component, message, then key=value fields.
  AppendIsoTime(out, entry.time);
  out += "\tinfo\t";
  out += service;
  out += "\taccess\trequest\tmethod=";
  AppendPlain(out, entry.method);
  out += " path=";
  AppendPlain(out, entry.path);
  out += " status=";
  out += fmt::format_int(entry.status).c_str();
  out += " bytes=";
  out += fmt::format_int(entry.bytes).c_str();
  out += " duration_ms=";
  fmt::format_to(std::back_inserter(out), "{}", entry.duration_ms);
  out += " request_id=";
  AppendPlain(out, entry.request_id);
  out += " remote=";
  AppendPlain(out, entry.remote);
  out += '\n';
}

AccessLog::AccessLog(Options options, std::shared_ptr<spdlog::logger> level, Writer writer)
    : options_(std::move(options)),
      level_(std::move(level)),
      id_(next_id.fetch_add(1)),
      writer_(std::move(writer)) {
  flusher_ = std::thread([this] { Run(); });
}

AccessLog::~AccessLog() { Close(); }

AccessLog::Buffer& AccessLog::Local() {
  // A thread serves one listener's requests at a time, almost always of one log: a one-entry cache.
  thread_local uint64_t cached_id = 0;
  thread_local Buffer* cached = nullptr;
  if (cached != nullptr && cached_id == id_) return *cached;
  std::lock_guard lock(mu_);
  auto& slot = buffers_[std::this_thread::get_id()];
  if (!slot) slot = std::make_unique<Buffer>();
  cached_id = id_;
  cached = slot.get();
  return *cached;
}

void AccessLog::Add(const AccessEntry& entry) {
  Buffer& buffer = Local();
  std::unique_lock buffer_lock(buffer.mu);
  AppendAccessLine(buffer.bytes, entry, options_.format, options_.service);
  if (buffer.bytes.size() < options_.buffer_bytes) return;
  std::string full;
  full.swap(buffer.bytes);
  buffer_lock.unlock();
  std::unique_lock lock(mu_);
  // The output is slower than the requests: wait for it rather than lose lines.
  drained_.wait(lock, [&] { return stop_ || pending_.size() < options_.max_pending; });
  if (stop_) return;
  pending_.push_back(std::move(full));
  wake_.notify_one();
}

void AccessLog::Flush() {
  std::unique_lock lock(mu_);
  if (stop_) return;
  const uint64_t ticket = ++flushes_requested_;
  wake_.notify_one();
  drained_.wait(lock, [&] { return stop_ || flushes_done_ >= ticket; });
}

void AccessLog::Close() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  wake_.notify_one();
  drained_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  std::lock_guard lock(mu_);
  writer_ = nullptr;
}

void AccessLog::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, options_.flush_every, [&] {
      return stop_ || !pending_.empty() || flushes_requested_ > flushes_done_;
    });
    WriteAll(lock);
  }
  WriteAll(lock);  // what was added before Close
}

void AccessLog::WriteAll(std::unique_lock<std::mutex>& lock) {
  const uint64_t ticket = flushes_requested_;
  std::deque<std::string> out;
  out.swap(pending_);
  for (auto& [thread, buffer] : buffers_) {
    std::lock_guard buffer_lock(buffer->mu);
    if (buffer->bytes.empty()) continue;
    out.emplace_back();
    out.back().swap(buffer->bytes);
  }
  drained_.notify_all();  // pending_ has room again
  // writer_ changes only in Close, after this thread has ended.
  lock.unlock();
  for (const auto& lines : out) {
    if (writer_) writer_(lines);
  }
  lock.lock();
  flushes_done_ = std::max(flushes_done_, ticket);
  drained_.notify_all();
}

}  // namespace sg::log
