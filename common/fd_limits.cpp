#include "common/fd_limits.h"

#include <algorithm>

#include <sys/resource.h>

namespace sg {

DescriptorLimit CurrentDescriptorLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return {1024, 1024};
  auto value = [](rlim_t v) { return v == RLIM_INFINITY ? uint64_t{1} << 20 : uint64_t{v}; };
  return {value(rl.rlim_cur), value(rl.rlim_max)};
}

DescriptorLimit RaiseDescriptorLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);  // on failure the old limit stays, which still works
  }
  return CurrentDescriptorLimit();
}

uint64_t CachedFileBudget(const DescriptorLimit& limit) {
  if (limit.soft < 4096) return 0;
  return std::min<uint64_t>(limit.soft / 8, 8192);
}

uint64_t HttpConnectionBudget(const DescriptorLimit& limit) {
  const uint64_t quarter = limit.soft / 4;
  const uint64_t kept = kReservedDescriptors + CachedFileBudget(limit);
  const uint64_t left = limit.soft > kept ? limit.soft - kept : 0;
  return left > quarter ? left : quarter;
}

uint64_t DescriptorsFor(uint64_t connections) {
  const uint64_t plain = connections + kReservedDescriptors;
  if (plain < 4096) return plain;  // no cached files under 4096
  // The least soft limit with soft - min(soft / 8, 8192) >= plain.
  return std::min<uint64_t>((plain * 8 + 6) / 7, plain + 8192);
}

uint64_t ControlConnectionBudget(const DescriptorLimit& limit) {
  return std::clamp<uint64_t>(limit.soft / 8, 8, kMaxControlConnections);
}

}  // namespace sg
