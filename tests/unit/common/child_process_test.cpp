// Child processes: exit status, output by lines, the time limit, a stop, the process group.
#include "common/child_process.h"

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tests/support/process.h"

namespace sg {
namespace {

using namespace std::chrono_literals;

// Running, as opposed to gone or a zombie waiting to be reaped.
bool Alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return false;
  const auto paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z';
}

}  // namespace

TEST_CASE("a child's lines, its exit status and its stderr's last lines come back", "[child]") {
  std::vector<std::string> out;
  ChildOptions options;
  options.argv = {"sh", "-c", "printf 'one\\ntwo\\nthree'; echo oops >&2; exit 3"};
  options.on_stdout = [&](std::string_view line) { out.emplace_back(line); };
  auto result = RunChild(options);
  REQUIRE(result);
  CHECK(out == std::vector<std::string>{"one", "two", "three"});
  CHECK(result->exit_code == 3);
  CHECK_FALSE(result->Succeeded());
  CHECK(result->stderr_tail == std::vector<std::string>{"oops"});
  CHECK(result->Describe() == "exited with status 3");
}

TEST_CASE("a missing program is an error that says where it was looked for", "[child]") {
  ChildOptions options;
  options.argv = {"no-such-program-streamgate"};
  auto result = RunChild(options);
  REQUIRE_FALSE(result);
  CHECK(result.error().code == ErrorCode::kNotFound);
  CHECK_THAT(result.error().message, Catch::Contains("not on PATH"));
  CHECK_FALSE(FindProgram("/nonexistent/ffmpeg"));
  CHECK(FindProgram("sh"));
}

TEST_CASE("the time limit and a stop end the child and everything in its group", "[child]") {
  // The shell starts a grandchild that would outlive it; both go.
  std::string grandchild;
  ChildOptions options;
  options.argv = {"sh", "-c", "sleep 60 & echo $!; wait"};
  options.timeout = 300ms;
  options.grace = 200ms;
  options.on_stdout = [&](std::string_view line) { grandchild = std::string(line); };
  auto timed = RunChild(options);
  REQUIRE(timed);
  CHECK(timed->timed_out);
  CHECK_FALSE(timed->Succeeded());
  CHECK_THAT(timed->Describe(), Catch::Contains("time limit"));
  REQUIRE_FALSE(grandchild.empty());
  const pid_t orphan = std::stoi(grandchild);
  // Killed: at most a zombie of init's for a moment, never a running sleep.
  CHECK(test::WaitFor([&] { return !Alive(orphan); }, std::chrono::seconds(2)));

  std::atomic<int> polls{0};
  ChildOptions stopping;
  stopping.argv = {"sleep", "60"};
  stopping.stop = [&] { return ++polls > 2; };
  auto stopped = RunChild(stopping);
  REQUIRE(stopped);
  CHECK(stopped->stopped);
  CHECK(stopped->signal == SIGTERM);
}

TEST_CASE("the child runs at the nice level asked for", "[child]") {
  std::string level;
  ChildOptions options;
  options.argv = {"nice"};
  options.nice = 7;
  options.on_stdout = [&](std::string_view line) { level = std::string(line); };
  auto result = RunChild(options);
  REQUIRE(result);
  CHECK(result->Succeeded());
  CHECK(std::stoi(level) == ::getpriority(PRIO_PROCESS, 0) + 7);
}

}  // namespace sg
