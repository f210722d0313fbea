#include "daemon/storage/direct_append.h"

#include <cstdint>
#include <random>
#include <string>

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/process.h"

namespace sg::storage {

namespace {

using test::TempDir;

std::string Contents(const std::string& path) {
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    REQUIRE(n >= 0);
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// Whether the folder's filesystem takes O_DIRECT at all (ext4 and xfs do, tmpfs does not).
bool TakesDirect(const std::string& folder) {
  const std::string probe = folder + "/probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
  ::unlink(probe.c_str());
  return fd >= 0;
}

// Appends of every size (a byte, a block and a byte, more than the buffer), Flush after some,
// a truncation back to the last flush and a reopen after others: the file always holds what a
// plain append would have written.
void Exercise(const std::string& folder, bool expect_direct) {
  const std::string path = folder + "/staged.data";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  auto appender = std::make_unique<DirectAppender>(fd, path, 0);
  std::mt19937_64 random(20261202);
  std::string expected;  // what the file holds after the next Flush
  uint64_t flushed = 0;  // what a Reset may go back to
  const size_t sizes[] = {1,
                          7,
                          4095,
                          4096,
                          4097,
                          65536,
                          1000003,
                          DirectAppender::kBuffer,
                          DirectAppender::kBuffer + 1,
                          3 * DirectAppender::kBuffer - 5};
  for (int round = 0; round < 40; ++round) {
    const size_t n = sizes[random() % std::size(sizes)];
    std::string bytes(n, '\0');
    for (auto& c : bytes) c = static_cast<char>(random());
    REQUIRE(appender->Append(bytes));
    expected += bytes;
    CHECK(appender->end() == expected.size());
    switch (random() % 4) {
      case 0:
        REQUIRE(appender->Flush());
        flushed = expected.size();
        CHECK(Contents(path) == expected);
        break;
      case 1:  // a chunk that failed its checksum: back to the last flush
        REQUIRE(appender->Flush());
        REQUIRE(::ftruncate(fd, static_cast<off_t>(flushed)) == 0);
        appender->Reset(flushed);
        expected.resize(flushed);
        CHECK(Contents(path) == expected);
        break;
      case 2:  // the next request opens it again, where the last one ended
        REQUIRE(appender->Flush());
        flushed = expected.size();
        appender.reset();
        ::close(fd);
        fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
        REQUIRE(fd >= 0);
        appender = std::make_unique<DirectAppender>(fd, path, flushed);
        break;
      default:
        break;
    }
  }
  REQUIRE(appender->Flush());
  CHECK(appender->direct() == expect_direct);
  appender.reset();
  ::close(fd);
  CHECK(Contents(path) == expected);
}

}  // namespace

TEST_CASE("appends past the page cache keep every byte in order through flushes and resets",
          "[storage]") {
  TempDir dir;
  const bool direct = TakesDirect(dir.path());
  if (!direct) WARN("the temporary folder's filesystem refuses O_DIRECT: the fallback is tested");
  Exercise(dir.path(), direct);
}

TEST_CASE("appends where O_DIRECT cannot be had go through the page cache alike", "[storage]") {
  // tmpfs refuses O_DIRECT at open.
  struct stat st {};
  if (::stat("/dev/shm", &st) != 0 || TakesDirect("/dev/shm")) {
    WARN("no tmpfs at /dev/shm that refuses O_DIRECT: nothing to test here");
    return;
  }
  const std::string folder = "/dev/shm/sg-direct-append-" + std::to_string(::getpid());
  REQUIRE(::mkdir(folder.c_str(), 0700) == 0);
  Exercise(folder, false);
  ::unlink((folder + "/staged.data").c_str());
  ::rmdir(folder.c_str());
}

TEST_CASE("an appender whose file cannot be opened again writes through the page cache",
          "[storage]") {
  TempDir dir;
  const std::string path = dir.path() + "/staged.data";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  DirectAppender appender(fd, dir.path() + "/not-there", 0);
  CHECK_FALSE(appender.direct());
  REQUIRE(appender.Append("abc"));
  REQUIRE(appender.Flush());
  ::close(fd);
  CHECK(Contents(path) == "abc");
}

TEST_CASE("a direct write cut short by the file size limit fails plainly and keeps what fit",
          "[storage]") {
  TempDir dir;
  if (!TakesDirect(dir.path())) {
    WARN("the temporary folder's filesystem refuses O_DIRECT: no direct write to cut short");
    return;
  }
  const std::string path = dir.path() + "/staged.data";
  std::string bytes(3 * DirectAppender::kBuffer, '\0');
  std::mt19937_64 random(7);
  for (auto& c : bytes) c = static_cast<char>(random());
  // A file size limit that is not block-aligned: the second buffer's direct write is cut to an
  // unaligned length (ext4 writes it through the page cache, other filesystems refuse it with
  // EINVAL); either way the appender falls back to the page cache with the rest of the bytes,
  // which stop at the limit (EFBIG).
  const rlim_t cap = DirectAppender::kBuffer + DirectAppender::kBuffer / 2 + 100;
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{cap, cap};
    setrlimit(RLIMIT_FSIZE, &limit);
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) _exit(3);
    DirectAppender appender(fd, path, 0);
    if (!appender.direct()) _exit(4);
    const bool appended = static_cast<bool>(appender.Append(bytes));
    const bool flushed = static_cast<bool>(appender.Flush());
    _exit(appended || flushed ? 5 : 0);  // both must fail: the bytes do not fit
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));  // no crash
  CHECK(WEXITSTATUS(status) == 0);
  // What was written is the bytes' beginning, in order.
  const std::string got = Contents(path);
  CHECK(got.size() <= cap);
  CHECK(got.size() >= DirectAppender::kBuffer);
  CHECK(got == bytes.substr(0, got.size()));
}

}  // namespace sg::storage
