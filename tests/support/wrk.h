// wrk for the benchmarks: one run against a URL, its figures parsed from wrk's report.
#pragma once

#include <chrono>
#include <iostream>
#include <regex>
#include <string>

#include "tests/support/process.h"

namespace sg::test {

struct WrkFigures {
  double rps = 0;
  double bytes_per_second = 0;
  double p99_ms = 0;    // with --latency only
  uint64_t errors = 0;  // non-2xx or 3xx answers
};

/// `wrk -tTHREADS -cCONNECTIONS -dSECONDSs --latency URL`; zeros (and wrk's output on stderr)
/// when wrk measured nothing.
inline WrkFigures Wrk(const std::string& url, int connections, int seconds, int threads = 2) {
  const auto r =
      Run({"/usr/bin/wrk", "-t", std::to_string(threads), "-c", std::to_string(connections), "-d",
           std::to_string(seconds) + "s", "--latency", url},
          {}, std::chrono::seconds(seconds + 30));
  std::smatch m;
  WrkFigures f;
  if (std::regex_search(r.out, m, std::regex(R"(Requests/sec:\s+([\d.]+))")))
    f.rps = std::stod(m[1]);
  if (std::regex_search(r.out, m, std::regex(R"(Transfer/sec:\s+([\d.]+)([KMG]?B))"))) {
    const double unit = m[2] == "GB"   ? 1073741824.0
                        : m[2] == "MB" ? 1048576.0
                        : m[2] == "KB" ? 1024.0
                                       : 1.0;
    f.bytes_per_second = std::stod(m[1]) * unit;
  }
  if (std::regex_search(r.out, m, std::regex(R"(99%\s+([\d.]+)(us|ms|s))"))) {
    const double v = std::stod(m[1]);
    f.p99_ms = m[2] == "us" ? v / 1000 : m[2] == "s" ? v * 1000 : v;
  }
  if (std::regex_search(r.out, m, std::regex(R"(Non-2xx or 3xx responses:\s+(\d+))")))
    f.errors = std::stoull(m[1]);
  if (f.rps == 0) std::cerr << "wrk said:\n" << r.out << r.err << '\n';
  return f;
}

}  // namespace sg::test
