// The differential test of the tus protocol (tests/peers/tus/differential.mjs): the same request
// sequences sent to @tus/server, the tus project's own server with its file store, and to a real
// streamgated, with the same maximum size and expiry; the status codes, Upload-Offset values and
// the presence of the protocol's headers must match, except where the script lists a difference
// and its reason (the places @tus/server breaks the tus text, the extensions it lacks).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/daemon_fixture.h"
#include "tests/support/process.h"
#include "tests/support/tus_peers.h"

namespace sg::test {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxSize = 1024 * 1024;

json RunDifferential(const std::string& reference, const std::string& candidate, bool self) {
  std::vector<std::string> args = {"--reference", reference,    "--candidate",
                                   candidate,     "--max-size", std::to_string(kMaxSize)};
  if (self) args.emplace_back("--self");
  const RunResult run = RunTusScript("differential.mjs", args, std::chrono::minutes(2));
  INFO("differential.mjs said:\n" << run.out << run.err);
  const json report = json::parse(run.out, nullptr, false);
  REQUIRE(report.is_object());
  CHECK(run.exit_code == (report.value("ok", false) ? 0 : 1));
  return report;
}

}  // namespace

TEST_CASE("differential: the harness finds no difference between @tus/server and itself", "[tus]") {
  const TusReferenceServer a(kMaxSize);
  const TusReferenceServer b(kMaxSize);
  const json report = RunDifferential(a.url(), b.url(), true);
  INFO(report["mismatches"].dump(1));
  CHECK(report["mismatches"].empty());
  CHECK(report["sequences"].size() >= 20);
}

TEST_CASE("differential: StreamGate answers tus requests as @tus/server does", "[tus]") {
  const TusReferenceServer reference(kMaxSize);
  TempDir media;
  RunningDaemon d(UploadDaemonSets(
      media.path(), {"upload.max_size=" + std::to_string(kMaxSize), "upload.lock_wait=1s"}));
  const json report = RunDifferential(reference.url(), UploadsUrl(d), false);
  // The declared differences and the extensions @tus/server lacks, for the record.
  std::cout << "differential: " << report["differences"].size() << " declared differences, "
            << report["candidate_only"].size() << " steps of extensions @tus/server lacks, "
            << report["mismatches"].size() << " mismatches\n";
  for (const auto& m : report["mismatches"]) {
    UNSCOPED_INFO("MISMATCH " << m.dump(1));
  }
  if (!report["mismatches"].empty()) {
    // What the daemon said meanwhile: a refusal the script did not wait for shows here.
    const std::string log = d.daemon->Stderr();
    UNSCOPED_INFO("streamgated's log, the end:\n"
                  << log.substr(log.size() - std::min<size_t>(log.size(), 40000)));
  }
  CHECK(report["mismatches"].empty());
}

}  // namespace sg::test
