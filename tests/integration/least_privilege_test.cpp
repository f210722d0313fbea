// streamgated under the restrictions of streamgated.service that this machine can apply without
// systemd (tests/service/sandbox.sh): its own unprivileged user with no_new_privs and no
// capability, a private mount view, the unit's seccomp filters. Under each it must start, serve
// HTTP, answer `streamgate status`, keep its files to its own user, and stop cleanly on SIGTERM.
// Run by hand as root it says so.
#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/daemon_fixture.h"
#include "tests/support/http_client.h"

namespace sg::test {
namespace {

constexpr const char* kUser = "nobody";
constexpr const char* kGroup = "nogroup";

// Root can become another user; anyone else cannot, and the test says why it did nothing.
bool CanSwitchUser() {
  if (geteuid() == 0 && getpwnam(kUser) != nullptr) return true;
  WARN("not root, or no user '" << kUser << "': the unprivileged runs are not exercised");
  return false;
}

std::vector<std::string> Sandbox(std::vector<std::string> options) {
  std::vector<std::string> wrapper = {"/bin/bash", SG_SANDBOX_SH, "--user",
                                      std::string(kUser) + ":" + kGroup};
  wrapper.insert(wrapper.end(), options.begin(), options.end());
  wrapper.emplace_back("--");
  return wrapper;
}

// The daemon's line NAME from /proc/PID/status ("NoNewPrivs:\t1" gives "1").
std::string ProcStatus(pid_t pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(name + ":")) {
      const size_t value = line.find_first_not_of(" \t", name.size() + 1);
      return value == std::string::npos ? "" : line.substr(value);
    }
  }
  return "";
}

struct Mode {
  uid_t uid = 0;
  mode_t perm = 0;
  bool socket = false;
};
std::optional<Mode> ModeOf(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return std::nullopt;
  return Mode{st.st_uid, st.st_mode & 07777, S_ISSOCK(st.st_mode)};
}

// The checks every restricted run passes: no root warning, the user's identity and no privilege,
// HTTP, status for root and for the daemon's user but not for another, private files, and a clean
// stop on SIGTERM.
void ServesAsUnprivilegedUserAndStops(RunningDaemon& d) {
  INFO(d.daemon->Stderr());
  const passwd* user = getpwnam(kUser);
  REQUIRE(user != nullptr);
  const pid_t pid = d.daemon->pid();
  CHECK(ProcStatus(pid, "Uid").starts_with(std::to_string(user->pw_uid) + "\t"));
  CHECK(ProcStatus(pid, "NoNewPrivs") == "1");
  CHECK(ProcStatus(pid, "CapEff") == "0000000000000000");
  CHECK(ProcStatus(pid, "CapBnd") == "0000000000000000");
  CHECK_FALSE(d.LogSays("Running as root"));

  REQUIRE(d.port != 0);
  HttpConnection http(d.port);
  const auto health = http.Request("GET", "/health");
  REQUIRE(health.has_value());
  CHECK(health->status == 200);
  CHECK_THAT(health->body, Catch::Contains("healthy"));

  const RunResult as_root = d.Cli({"status"});
  CHECK(as_root.exit_code == 0);
  CHECK_THAT(as_root.out, Catch::Contains("healthy"));
  // The daemon's own user may drive it; another user (uid 1) may not even reach the socket.
  const RunResult as_user =
      Run({"/usr/bin/setpriv", "--reuid=" + std::string(kUser), "--regid=" + std::string(kGroup),
           "--clear-groups", SG_CLI_BIN, "status"},
          d.env, 60s);
  CHECK(as_user.exit_code == 0);
  CHECK_THAT(as_user.out, Catch::Contains("healthy"));
  const RunResult as_other =
      Run({"/usr/bin/setpriv", "--reuid=1", "--regid=1", "--clear-groups", SG_CLI_BIN, "status"},
          d.env, 60s);
  CHECK(as_other.exit_code == 3);
  CHECK_THAT(as_other.err, Catch::Contains("permission denied"));

  const std::string run = d.dir.path() + "/streamgate";
  for (const auto& [name, perm, is_socket] :
       std::vector<std::tuple<std::string, mode_t, bool>>{{"", 0700, false},
                                                          {"/control.sock", 0600, true},
                                                          {"/logs.sock", 0600, true},
                                                          {"/streamgated.pid", 0600, false}}) {
    const auto mode = ModeOf(run + name);
    INFO(run + name);
    REQUIRE(mode.has_value());
    CHECK(mode->uid == user->pw_uid);
    CHECK(mode->perm == perm);
    CHECK(mode->socket == is_socket);
  }

  d.daemon->Signal(SIGTERM);
  const auto code = d.daemon->Wait(30s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(d.LogSays("StreamGate stopped"));
}

}  // namespace

TEST_CASE("streamgated run by hand as root says so, and how to avoid it", "[least-privilege]") {
  if (geteuid() != 0) {
    WARN("not root: the warning for root is not exercised");
    return;
  }
  RunningDaemon d;
  INFO(d.daemon->Stderr());
  CHECK(d.LogSays("Running as root, which streamgated does not need"));
  CHECK(d.LogSays("systemctl enable --now streamgated"));
}

TEST_CASE("streamgated as its own user, no new privileges, no capability: serves and stops",
          "[least-privilege]") {
  if (!CanSwitchUser()) return;
  RunningDaemon d({}, "", Sandbox({}));
  ServesAsUnprivilegedUserAndStops(d);
}

TEST_CASE("streamgated in a private mount view under the unit's seccomp filters: serves and stops",
          "[least-privilege]") {
  if (!CanSwitchUser()) return;
  std::vector<std::string> options;
  const RunResult probe = Run({"/bin/bash", SG_SANDBOX_SH, "--probe-mount-view"});
  if (probe.exit_code == 0) {
    options.emplace_back("--mount-view");
  } else {
    WARN(
        "unshare may not make a mount namespace here, so the private mount view (ProtectSystem, "
        "ProtectHome, PrivateTmp, PrivateDevices, ProtectProc) is not exercised: "
        << probe.err);
  }
  const std::string seccomp = SG_SECCOMP_EXEC;
  if (!seccomp.empty()) {
    options.insert(options.end(), {"--seccomp", SG_UNIT_FILE, seccomp});
  } else {
    WARN("built without libseccomp: the unit's seccomp filters are not exercised");
  }
  if (options.empty()) return;
#if defined(__SANITIZE_ADDRESS__)
  // LeakSanitizer stops the threads with ptrace at exit, which the unit's filter denies: the
  // other ASan options stay.
  std::vector<std::string> wrapper = {
      "/bin/sh", "-c", R"(ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" exec "$@")",
      "sh"};
#else
  std::vector<std::string> wrapper;
#endif
  const auto sandbox = Sandbox(options);
  wrapper.insert(wrapper.end(), sandbox.begin(), sandbox.end());
  RunningDaemon d({}, "", wrapper);
  INFO(d.daemon->Stderr());
  if (!seccomp.empty()) {
    CHECK(ProcStatus(d.daemon->pid(), "Seccomp") == "2");
  }
  // ProcSubset=pid hides /proc/stat: the start time comes from the clocks instead.
  HttpConnection metrics(d.metrics_port);
  const auto reply = metrics.Request("GET", "/metrics");
  REQUIRE(reply.has_value());
  const std::string name = "\nstreamgate_process_start_time_seconds ";
  const size_t at = reply->body.find(name);
  REQUIRE(at != std::string::npos);
  const double started = std::stod(reply->body.substr(at + name.size()));
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(started > now - 120);
  CHECK(started <= now + 1);
  ServesAsUnprivilegedUserAndStops(d);
}

}  // namespace sg::test
