#include "common/log_ring.h"

namespace sg::log {

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

}  // namespace sg::log
