// Small statistics for the benchmarks: durations in milliseconds and percentiles.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace sg::test {

inline double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

/// The p-th percentile (0..1) of `values`, nearest rank; 0 for none.
inline double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(p * static_cast<double>(values.size() - 1))];
}

}  // namespace sg::test
