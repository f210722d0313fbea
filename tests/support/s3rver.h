// s3rver (tests/peers/s3rver, from npm, installed by scripts/install-deps.sh --test) on
// loopback for one test, with the bucket "streamgate"; its one account is S3RVER / S3RVER. A
// test that needs it exits 77 (skipped) when node or the installed s3rver is missing.
#pragma once

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <regex>
#include <string>

#include <catch2/catch.hpp>
#include <unistd.h>

#include "tests/support/process.h"

namespace sg::test {

inline std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

// Ends the test as skipped (ctest's SKIP_RETURN_CODE) when a peer program is missing.
inline std::string Require(const std::string& program, const std::string& path) {
  if (path.empty() || access(path.c_str(), R_OK) != 0) {
    std::cerr << "skipped: " << program
              << " is missing; run scripts/install-deps.sh --test to install it\n";
    std::exit(77);
  }
  return path;
}

// s3rver on 127.0.0.1, on the port the kernel picked, keeping its data under `dir`/s3.
class S3rver {
 public:
  S3rver(const TempDir& dir, const std::string& s3rver_js)
      : process_(
            {Require("node", FindOnPath("node")), Require("s3rver", s3rver_js), "-d", Data(dir),
             "-a", "127.0.0.1", "-p", "0", "-s", "--configure-bucket", "streamgate"},
            dir) {
    const std::regex listening(R"(listening on 127\.0\.0\.1:(\d+))");
    const bool up = WaitFor(
        [&] {
          std::smatch m;
          const std::string out = process_.Stdout();
          if (!std::regex_search(out, m, listening)) return false;
          port_ = std::stoi(m[1]);
          return true;
        },
        std::chrono::seconds(30));
    INFO("s3rver said: " << process_.Stdout() << process_.Stderr());
    REQUIRE(up);
  }

  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  static std::string Data(const TempDir& dir) {
    std::filesystem::create_directories(dir.path() + "/s3");
    return dir.path() + "/s3";
  }

  Process process_;
  int port_ = 0;
};

}  // namespace sg::test
