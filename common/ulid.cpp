#include "common/ulid.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <mutex>
#include <random>

#include <sys/random.h>

namespace sg {
namespace {

constexpr std::string_view kCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// 80 random bits from the kernel; std::random_device should getrandom(2) ever fail.
std::array<uint8_t, 10> RandomPart() {
  std::array<uint8_t, 10> out{};
  if (getrandom(out.data(), out.size(), 0) != static_cast<ssize_t>(out.size())) {
    std::random_device device;
    for (auto& b : out) b = static_cast<uint8_t>(device());
  }
  return out;
}

}  // namespace

std::string NewUlid(int64_t now_ms) {
  static std::mutex mu;
  static int64_t last_ms = -1;
  static std::array<uint8_t, 10> last_random{};
  std::array<uint8_t, 10> random{};
  int64_t ms = std::min<int64_t>(std::max<int64_t>(now_ms, 0), 0xFFFFFFFFFFFF);
  {
    std::lock_guard lock(mu);
    if (ms <= last_ms && last_ms - ms < 10000) {
      // The same millisecond, or a clock that stepped back a little: the last id's time and
      // random part plus one, so that ids still sort in the order they were made. (A time far
      // in the past is taken as asked: tests make ids for given times.)
      ms = last_ms;
      random = last_random;
      for (int i = 9; i >= 0; --i) {
        if (++random[static_cast<size_t>(i)] != 0) break;
      }
    } else {
      random = RandomPart();
      random[0] &= 0x7f;  // room to count up within a millisecond
    }
    last_ms = ms;
    last_random = random;
  }
  std::array<uint8_t, 16> bytes{};
  auto t = static_cast<uint64_t>(ms);
  for (int i = 5; i >= 0; --i) {
    bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(t & 0xff);
    t >>= 8;
  }
  std::copy(random.begin(), random.end(), bytes.begin() + 6);
  // 128 bits as 26 characters of 5 bits: the first carries two leading zero bits.
  std::string id(26, '0');
  for (int c = 25; c >= 0; --c) {
    const int bit = (25 - c) * 5;  // the lowest data bit of character c
    uint32_t value = 0;
    for (int k = 0; k < 5; ++k) {
      const int b = bit + k;
      if (b >= 128) break;
      if ((bytes[static_cast<size_t>(15 - b / 8)] >> (b % 8)) & 1) value |= 1U << k;
    }
    id[static_cast<size_t>(c)] = kCrockford[value];
  }
  return id;
}

std::string NewUlid() {
  return NewUlid(std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count());
}

bool IsUlid(std::string_view id) {
  if (id.size() != 26 || id[0] > '7') return false;
  for (char c : id) {
    if (kCrockford.find(c) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace sg
