// Storage put throughput: the local store against dd to the same filesystem (both fsync before
// they finish), and the S3 store against `aws s3 cp` to the same s3rver on loopback. Each side
// runs in turn, RUNS times; the best run of each is printed with the ratio.
//   bench_storage [LOCAL_MIB] [S3_MIB] [RUNS]
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>

#include <fmt/format.h>
#include <unistd.h>

#include "daemon/storage/local_storage.h"
#include "daemon/storage/s3_storage.h"
#include "tests/support/aws_cli.h"
#include "tests/support/process.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMiB = size_t{1} << 20;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  const std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

void Row(const std::string& what, double mib, double ref_seconds, double our_seconds) {
  std::cout << fmt::format("  {:26} {:>12.0f} {:>12.0f} {:>8.2f}\n", what, mib / ref_seconds,
                           mib / our_seconds, ref_seconds / our_seconds);
}

// Puts `mib` MiB, 1 MiB a write, into the local store; seconds to a durable commit.
double PutLocal(sg::Storage& store, size_t mib, const std::string& key) {
  const std::string chunk(kMiB, '\0');
  const auto start = Clock::now();
  auto writer = store.Put(key).value();
  for (size_t i = 0; i < mib; ++i) {
    if (!writer->Write(chunk)) std::abort();
  }
  if (!writer->Commit()) std::abort();
  return Seconds(start);
}

// Streams a file into the store, 8 MiB a write, as an upload handler would.
double PutFile(sg::Storage& store, const std::string& path, const std::string& key) {
  const auto start = Clock::now();
  std::ifstream in(path, std::ios::binary);
  std::string chunk(8 * kMiB, '\0');
  auto writer = store.Put(key).value();
  while (in.read(chunk.data(), static_cast<std::streamsize>(chunk.size())) || in.gcount() > 0) {
    const auto wrote =
        writer->Write(std::string_view(chunk.data(), static_cast<size_t>(in.gcount())));
    if (!wrote) {
      std::cerr << wrote.error().message << '\n';
      std::abort();
    }
  }
  const auto info = writer->Commit();
  if (!info) {
    std::cerr << info.error().message << '\n';
    std::abort();
  }
  return Seconds(start);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t local_mib = argc > 1 ? std::stoul(argv[1]) : 1024;
  const size_t s3_mib = argc > 2 ? std::stoul(argv[2]) : 256;
  const int runs = argc > 3 ? std::stoi(argv[3]) : 3;
  sg::test::TempDir dir;

  // Local disk: dd with conv=fsync writes and syncs the file, as Commit does (which also syncs
  // the folder after its rename).
  auto local = sg::storage::LocalStorage::Create(dir.path() + "/media").value();
  double dd_best = 1e9;
  double ours_best = 1e9;
  for (int run = 0; run < runs; ++run) {
    const auto start = Clock::now();
    const auto dd = sg::test::Run({"/bin/dd", "if=/dev/zero", "of=" + dir.path() + "/dd.bin",
                                   "bs=1M", fmt::format("count={}", local_mib), "conv=fsync"},
                                  {}, std::chrono::minutes(10));
    dd_best = std::min(dd_best, Seconds(start));
    if (dd.exit_code != 0) std::cerr << "dd: " << dd.err << '\n';
    std::filesystem::remove(dir.path() + "/dd.bin");
    ours_best = std::min(ours_best, PutLocal(*local, local_mib, "videos/bench/source"));
    (void)local->Delete("videos/bench/source");
  }
  std::cout << fmt::format("Storage puts, best of {} runs (MiB/s; ratio = ours / reference)\n",
                           runs);
  std::cout << fmt::format("  {:26} {:>12} {:>12} {:>8}\n", "", "reference", "ours", "x");
  Row(fmt::format("local {} MiB vs dd fsync", local_mib), static_cast<double>(local_mib), dd_best,
      ours_best);

  // S3: s3rver on loopback; aws s3 cp and our store put the same file.
  const std::string node = FindOnPath("node");
  const std::string aws = FindOnPath("aws");
  if (node.empty() || aws.empty()) {
    std::cerr << "bench_storage: node or aws missing; run scripts/install-deps.sh --test\n";
    return 1;
  }
  std::filesystem::create_directories(dir.path() + "/s3");
  sg::test::Process s3rver({node, SG_S3RVER_BIN, "-d", dir.path() + "/s3", "-a", "127.0.0.1", "-p",
                            "0", "-s", "--configure-bucket", "streamgate"},
                           dir);
  int port = 0;
  const std::regex listening(R"(listening on 127\.0\.0\.1:(\d+))");
  if (!sg::test::WaitFor(
          [&] {
            std::smatch m;
            const std::string out = s3rver.Stdout();
            if (!std::regex_search(out, m, listening)) return false;
            port = std::stoi(m[1]);
            return true;
          },
          std::chrono::seconds(30))) {
    std::cerr << "bench_storage: s3rver did not start: " << s3rver.Stderr() << '\n';
    return 1;
  }
  sg::storage::S3Settings settings;
  settings.endpoint = fmt::format("127.0.0.1:{}", port);
  settings.bucket = "streamgate";
  settings.region = "us-east-1";
  settings.access_key = settings.secret_key = "S3RVER";
  auto s3 = sg::storage::S3Storage::Create(settings).value();
  std::string data(s3_mib * kMiB, '\0');
  for (size_t i = 0; i < data.size(); i += 4096) data[i] = static_cast<char>(i / 4096);
  const std::string file = dir.Write("upload.bin", data);
  data = std::string();
  sg::test::SpawnOptions env;
  env.env = sg::test::AwsCliEnv(dir.path());
  double aws_best = 1e9;
  double s3_best = 1e9;
  for (int run = 0; run < runs; ++run) {
    const auto start = Clock::now();
    const auto cp = sg::test::Run({aws, "--endpoint-url", "http://" + settings.endpoint, "s3", "cp",
                                   "--only-show-errors", file, "s3://streamgate/aws/source"},
                                  env, std::chrono::minutes(10));
    aws_best = std::min(aws_best, Seconds(start));
    if (cp.exit_code != 0) std::cerr << "aws s3 cp: " << cp.out << cp.err << '\n';
    s3_best = std::min(s3_best, PutFile(*s3, file, "ours/source"));
  }
  Row(fmt::format("s3 {} MiB vs aws s3 cp", s3_mib), static_cast<double>(s3_mib), aws_best,
      s3_best);
  s3rver.Signal(SIGTERM);
  (void)s3rver.Wait(std::chrono::seconds(10));
  return 0;
}
