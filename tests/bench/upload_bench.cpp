// The upload service's throughput and memory: a tus upload over loopback in 8 MiB chunks (a POST,
// then PATCH after PATCH on one keep-alive connection), to StreamGate (the real streamgated, local
// storage in a temporary folder) and to @tus/server with its FileStore (tests/peers/tus), from the
// same client (libcurl here, streaming the file with a read callback, no checksum header), runs
// interleaved; beside them dd writing the same bytes to the same filesystem, the physical limit.
// Then the daemon's peak VmRSS during one larger upload.
//
//   bench_upload [MIB] [RUNS] [RSS_MIB]     (defaults 1024 3 4096)
//
// Every file lives under one temporary folder in /tmp (sources, both servers' stores, dd's
// output, the catalogue's SQLite file): the same filesystem for all. It is removed at the end.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <unistd.h>

#include "tests/support/bench_daemon.h"
#include "tests/support/bench_stats.h"
#include "tests/support/notify_socket.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kChunk = 8 * kMiB;  // each PATCH's body, as the issue's benchmark says

// ---- the source file ---------------------------------------------------------------------------

// `bytes` of incompressible bytes (splitmix64: nothing on the path compresses or dedupes them),
// written once and read by every run from the page cache.
bool MakeSource(const std::string& path, uint64_t bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  std::vector<uint64_t> block(kChunk / sizeof(uint64_t));
  uint64_t state = 0x5eed5eed5eed5eedULL;
  bool ok = true;
  for (uint64_t done = 0; ok && done < bytes; done += kChunk) {
    for (auto& word : block) {
      uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      word = z ^ (z >> 31);
    }
    const size_t n = static_cast<size_t>(std::min(kChunk, bytes - done));
    ok = ::write(fd, block.data(), n) == static_cast<ssize_t>(n);
  }
  ok = ::fsync(fd) == 0 && ok;  // the runs then read it, and write nothing of it back
  ::close(fd);
  return ok;
}

// ---- the client --------------------------------------------------------------------------------

// A minimal tus client: POST, then PATCH after PATCH of `chunk` bytes on one connection, each body
// streamed from the file by a read callback. Both servers get exactly the same requests.
class TusClient {
 public:
  TusClient() : curl_(curl_easy_init()) {}
  ~TusClient() { curl_easy_cleanup(curl_); }
  TusClient(const TusClient&) = delete;
  TusClient& operator=(const TusClient&) = delete;

  struct Outcome {
    bool ok = false;
    double seconds = 0;
    long connections = 0;  // TCP connections opened: 1 when keep-alive held
    std::string error;
  };

  /// Uploads the first `length` bytes of the file `fd` to the tus endpoint `url`
  /// (http://HOST:PORT/PATH).
  Outcome Upload(const std::string& url, int fd, uint64_t length, uint64_t chunk) {
    Outcome out;
    const auto start = Clock::now();
    std::smatch origin;
    if (!std::regex_search(url, origin, std::regex(R"(^https?://[^/]+)"))) {
      out.error = "not an http URL: " + url;
      return out;
    }
    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT, 600L);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, &TusClient::OnHeader);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &TusClient::OnBody);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, this);
    // The largest buffer libcurl takes: fewer, larger send()s; the same for both servers.
    curl_easy_setopt(curl_, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);

    // Creation.
    Headers create(
        {"Tus-Resumable: 1.0.0", "Upload-Length: " + std::to_string(length),
         "Upload-Metadata: filename YmVuY2guYmlu,filetype YXBwbGljYXRpb24vb2N0ZXQtc3RyZWFt",
         "Content-Length: 0"});
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, create.list);
    if (!Perform(201, &out.error, &out.connections)) return out;
    if (location_.empty()) {
      out.error = "the creation's answer has no Location";
      return out;
    }
    const std::string upload = location_.front() == '/' ? origin.str() + location_ : location_;

    // PATCH after PATCH, on the connection the POST opened.
    curl_easy_setopt(curl_, CURLOPT_POST, 0L);
    curl_easy_setopt(curl_, CURLOPT_URL, upload.c_str());
    curl_easy_setopt(curl_, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, "PATCH");
    curl_easy_setopt(curl_, CURLOPT_READFUNCTION, &TusClient::OnRead);
    curl_easy_setopt(curl_, CURLOPT_READDATA, this);
    fd_ = fd;
    for (uint64_t offset = 0; offset < length;) {
      const uint64_t n = std::min(chunk, length - offset);
      read_at_ = offset;
      read_end_ = offset + n;
      // "Expect:" keeps libcurl from waiting for a 100 Continue before each body.
      Headers patch({"Tus-Resumable: 1.0.0", "Content-Type: application/offset+octet-stream",
                     "Upload-Offset: " + std::to_string(offset), "Expect:"});
      curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, patch.list);
      curl_easy_setopt(curl_, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(n));
      if (!Perform(204, &out.error, &out.connections)) return out;
      if (upload_offset_ != std::to_string(offset + n)) {
        out.error = fmt::format("PATCH at {} answered Upload-Offset '{}', not {}", offset,
                                upload_offset_, offset + n);
        return out;
      }
      offset += n;
    }
    out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    out.ok = true;
    return out;
  }

 private:
  struct Headers {
    explicit Headers(const std::vector<std::string>& lines) {
      for (const auto& l : lines) list = curl_slist_append(list, l.c_str());
    }
    ~Headers() { curl_slist_free_all(list); }
    Headers(const Headers&) = delete;
    Headers& operator=(const Headers&) = delete;
    curl_slist* list = nullptr;
  };

  bool Perform(long want, std::string* error, long* connections) {
    location_.clear();
    upload_offset_.clear();
    body_.clear();
    const CURLcode rc = curl_easy_perform(curl_);
    long status = 0;
    long opened = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &opened);
    *connections += opened;
    if (rc != CURLE_OK) {
      *error = std::string("libcurl: ") + curl_easy_strerror(rc);
      return false;
    }
    if (status != want) {
      *error = fmt::format("answered {} (wanted {}): {}", status, want, body_.substr(0, 300));
      return false;
    }
    return true;
  }

  static size_t OnHeader(char* data, size_t size, size_t n, void* self_ptr) {
    auto* self = static_cast<TusClient*>(self_ptr);
    std::string line(data, size * n);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      if (name == "location") self->location_ = value;
      if (name == "upload-offset") self->upload_offset_ = value;
    }
    return size * n;
  }

  static size_t OnBody(char* data, size_t size, size_t n, void* self_ptr) {
    static_cast<TusClient*>(self_ptr)->body_.append(data, size * n);
    return size * n;
  }

  static size_t OnRead(char* buffer, size_t size, size_t n, void* self_ptr) {
    auto* self = static_cast<TusClient*>(self_ptr);
    const size_t want =
        static_cast<size_t>(std::min<uint64_t>(size * n, self->read_end_ - self->read_at_));
    if (want == 0) return 0;
    const ssize_t got = ::pread(self->fd_, buffer, want, static_cast<off_t>(self->read_at_));
    if (got <= 0) return CURL_READFUNC_ABORT;
    self->read_at_ += static_cast<uint64_t>(got);
    return static_cast<size_t>(got);
  }

  CURL* curl_;
  int fd_ = -1;
  uint64_t read_at_ = 0;
  uint64_t read_end_ = 0;
  std::string location_;
  std::string upload_offset_;
  std::string body_;
};

// ---- the servers -------------------------------------------------------------------------------

// The release streamgated with the upload service on local storage under `dir`, port 0.
class Daemon {
 public:
  Daemon(const sg::test::TempDir& dir, const std::string& media)
      : daemon_(
            dir,
            {"plugins.enabled=[api-gateway,monitor,metadata,upload]", "storage.path=" + media,
             "metadata.sqlite_path=" + dir.path() + "/streamgate.db", "upload.max_size=64GiB"}) {}

  pid_t pid() const { return daemon_.pid(); }

  /// The endpoint once the daemon is ready, or "" (its stderr printed) when it is not in time.
  std::string WaitServing() {
    const uint16_t port = daemon_.WaitReady();
    return port == 0 ? "" : fmt::format("http://127.0.0.1:{}/api/v1/uploads", port);
  }

 private:
  sg::test::BenchDaemon daemon_;
};

class TusServer {
 public:
  TusServer(const sg::test::TempDir& dir, const std::string& node, const std::string& files)
      : process_({node, SG_TUS_PEERS_DIR "/tus-server.mjs", "--dir", files, "--max-size",
                  std::to_string(uint64_t{64} << 30)},
                 dir) {}
  ~TusServer() {
    process_.Signal(SIGTERM);
    if (!process_.Wait(10s)) process_.Signal(SIGKILL);
  }
  TusServer(const TusServer&) = delete;
  TusServer& operator=(const TusServer&) = delete;

  pid_t pid() const { return process_.pid(); }

  std::string WaitServing() {
    const std::regex listening(R"(listening on (http://127\.0\.0\.1:\d+/api/v1/uploads))");
    std::string url;
    sg::test::WaitFor(
        [&] {
          std::smatch m;
          const std::string out = process_.Stdout();
          if (!std::regex_search(out, m, listening)) return false;
          url = m[1];
          return true;
        },
        30s);
    if (url.empty()) {
      std::fprintf(stderr, "bench_upload: tus-server.mjs did not listen:\n%s%s\n",
                   process_.Stdout().c_str(), process_.Stderr().c_str());
    }
    return url;
  }

 private:
  sg::test::Process process_;
};

// ---- measuring ---------------------------------------------------------------------------------

// Removes what a run left (the finished uploads), so that every run writes to a store as empty as
// the first's; then flushes everything dirty, so that no run pays for the one before.
void Clean(const std::vector<std::string>& folders) {
  for (const auto& folder : folders) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(folder, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec) && it->file_size(ec) >= kMiB) fs::remove(it->path(), ec);
    }
  }
  ::sync();
}

std::optional<double> TimedDd(const std::string& src, const std::string& dst, uint64_t bytes,
                              const std::string& flag) {
  const auto start = Clock::now();
  const auto r = sg::test::Run({"/bin/dd", "if=" + src, "of=" + dst, "bs=8M",
                                "count=" + std::to_string(bytes / kChunk), flag},
                               {}, 600s);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::error_code ec;
  const auto size = fs::file_size(dst, ec);
  fs::remove(dst, ec);
  if (r.exit_code != 0 || size != bytes) {
    std::fprintf(stderr, "bench_upload: dd %s failed: %s\n", flag.c_str(), r.err.c_str());
    return std::nullopt;
  }
  return seconds;
}

long StatusKib(pid_t pid, const char* field) {
  const std::string text = sg::test::ReadFile(fmt::format("/proc/{}/status", pid));
  const auto at = text.find(field);
  if (at == std::string::npos) return -1;
  return std::strtol(text.c_str() + at + std::strlen(field) + 1, nullptr, 10);
}

// VmRSS sampled every 5 ms on a thread while an upload runs.
class RssSampler {
 public:
  explicit RssSampler(pid_t pid)
      : thread_([this, pid] {
          while (!stop_.load()) {
            peak_ = std::max(peak_.load(), StatusKib(pid, "VmRSS:"));
            std::this_thread::sleep_for(5ms);
          }
        }) {}
  ~RssSampler() { Stop(); }
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;
  long Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return peak_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<long> peak_{0};
  std::thread thread_;
};

double MiBps(uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / kMiB / seconds : 0;
}

double Median(const std::vector<double>& v) { return sg::test::Percentile(v, 0.5); }

std::string Runs(const std::vector<double>& v) {
  std::string out;
  for (double x : v) out += fmt::format("{}{:.0f}", out.empty() ? "" : " ", x);
  return out;
}

constexpr const char* kUsage =
    "usage: bench_upload [MIB] [RUNS] [RSS_MIB]  (sizes in MiB, multiples of 8; runs at least 1)";

uint64_t Arg(int argc, char** argv, int i, uint64_t fallback) {
  if (argc <= i) return fallback;
  const std::string text = argv[i];
  if (text.empty() || text.size() > 9 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    throw std::runtime_error("'" + text + "' is not a whole number\n" + kUsage);
  }
  return std::stoull(text);
}

// The whole benchmark; a failure throws, so that the servers and the temporary folder go with
// the stack.
int Bench(int argc, char** argv) {
  const uint64_t mib = Arg(argc, argv, 1, 1024);
  const int runs = static_cast<int>(Arg(argc, argv, 2, 3));
  const uint64_t rss_mib = Arg(argc, argv, 3, 4096);
  const uint64_t bytes = mib * kMiB;
  const uint64_t rss_bytes = rss_mib * kMiB;
  if (mib == 0 || mib % 8 != 0 || rss_mib % 8 != 0 || runs < 1) {
    std::fprintf(stderr, "%s\n", kUsage);
    return 2;
  }
  const std::string node = "/usr/bin/node";
  if (!fs::exists(SG_TUS_PEERS_DIR "/node_modules/@tus/server/package.json") ||
      ::access(node.c_str(), X_OK) != 0) {
    std::fprintf(stderr,
                 "bench_upload: node or @tus/server is missing; run scripts/install-deps.sh "
                 "--test\n");
    return 1;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);

  sg::test::TempDir dir;
  const std::string src = dir.path() + "/source.bin";
  const std::string media = dir.path() + "/sg-media";
  const std::string tus_files = dir.path() + "/tus-files";
  const std::string dd_out = dir.path() + "/dd.out";
  fs::create_directories(media);
  fs::create_directories(tus_files);
  if (!MakeSource(src, std::max(bytes, rss_bytes))) {
    std::fprintf(stderr, "bench_upload: cannot write %s\n", src.c_str());
    return 1;
  }
  const int fd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);

  Daemon daemon(dir, media);
  TusServer tus(dir, node, tus_files);
  const std::string sg_url = daemon.WaitServing();
  const std::string tus_url = tus.WaitServing();
  if (sg_url.empty() || tus_url.empty()) return 1;

  TusClient client;
  std::vector<double> sg_rates;
  std::vector<double> tus_rates;
  std::vector<double> dd_rates;
  std::vector<double> dsync_rates;
  long connections = 0;
  std::vector<double> sg_cpu;
  std::vector<double> tus_cpu;
  auto upload = [&](const std::string& name, const std::string& url, uint64_t n, pid_t pid,
                    std::vector<double>* cpu) {
    Clean({media, tus_files});
    const double cpu_before = sg::test::CpuSeconds(pid);
    auto out = client.Upload(url, fd, n, kChunk);
    cpu->push_back((sg::test::CpuSeconds(pid) - cpu_before) /
                   (static_cast<double>(n) / (kMiB * 1024)));
    if (!out.ok) throw std::runtime_error("the upload to " + name + " failed: " + out.error);
    connections = std::max(connections, out.connections);
    return MiBps(n, out.seconds);
  };
  auto dd = [&](const std::string& flag) {
    Clean({media, tus_files});
    auto seconds = TimedDd(src, dd_out, bytes, flag);
    if (!seconds) throw std::runtime_error("dd " + flag + " failed");
    return MiBps(bytes, *seconds);
  };
  // Interleaved, so that a slow spell of the disk or of the machine hits every contender.
  for (int i = 0; i < runs; ++i) {
    sg_rates.push_back(upload("streamgated", sg_url, bytes, daemon.pid(), &sg_cpu));
    tus_rates.push_back(upload("@tus/server", tus_url, bytes, tus.pid(), &tus_cpu));
    dd_rates.push_back(dd("conv=fdatasync"));
    dsync_rates.push_back(dd("oflag=dsync"));
  }

  // Memory during one larger upload.
  Clean({media, tus_files});
  const long sg_before = StatusKib(daemon.pid(), "VmRSS:");
  long sg_peak = 0;
  {
    RssSampler sampler(daemon.pid());
    std::vector<double> ignored;
    upload("streamgated", sg_url, rss_bytes, daemon.pid(), &ignored);
    sg_peak = sampler.Stop();
  }
  const long tus_before = StatusKib(tus.pid(), "VmRSS:");
  long tus_peak = 0;
  {
    RssSampler sampler(tus.pid());
    std::vector<double> ignored;
    upload("@tus/server", tus_url, rss_bytes, tus.pid(), &ignored);
    tus_peak = sampler.Stop();
  }
  Clean({media, tus_files});
  ::close(fd);
  curl_global_cleanup();

  const double sg = Median(sg_rates);
  const double ref = Median(tus_rates);
  const double ddf = Median(dd_rates);
  const double dds = Median(dsync_rates);
  std::printf(
      "Upload of %llu MiB over loopback in 8 MiB PATCHes, one keep-alive connection (%ld), the "
      "same libcurl client; %d interleaved runs each, MiB/s (median; runs in order)\n",
      static_cast<unsigned long long>(mib), connections, runs);
  std::printf("  %-34s %10s   %-16s %s\n", "", "MiB/s", "runs", "server CPU s/GiB");
  std::printf("  %-34s %10.0f   %-16s %.2f\n", "streamgated (release)", sg, Runs(sg_rates).c_str(),
              Median(sg_cpu));
  std::printf("  %-34s %10.0f   %-16s %.2f\n", "@tus/server + FileStore", ref,
              Runs(tus_rates).c_str(), Median(tus_cpu));
  std::printf("  %-34s %10.0f   %s\n", "dd bs=8M conv=fdatasync", ddf, Runs(dd_rates).c_str());
  std::printf("  %-34s %10.0f   %s\n", "dd bs=8M oflag=dsync", dds, Runs(dsync_rates).c_str());
  std::printf("  streamgated / @tus/server        %6.2fx   (aim >= 2)\n", ref > 0 ? sg / ref : 0);
  std::printf("  streamgated / dd conv=fdatasync  %6.2fx   (aim >= 0.8)\n", ddf > 0 ? sg / ddf : 0);
  std::printf("  streamgated / dd oflag=dsync     %6.2fx\n", dds > 0 ? sg / dds : 0);
  std::printf(
      "  dd conv=fdatasync is the physical limit: the same bytes to the same filesystem, one\n"
      "  fdatasync at the end, so every byte is on disk when it ends, as every byte of a finished\n"
      "  upload is. StreamGate also syncs every upload.sync_every (64 MiB) and at the end of each\n"
      "  PATCH (an acknowledged offset is durable), which with 8 MiB PATCHes is every 8 MiB;\n"
      "  dd oflag=dsync (a sync after each 8 MiB write) is that same promise, shown for scale.\n");
  std::printf("Daemon memory during one %llu MiB upload (VmRSS sampled every 5 ms)\n",
              static_cast<unsigned long long>(rss_mib));
  std::printf("  %-34s %10s %10s\n", "", "before MiB", "peak MiB");
  std::printf("  %-34s %10.1f %10.1f   (aim < 40)\n", "streamgated", sg_before / 1024.0,
              sg_peak / 1024.0);
  std::printf("  %-34s %10.1f %10.1f\n", "@tus/server (node)", tus_before / 1024.0,
              tus_peak / 1024.0);
  std::printf("For the note:\n");
  std::printf("| upload %llu MiB, 8 MiB PATCHes | MiB/s | vs |\n|---|---|---|\n",
              static_cast<unsigned long long>(mib));
  std::printf("| streamgated | %.0f (CPU %.2f s/GiB) | - |\n", sg, Median(sg_cpu));
  std::printf("| @tus/server + FileStore | %.0f (CPU %.2f s/GiB) | streamgated %.2fx |\n", ref,
              Median(tus_cpu), ref > 0 ? sg / ref : 0);
  std::printf("| dd bs=8M conv=fdatasync | %.0f | streamgated %.2fx |\n", ddf,
              ddf > 0 ? sg / ddf : 0);
  std::printf("| dd bs=8M oflag=dsync | %.0f | streamgated %.2fx |\n", dds, dds > 0 ? sg / dds : 0);
  std::printf("| streamgated peak VmRSS, %llu MiB upload | %.1f MiB | @tus/server %.1f MiB |\n",
              static_cast<unsigned long long>(rss_mib), sg_peak / 1024.0, tus_peak / 1024.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Bench(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_upload: %s\n", e.what());
    return 1;
  }
}
