// The S3 store against a real S3-protocol server, s3rver (tests/peers/s3rver, installed by
// scripts/install-deps.sh --test), started on loopback for each test, and cross-checked with a
// second client, `aws s3`. s3rver checks the access key id, the request time and the form of a
// Signature V4 header but not the signature itself (its authentication.js says so), so a wrong
// secret is not caught here: the signature is tested against AWS's own examples in
// tests/unit/daemon/storage/s3_signer_test.cpp.
#include "daemon/storage/s3_storage.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/storage/s3_signer.h"
#include "tests/support/aws_cli.h"
#include "tests/support/process.h"
#include "tests/support/s3rver.h"

namespace sg::storage {

namespace {

using test::Process;
using test::TempDir;
constexpr size_t kMiB = size_t{1} << 20;

using test::FindOnPath;
using test::Require;

// s3rver with the settings the store tests use against it.
class S3rver {
 public:
  explicit S3rver(const TempDir& dir) : server_(dir, SG_S3RVER_BIN) {}

  std::string endpoint() const { return server_.endpoint(); }

  S3Settings Settings() const {
    S3Settings s;
    s.endpoint = endpoint();
    s.bucket = "streamgate";
    s.region = "us-east-1";
    s.access_key = "S3RVER";  // s3rver's one account
    s.secret_key = "S3RVER";
    s.part_size = 5 * kMiB;
    s.read_window = kMiB;
    s.attempts = 2;
    s.backoff = std::chrono::milliseconds(20);
    return s;
  }

 private:
  test::S3rver server_;
};

std::unique_ptr<S3Storage> Store(const S3Settings& settings) {
  return S3Storage::Create(settings).value();
}

// Bytes that differ from offset to offset, so that a misplaced part or range shows.
std::string Pattern(size_t size) {
  std::string out(size, '\0');
  uint32_t x = 2463534242u;
  for (auto& c : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return out;
}

std::string ReadAll(Storage& store, const std::string& key, ByteRange range = {}) {
  auto reader = store.Get(key, range);
  REQUIRE(reader);
  std::string out;
  std::string buffer(300 * 1024, '\0');
  for (;;) {
    const auto n = (*reader)->Read(buffer.data(), buffer.size());
    REQUIRE(n);
    if (*n == 0) break;
    out.append(buffer.data(), *n);
  }
  return out;
}

ObjectInfo PutAll(Storage& store, const std::string& key, std::string_view bytes,
                  size_t chunk = 64 * 1024) {
  auto writer = store.Put(key).value();
  for (size_t i = 0; i < bytes.size(); i += chunk) {
    REQUIRE(writer->Write(bytes.substr(i, chunk)));
  }
  auto info = writer->Commit();
  INFO((info ? std::string() : info.error().message));
  REQUIRE(info);
  return info.value();
}

test::RunResult Aws(const S3rver& server, const TempDir& dir, std::vector<std::string> args) {
  std::vector<std::string> argv = {Require("aws", FindOnPath("aws")), "--endpoint-url",
                                   "http://" + server.endpoint(), "s3"};
  argv.insert(argv.end(), args.begin(), args.end());
  test::SpawnOptions options;
  options.env = test::AwsCliEnv(dir.path());
  return test::Run(argv, options, std::chrono::seconds(120));
}

// Runs `body` in a child process; returns its wait status. The child makes its own store (and
// curl handles): connections shared with the parent would carry a killed child's half request.
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

// The keys s3rver holds in the bucket, hidden ones included, read from its data folder (its
// files are named "<last segment>._S3rver_object"); multipart uploads in progress are not objects.
std::vector<std::string> StoredKeys(const TempDir& dir) {
  const std::string root = dir.path() + "/s3/streamgate/";
  const std::string suffix = "._S3rver_object";
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::end(it); it.increment(ec)) {
    const std::string path = it->path().string();
    if (it->is_regular_file() && path.ends_with(suffix)) {
      out.push_back(path.substr(root.size(), path.size() - root.size() - suffix.size()));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("s3 storage streams a multipart object and reads it back by range", "[s3]") {
  TempDir dir;
  S3rver server(dir);
  auto store = Store(server.Settings());
  const std::string bytes = Pattern(11 * kMiB + 123);  // three parts of 5 MiB at most

  auto writer = store->Put("videos/v1/source").value();
  REQUIRE(writer->Write(std::string_view(bytes).substr(0, 6 * kMiB)));
  CHECK(store->Stat("videos/v1/source").error().code == ErrorCode::kNotFound);
  REQUIRE(writer->Write(std::string_view(bytes).substr(6 * kMiB)));
  const auto info = writer->Commit();
  INFO((info ? std::string() : info.error().message));
  REQUIRE(info);

  CHECK(info->size == bytes.size());
  CHECK(info->etag.starts_with('"'));
  CHECK(store->Stat("videos/v1/source")->etag == info->etag);
  CHECK(ReadAll(*store, "videos/v1/source") == bytes);
  CHECK(ReadAll(*store, "videos/v1/source", {5 * kMiB - 3, 10}) == bytes.substr(5 * kMiB - 3, 10));
  CHECK(ReadAll(*store, "videos/v1/source", {bytes.size() - 5, std::nullopt}) ==
        bytes.substr(bytes.size() - 5));
  CHECK(store->Get("videos/v1/source", {bytes.size(), std::nullopt}).error().code ==
        ErrorCode::kInvalidArgument);
}

TEST_CASE("an aborted s3 write leaves nothing, and neither does a dropped writer", "[s3]") {
  TempDir dir;
  S3rver server(dir);
  auto store = Store(server.Settings());
  PutAll(*store, "videos/v1/source", "version 1");

  {
    auto writer = store->Put("videos/v1/source").value();
    REQUIRE(writer->Write(Pattern(6 * kMiB)));  // one part already uploaded
    writer->Abort();
    CHECK(writer->Commit().error().code == ErrorCode::kFailedPrecondition);
  }
  {
    auto writer = store->Put("videos/v2/source").value();
    REQUIRE(writer->Write(Pattern(6 * kMiB)));
  }

  CHECK(ReadAll(*store, "videos/v1/source") == "version 1");
  CHECK(store->Stat("videos/v2/source").error().code == ErrorCode::kNotFound);
  CHECK(store->List("").value().size() == 1);
}

TEST_CASE("s3 storage lists by prefix, deletes, and says what is not found", "[s3]") {
  TempDir dir;
  S3rver server(dir);
  auto store = Store(server.Settings());
  for (const char* key : {"videos/a/source", "videos/a/hls/720p/seg_00001.m4s", "videos/b/source",
                          "thumbs/a b&c.jpg"}) {
    PutAll(*store, key, key);
  }

  const auto under_a = store->List("videos/a/").value();
  REQUIRE(under_a.size() == 2);
  CHECK(under_a[0].key == "videos/a/hls/720p/seg_00001.m4s");
  CHECK(under_a[1].key == "videos/a/source");
  CHECK(under_a[1].size == 15);
  CHECK(under_a[1].etag == store->Stat("videos/a/source")->etag);
  CHECK(store->List("").value().size() == 4);
  CHECK(store->List("").value()[0].key == "thumbs/a b&c.jpg");
  CHECK(ReadAll(*store, "thumbs/a b&c.jpg") == "thumbs/a b&c.jpg");

  REQUIRE(store->Delete("videos/a/source"));
  const auto again = store->Delete("videos/a/source");
  REQUIRE_FALSE(again);
  CHECK(again.error().code == ErrorCode::kNotFound);
  CHECK_THAT(again.error().message,
             Catch::Contains("no object 'videos/a/source' in bucket 'streamgate'"));
  CHECK(store->List("videos/").value().size() == 2);
}

TEST_CASE("s3 storage reports a missing bucket and a refused key plainly", "[s3]") {
  TempDir dir;
  S3rver server(dir);
  S3Settings no_bucket = server.Settings();
  no_bucket.bucket = "nosuchbucket";
  S3Settings wrong_key = server.Settings();
  wrong_key.access_key = "NOT-AN-ACCOUNT";

  const auto missing = Store(no_bucket)->Put("k").value()->Commit();
  const auto refused = Store(wrong_key)->Stat("k");
  const auto refused_put = Store(wrong_key)->Put("k").value()->Commit();

  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ErrorCode::kNotFound);
  CHECK_THAT(missing.error().message, Catch::Contains("bucket 'nosuchbucket' does not exist"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == ErrorCode::kPermissionDenied);
  CHECK_THAT(refused.error().message, Catch::Contains("HTTP 403"));
  REQUIRE_FALSE(refused_put);
  CHECK(refused_put.error().code == ErrorCode::kPermissionDenied);
  CHECK_THAT(refused_put.error().message, Catch::Contains("InvalidAccessKeyId"));
  CHECK_THAT(refused_put.error().message, Catch::Contains("check storage.accesskey"));
}

TEST_CASE("s3 storage retries an unreachable store, then says it is unavailable", "[s3]") {
  // A port that was free a moment ago: connecting is refused.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  S3Settings settings;
  settings.endpoint = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  settings.bucket = "streamgate";
  settings.region = "us-east-1";
  settings.access_key = settings.secret_key = "S3RVER";
  settings.attempts = 3;
  settings.backoff = std::chrono::milliseconds(1);

  const auto stat = Store(settings)->Stat("videos/v1/source");

  REQUIRE_FALSE(stat);
  CHECK(stat.error().code == ErrorCode::kUnavailable);
  CHECK_THAT(stat.error().message,
             Catch::StartsWith("s3 stat 'videos/v1/source' (after 3 attempts): http://127.0.0.1:"));
}

TEST_CASE("what s3 storage writes, aws s3 reads, and the other way round", "[s3][aws]") {
  TempDir dir;
  S3rver server(dir);
  auto store = Store(server.Settings());
  const std::string ours = Pattern(7 * kMiB + 5);
  const std::string theirs = Pattern(9 * kMiB + 17).substr(3);  // aws goes multipart past 8 MiB
  PutAll(*store, "videos/ours/source", ours);
  const std::string theirs_path = dir.Write("theirs.bin", theirs);

  const auto get =
      Aws(server, dir, {"cp", "s3://streamgate/videos/ours/source", dir.path() + "/ours.bin"});
  const auto put = Aws(server, dir, {"cp", theirs_path, "s3://streamgate/videos/theirs/source"});

  INFO("aws get: " << get.out << get.err << "\naws put: " << put.out << put.err);
  REQUIRE(get.exit_code == 0);
  REQUIRE(put.exit_code == 0);
  CHECK(test::ReadFile(dir.path() + "/ours.bin") == ours);
  CHECK(store->Stat("videos/theirs/source")->size == theirs.size());
  CHECK(ReadAll(*store, "videos/theirs/source") == theirs);
  CHECK(ReadAll(*store, "videos/theirs/source", {8 * kMiB - 1, 2}) ==
        theirs.substr(8 * kMiB - 1, 2));
}

TEST_CASE("s3 staging keeps what Sync made durable, across a kill -9, and commits",
          "[s3][staging]") {
  TempDir dir;
  S3rver server(dir);
  auto store = Store(server.Settings());
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
    auto own = Store(server.Settings());
    auto staged = own->OpenStaged("up1").value();
    (void)staged->Append("garbage-not-synced");
    kill(getpid(), SIGKILL);
  });
  CHECK(WIFSIGNALED(status));
  auto staged = store->OpenStaged("up1").value();
  CHECK(staged->size() == 6);
  CHECK(staged->appended() == 6);
  CHECK(staged->meta() == "{\"a\":1}");
  REQUIRE(staged->Append("bad"));
  REQUIRE(staged->Rollback());
  CHECK(staged->appended() == 6);
  REQUIRE(staged->Append("world"));
  REQUIRE(staged->Sync(std::string("{\"a\":2}")));
  CHECK(staged->meta() == "{\"a\":2}");
  auto listed = store->ListStaged().value();
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].id == "up1");
  CHECK(listed[0].size == 11);
  CHECK(listed[0].meta == "{\"a\":2}");
  CHECK(listed[0].modified > std::chrono::system_clock::time_point());
  CHECK(store->List("").value().empty());  // staging is not an object
  CHECK(store->List(".sg").value().empty());
  CHECK_FALSE(StoredKeys(dir).empty());  // but it is there, hidden

  const ObjectInfo info = staged->Commit("videos/v1/source").value();
  CHECK(info.key == "videos/v1/source");
  CHECK(info.size == 11);
  CHECK(ReadAll(*store, "videos/v1/source") == "hello world");
  CHECK(store->ListStaged().value().empty());
  CHECK(store->OpenStaged("up1").error().code == ErrorCode::kNotFound);
  CHECK(staged->Append("x").error().code == ErrorCode::kFailedPrecondition);
  CHECK(StoredKeys(dir) == std::vector<std::string>{"videos/v1/source"});
}

TEST_CASE("s3 staging refuses bad ids and a second stage of one id, and deletes", "[s3][staging]") {
  TempDir dir;
  S3rver server(dir);
  auto store = Store(server.Settings());
  for (const std::string& id :
       std::vector<std::string>{"../x", "", "a/b", ".sg-x", std::string(65, 'a')}) {
    CHECK(store->Stage(id, "").error().code == ErrorCode::kInvalidArgument);
    CHECK(store->OpenStaged(id).error().code == ErrorCode::kInvalidArgument);
    CHECK(store->DeleteStaged(id).error().code == ErrorCode::kInvalidArgument);
  }
  CHECK(store->OpenStaged("nothing").error().code == ErrorCode::kNotFound);
  CHECK_THAT(store->OpenStaged("nothing").error().message,
             Catch::Contains("nothing is staged under 'nothing'"));
  REQUIRE(store->Stage("a-1", "m"));
  CHECK(store->Stage("a-1", "m").error().code == ErrorCode::kFailedPrecondition);
  CHECK_THAT(store->Stage("a-1", "m").error().message, Catch::Contains("'a-1' is already staged"));
  const auto not_text = store->Stage("bin", "\xff\xfe");
  REQUIRE_FALSE(not_text);
  CHECK(not_text.error().code == ErrorCode::kInvalidArgument);
  CHECK_THAT(not_text.error().message, Catch::Contains("must be UTF-8 text"));
  {
    // One with a multipart upload under way, the other only a manifest.
    auto staged = store->Stage("b_2", "n").value();
    REQUIRE(staged->Append(Pattern(6 * kMiB)));
    REQUIRE(staged->Sync());
  }
  CHECK(store->ListStaged().value().size() == 2);
  auto committed = store->Stage("c", "").value();
  CHECK(committed->Commit(".sg-staging/x").error().code == ErrorCode::kInvalidArgument);
  CHECK(committed->Commit("a//b").error().code == ErrorCode::kInvalidArgument);
  REQUIRE(store->DeleteStaged("c"));

  REQUIRE(store->DeleteStaged("a-1"));
  REQUIRE(store->DeleteStaged("b_2"));
  CHECK(store->DeleteStaged("a-1").error().code == ErrorCode::kNotFound);
  CHECK(store->OpenStaged("b_2").error().code == ErrorCode::kNotFound);
  CHECK(store->ListStaged().value().empty());
  CHECK(StoredKeys(dir).empty());
}

TEST_CASE("s3 staging streams parts, survives a restart and commits the exact bytes",
          "[s3][staging]") {
  TempDir dir;
  S3rver server(dir);
  const std::string bytes = Pattern(13 * kMiB + 5);
  // Odd-sized pieces, so that parts and tails fall mid-piece; Sync after some of them.
  const std::vector<size_t> pieces = {kMiB + 7,     3 * kMiB + 333, 2 * kMiB - 1, 17,
                                      4 * kMiB + 1, 2 * kMiB,       kMiB - 357};
  size_t at = 0;
  {
    auto store = Store(server.Settings());
    auto staged = store->Stage("big", "{}").value();
    for (size_t i = 0; i < pieces.size(); ++i) {
      REQUIRE(staged->Append(std::string_view(bytes).substr(at, pieces[i])));
      at += pieces[i];
      if (i % 2 == 1) {
        const auto synced = staged->Sync();
        INFO((synced ? std::string() : synced.error().message));
        REQUIRE(synced);
        CHECK(staged->size() == at);
      }
    }
    REQUIRE(at == 13 * kMiB);
    CHECK(staged->size() == 12 * kMiB + 357);
    // A rolled-back piece that filled a part: the tail is read back from its object.
    REQUIRE(staged->Rollback());
    at = staged->size();
    REQUIRE(staged->Append(Pattern(3 * kMiB)));
    REQUIRE(staged->Rollback());
    CHECK(staged->appended() == at);
    REQUIRE(staged->Sync(std::string("{\"n\":1}")));
    CHECK(store->List("").value().empty());
  }
  // Another store, as after a restart.
  auto store = Store(server.Settings());
  auto staged = store->OpenStaged("big").value();
  CHECK(staged->size() == at);
  CHECK(staged->meta() == "{\"n\":1}");
  REQUIRE(staged->Append(std::string_view(bytes).substr(at)));
  const auto info = staged->Commit("videos/big/source");
  INFO((info ? std::string() : info.error().message));
  REQUIRE(info);
  CHECK(info->size == bytes.size());
  const std::string back = ReadAll(*store, "videos/big/source");
  CHECK(back.size() == bytes.size());
  CHECK(s3::Sha256Hex(back) == s3::Sha256Hex(bytes));
  CHECK(store->ListStaged().value().empty());
  CHECK(StoredKeys(dir) == std::vector<std::string>{"videos/big/source"});
}

TEST_CASE("a kill -9 while s3 staging loses only what was not synced", "[s3][staging]") {
  TempDir dir;
  S3rver server(dir);
  const std::string bytes = Pattern(12 * kMiB + 99);
  const size_t synced = 7 * kMiB + 3;  // one part and a tail
  REQUIRE(Store(server.Settings())->Stage("k9", "{\"k\":9}"));

  const int status = InChild([&] {
    auto store = Store(server.Settings());
    auto staged = store->OpenStaged("k9").value();
    if (!staged->Append(std::string_view(bytes).substr(0, synced)) || !staged->Sync()) _exit(3);
    // More than a part past the kept size: a part goes out, then the process dies.
    (void)staged->Append(Pattern(6 * kMiB));
    kill(getpid(), SIGKILL);
  });
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  auto store = Store(server.Settings());
  auto staged = store->OpenStaged("k9").value();
  CHECK(staged->size() == synced);
  CHECK(staged->appended() == synced);
  CHECK(staged->meta() == "{\"k\":9}");
  CHECK(store->ListStaged().value().at(0).size == synced);
  REQUIRE(staged->Append(std::string_view(bytes).substr(synced, 4 * kMiB)));
  REQUIRE(staged->Sync());
  REQUIRE(staged->Append(std::string_view(bytes).substr(synced + 4 * kMiB)));
  const auto info = staged->Commit("videos/k9/source");
  INFO((info ? std::string() : info.error().message));
  REQUIRE(info);
  CHECK(info->size == bytes.size());
  CHECK(ReadAll(*store, "videos/k9/source") == bytes);
  CHECK(StoredKeys(dir) == std::vector<std::string>{"videos/k9/source"});
}

}  // namespace sg::storage
