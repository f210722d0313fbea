#include "daemon/storage/local_storage.h"

#include <filesystem>
#include <string>

#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/process.h"

namespace sg::storage {

namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::unique_ptr<LocalStorage> Store(const TempDir& dir) {
  return LocalStorage::Create(dir.path() + "/media").value();
}

ObjectInfo PutAll(Storage& store, const std::string& key, const std::string& bytes) {
  auto writer = store.Put(key).value();
  REQUIRE(writer->Write(bytes));
  return writer->Commit().value();
}

std::string ReadAll(Storage& store, const std::string& key, ByteRange range = {}) {
  auto reader = store.Get(key, range).value();
  std::string out;
  char buffer[7];  // small, so that reads take several calls
  for (;;) {
    const size_t n = reader->Read(buffer, sizeof buffer).value();
    if (n == 0) break;
    out.append(buffer, n);
  }
  CHECK(out.size() == reader->length());
  return out;
}

// Every file under a folder, hidden ones included.
std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file()) out.push_back(it->path().string());
  }
  return out;
}

// Runs `body` in a child process; returns its wait status.
template <typename F>
int InChild(F body) {
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    body();
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return status;
}

}  // namespace

TEST_CASE("local storage shows an object only once it is committed", "[storage]") {
  TempDir dir;
  auto store = Store(dir);
  auto writer = store->Put("videos/v1/source").value();
  REQUIRE(writer->Write("first chunk, "));
  REQUIRE(writer->Write("second chunk"));

  CHECK(store->Stat("videos/v1/source").error().code == ErrorCode::kNotFound);
  CHECK(store->List("").value().empty());

  const ObjectInfo info = writer->Commit().value();

  CHECK(info.key == "videos/v1/source");
  CHECK(info.size == 25);
  CHECK(ReadAll(*store, "videos/v1/source") == "first chunk, second chunk");
  CHECK(FilesUnder(dir.path()) == std::vector<std::string>{dir.path() + "/media/videos/v1/source"});
  CHECK(writer->Write("more").error().code == ErrorCode::kFailedPrecondition);
}

TEST_CASE("local storage gives a stable strong ETag that changes with the object", "[storage]") {
  TempDir dir;
  auto store = Store(dir);
  const ObjectInfo first = PutAll(*store, "a/b", "one");

  const ObjectInfo stat1 = store->Stat("a/b").value();
  const ObjectInfo stat2 = store->Stat("a/b").value();
  const ObjectInfo second = PutAll(*store, "a/b", "two");

  CHECK(first.etag.starts_with('"'));
  CHECK(first.etag.ends_with('"'));
  CHECK(stat1.etag == first.etag);
  CHECK(stat2.etag == first.etag);
  CHECK(stat1.modified == first.modified);
  CHECK(second.etag != first.etag);
}

TEST_CASE("an aborted or abandoned local write leaves the old object alone", "[storage]") {
  TempDir dir;
  auto store = Store(dir);
  PutAll(*store, "videos/v1/source", "version 1");

  {
    auto writer = store->Put("videos/v1/source").value();
    REQUIRE(writer->Write("version 2, never committed"));
    writer->Abort();
    CHECK(writer->Commit().error().code == ErrorCode::kFailedPrecondition);
  }
  {
    auto writer = store->Put("videos/v1/source").value();
    REQUIRE(writer->Write("version 3, dropped"));
  }
  {
    auto writer = store->Put("videos/v2/source").value();
    REQUIRE(writer->Write("a new key, dropped"));
  }

  CHECK(ReadAll(*store, "videos/v1/source") == "version 1");
  CHECK(store->Stat("videos/v2/source").error().code == ErrorCode::kNotFound);
  CHECK(store->List("").value().size() == 1);
  CHECK(FilesUnder(dir.path()).size() == 1);
}

TEST_CASE("a local write whose process is killed mid-write leaves nothing visible", "[storage]") {
  TempDir dir;
  auto store = Store(dir);
  PutAll(*store, "videos/v1/source", "version 1");

  const int status = InChild([&] {
    auto writer = store->Put("videos/v1/source").value();
    (void)writer->Write(std::string(1 << 20, 'x'));
    auto other = store->Put("videos/v2/source").value();
    (void)other->Write(std::string(1 << 20, 'y'));
    raise(SIGKILL);
  });

  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  CHECK(ReadAll(*store, "videos/v1/source") == "version 1");
  CHECK(store->Stat("videos/v2/source").error().code == ErrorCode::kNotFound);
  const auto listed = store->List("").value();
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].key == "videos/v1/source");
  // Unnamed temporary files (O_TMPFILE) vanish with the process: not even a hidden file stays.
  CHECK(FilesUnder(dir.path()).size() == 1);
}

TEST_CASE("a local write past the file size limit fails plainly and leaves no object",
          "[storage]") {
  TempDir dir;
  auto store = Store(dir);
  PutAll(*store, "videos/v1/source", "version 1");
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);

  const int status = InChild([&] {
    close(pipe_fds[0]);
    // As a daemon under a quota would see it: writes fail with EFBIG, and SIGXFSZ is ignored.
    signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{1 << 20, 1 << 20};
    setrlimit(RLIMIT_FSIZE, &limit);
    std::string said = "no error";
    for (const char* key : {"videos/v1/source", "videos/v2/source"}) {
      auto writer = store->Put(key).value();
      const std::string chunk(64 * 1024, 'z');
      Result<void> wrote;
      for (int i = 0; i < 64 && wrote; ++i) wrote = writer->Write(chunk);
      if (!wrote) {
        said = std::string(ErrorCodeName(wrote.error().code)) + " " + wrote.error().message;
      }
      if (writer->Commit()) said = "committed";
    }
    (void)!write(pipe_fds[1], said.data(), said.size());
    _exit(0);
  });
  close(pipe_fds[1]);
  char buffer[1024];
  const ssize_t n = read(pipe_fds[0], buffer, sizeof buffer);
  close(pipe_fds[0]);
  const std::string said(buffer, n > 0 ? static_cast<size_t>(n) : 0);

  REQUIRE(WIFEXITED(status));
  CHECK_THAT(said, Catch::StartsWith("no_space local storage: write 'videos/v2/source' in "));
  CHECK_THAT(said, Catch::Contains("File too large"));
  CHECK_THAT(said, Catch::Contains("RLIMIT_FSIZE"));
  CHECK(ReadAll(*store, "videos/v1/source") == "version 1");
  CHECK(store->Stat("videos/v2/source").error().code == ErrorCode::kNotFound);
  CHECK(FilesUnder(dir.path()).size() == 1);
}

TEST_CASE("local storage refuses keys that leave its root, touching nothing", "[storage]") {
  TempDir dir;
  auto store = Store(dir);

  for (const std::string key :
       {"../escaped", "/etc/passwd", "a/../../escaped", "a\\..\\b", "a//b"}) {
    CHECK(store->Put(key).error().code == ErrorCode::kInvalidArgument);
    CHECK(store->Get(key, {}).error().code == ErrorCode::kInvalidArgument);
    CHECK(store->Stat(key).error().code == ErrorCode::kInvalidArgument);
    CHECK(store->Delete(key).error().code == ErrorCode::kInvalidArgument);
  }
  CHECK(store->List("../").error().code == ErrorCode::kInvalidArgument);
  CHECK(store->Put(std::string("a\0b", 3)).error().code == ErrorCode::kInvalidArgument);

  CHECK(FilesUnder(dir.path()).empty());
  CHECK_FALSE(fs::exists(dir.path() + "/media"));
}

TEST_CASE("local storage reads byte ranges", "[storage]") {
  TempDir dir;
  auto store = Store(dir);
  PutAll(*store, "seg", "0123456789");
  PutAll(*store, "empty", "");

  CHECK(ReadAll(*store, "seg", {2, 3}) == "234");
  CHECK(ReadAll(*store, "seg", {7, std::nullopt}) == "789");
  CHECK(ReadAll(*store, "seg", {8, 100}) == "89");
  CHECK(ReadAll(*store, "empty") == "");
  CHECK(store->Get("seg", {10, std::nullopt}).error().code == ErrorCode::kInvalidArgument);
  CHECK(store->Get("missing", {}).error().code == ErrorCode::kNotFound);
}

TEST_CASE("a local reader keeps reading the version it opened", "[storage]") {
  TempDir dir;
  auto store = Store(dir);
  PutAll(*store, "seg", "old bytes");
  auto reader = store->Get("seg", {}).value();

  PutAll(*store, "seg", "new bytes, longer");
  REQUIRE(store->Delete("seg"));
  char buffer[64];
  const size_t n = reader->Read(buffer, sizeof buffer).value();

  CHECK(std::string(buffer, n) == "old bytes");
}

TEST_CASE("local storage lists by prefix and deletes, removing emptied folders", "[storage]") {
  TempDir dir;
  auto store = Store(dir);
  for (const char* key :
       {"videos/a/source", "videos/a/hls/720p/seg_00001.m4s", "videos/b/source", "thumbs/a.jpg"}) {
    PutAll(*store, key, key);
  }

  const auto under_a = store->List("videos/a/").value();
  REQUIRE(under_a.size() == 2);
  CHECK(under_a[0].key == "videos/a/hls/720p/seg_00001.m4s");
  CHECK(under_a[1].key == "videos/a/source");
  CHECK(under_a[1].size == 15);
  CHECK(store->List("videos/").value().size() == 3);
  CHECK(store->List("vid").value().size() == 3);
  CHECK(store->List("").value().size() == 4);
  CHECK(store->List("nothing/here/").value().empty());

  REQUIRE(store->Delete("videos/a/hls/720p/seg_00001.m4s"));
  CHECK(store->Delete("videos/a/hls/720p/seg_00001.m4s").error().code == ErrorCode::kNotFound);
  CHECK_FALSE(fs::exists(dir.path() + "/media/videos/a/hls"));
  CHECK(fs::exists(dir.path() + "/media/videos/a/source"));
  CHECK(store->List("videos/a/").value().size() == 1);
}

TEST_CASE("local storage wants an absolute root", "[storage]") {
  CHECK(LocalStorage::Create("relative/media").error().code == ErrorCode::kConfig);
  CHECK(LocalStorage::Create("").error().code == ErrorCode::kConfig);
  CHECK(LocalStorage::Create("/srv/media/").value()->root() == "/srv/media");
}

}  // namespace sg::storage

namespace sg::storage {

TEST_CASE("local staging keeps what Sync made durable, across a kill -9, and commits by rename",
          "[storage]") {
  TempDir dir;
  auto store = Store(dir);
  {
    auto staged = store->Stage("up1", "{\"a\":1}").value();
    REQUIRE(staged->Append("hello "));
    REQUIRE(staged->Sync());
    CHECK(staged->size() == 6);
    REQUIRE(staged->Append("wor"));
    CHECK(staged->size() == 6);
    CHECK(staged->appended() == 9);
  }
  // A process killed after appending, before Sync: its bytes do not count.
  const int status = InChild([&] {
    auto staged = store->OpenStaged("up1").value();
    (void)staged->Append("garbage-not-synced");
    kill(getpid(), SIGKILL);
  });
  CHECK(WIFSIGNALED(status));
  auto staged = store->OpenStaged("up1").value();
  CHECK(staged->size() == 6);
  CHECK(staged->meta() == "{\"a\":1}");
  REQUIRE(staged->Append("bad"));
  REQUIRE(staged->Rollback());
  CHECK(staged->appended() == 6);
  REQUIRE(staged->Append("world"));
  REQUIRE(staged->Sync(std::string("{\"a\":2}")));
  auto listed = store->ListStaged().value();
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].id == "up1");
  CHECK(listed[0].size == 11);
  CHECK(listed[0].meta == "{\"a\":2}");
  CHECK(store->List("").value().empty());  // staging is not an object

  const ObjectInfo info = staged->Commit("videos/v1/source").value();
  CHECK(info.size == 11);
  CHECK(ReadAll(*store, "videos/v1/source") == "hello world");
  CHECK(store->ListStaged().value().empty());
  CHECK(store->OpenStaged("up1").error().code == ErrorCode::kNotFound);
  CHECK(!staged->Append("x"));
}

TEST_CASE("local staging refuses bad ids and a second stage of one id, and deletes", "[storage]") {
  TempDir dir;
  auto store = Store(dir);
  CHECK(store->Stage("../x", "").error().code == ErrorCode::kInvalidArgument);
  CHECK(store->Stage("", "").error().code == ErrorCode::kInvalidArgument);
  REQUIRE(store->Stage("a-1", "m"));
  CHECK(store->Stage("a-1", "m").error().code == ErrorCode::kFailedPrecondition);
  REQUIRE(store->DeleteStaged("a-1"));
  CHECK(store->DeleteStaged("a-1").error().code == ErrorCode::kNotFound);
  CHECK(FilesUnder(dir.path() + "/media").empty());
}

}  // namespace sg::storage
