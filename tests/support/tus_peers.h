// The tus project's own server and client, from npm (tests/peers/tus, installed by
// scripts/install-deps.sh --test), for the upload tests: node, the scripts there, the reference
// server @tus/server started on a loopback port, and a streamgated with the upload service.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <unistd.h>

#include "tests/support/daemon_fixture.h"
#include "tests/support/process.h"
#include "tests/support/s3rver.h"

namespace sg::test {

// The program's path on PATH, or "" (shared with the s3rver tests).
inline std::string FindProgram(const std::string& name) { return FindOnPath(name); }

/// Ends the test binary as skipped (ctest's SKIP_RETURN_CODE 77) when `what` is missing.
inline void SkipUnless(bool present, const std::string& what) {
  if (present) return;
  std::cerr << "skipped: " << what << " is missing; run scripts/install-deps.sh --test\n";
  std::exit(77);
}

/// node, with the tus peers installed beside their lock file.
inline std::string Node() {
  const std::string node = FindProgram("node");
  SkipUnless(!node.empty(), "node");
  SkipUnless(
      std::filesystem::exists(SG_TUS_PEERS_DIR "/node_modules/@tus/server/package.json") &&
          std::filesystem::exists(SG_TUS_PEERS_DIR "/node_modules/tus-js-client/package.json"),
      "tests/peers/tus/node_modules (@tus/server, tus-js-client)");
  return node;
}

/// Runs one of the scripts of tests/peers/tus under node.
inline RunResult RunTusScript(const std::string& script, const std::vector<std::string>& args,
                              std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {Node(), std::string(SG_TUS_PEERS_DIR) + "/" + script};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv, {}, timeout);
}

/// @tus/server with its FileStore (tests/peers/tus/tus-server.mjs) on 127.0.0.1, on the port the
/// kernel picked; `url` is its endpoint, http://127.0.0.1:PORT/api/v1/uploads.
class TusReferenceServer {
 public:
  explicit TusReferenceServer(uint64_t max_size, uint64_t expiry_ms = 24ull * 3600 * 1000)
      : process_({Node(), std::string(SG_TUS_PEERS_DIR) + "/tus-server.mjs", "--dir",
                  dir_.path() + "/files", "--max-size", std::to_string(max_size), "--expiry-ms",
                  std::to_string(expiry_ms)},
                 dir_) {
    const std::regex listening(R"(listening on (http://127\.0\.0\.1:\d+/api/v1/uploads))");
    const bool up = WaitFor(
        [&] {
          std::smatch m;
          const std::string out = process_.Stdout();
          if (!std::regex_search(out, m, listening)) return false;
          url_ = m[1];
          return true;
        },
        30s);
    INFO("tus-server.mjs said: " << process_.Stdout() << process_.Stderr());
    REQUIRE(up);
  }

  const std::string& url() const { return url_; }

 private:
  TempDir dir_;
  Process process_;
  std::string url_;
};

/// The daemon's settings for the upload tests: the plugins the upload service needs, media on
/// local disk in `media`, and `extra` on top.
inline std::vector<std::string> UploadDaemonSets(const std::string& media,
                                                 std::vector<std::string> extra = {}) {
  std::vector<std::string> sets = {"plugins.enabled=[api-gateway,monitor,metadata,upload]",
                                   "storage.type=local", "storage.path=" + media};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return sets;
}

inline std::string UploadsUrl(const RunningDaemon& d) {
  return "http://127.0.0.1:" + std::to_string(d.port) + "/api/v1/uploads";
}

}  // namespace sg::test
