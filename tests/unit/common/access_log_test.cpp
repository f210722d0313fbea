// The access log: its lines are byte for byte what the log formats print for the same record, and
// the buffers it keeps per thread lose nothing, keep each thread's order and reach the output on
// a flush, a full buffer, the timer and close.
#include "common/access_log.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <unistd.h>

#include "common/logging.h"
#include "tests/support/process.h"

namespace sg::log {
namespace {

using namespace std::chrono_literals;

std::string RandomText(std::mt19937& rng, size_t max) {
  // Printable ASCII, the characters that force quoting, and bytes past ASCII.
  static const std::string alphabet = "abcXYZ019/._-~%?&=\" \t\n\\\xc3\xa9\xff";
  std::string out(rng() % (max + 1), ' ');
  for (char& c : out) c = alphabet[rng() % alphabet.size()];
  return out;
}

// Collects what the log writes.
struct Sink {
  std::mutex mu;
  std::string text;
  std::atomic<int> writes{0};
  AccessLog::Writer Writer() {
    return [this](std::string_view lines) {
      std::lock_guard lock(mu);
      text.append(lines);
      ++writes;
    };
  }
  std::string Text() {
    std::lock_guard lock(mu);
    return text;
  }
};

std::shared_ptr<spdlog::logger> Level(spdlog::level::level_enum level = spdlog::level::info) {
  auto logger = std::make_shared<spdlog::logger>("access");
  logger->set_level(level);
  return logger;
}

AccessEntry Entry(std::string_view path, unsigned status = 200) {
  return {.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764616597123)),
          .method = "GET",
          .path = path,
          .status = status,
          .bytes = 20,
          .duration_ms = 0.25,
          .request_id = "f07fa95bff399ac2",
          .remote = "127.0.0.1"};
}

}  // namespace

TEST_CASE("an access line is what Render prints for the same record, in every format",
          "[access_log]") {
  std::mt19937 rng(20261201);
  for (int i = 0; i < 2000; ++i) {
    const std::string method = RandomText(rng, 7);
    const std::string path = RandomText(rng, 60);
    const std::string id = RandomText(rng, 20);
    const std::string remote = RandomText(rng, 16);
    const AccessEntry entry{.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(
                                1700000000000 + static_cast<int64_t>(rng() % 100000000))),
                            .method = method,
                            .path = path,
                            .status = static_cast<unsigned>(rng() % 600),
                            .bytes = rng() % 2 == 0 ? rng() : (uint64_t{1} << 40) + rng(),
                            .duration_ms = static_cast<double>(rng() % 10000000) / 1000.0,
                            .request_id = id,
                            .remote = remote};
    for (const Format format : {Format::kProd, Format::kJson, Format::kDev}) {
      std::string line;
      AppendAccessLine(line, entry, format, "streamgate-monolith");
      REQUIRE(line == Render(ToRecord(entry), format, "streamgate-monolith", false) + "\n");
    }
  }
}

TEST_CASE("the prod access line reads as the daemon's other records do", "[access_log]") {
  std::string line;
  AppendAccessLine(line, Entry("/health"), Format::kProd, "streamgate-monolith");
  CHECK(line ==
        "2025-12-01T19:16:37.123Z\tinfo\tstreamgate-monolith\taccess\trequest\tmethod=GET "
        "path=/health status=200 bytes=20 duration_ms=0.25 request_id=f07fa95bff399ac2 "
        "remote=127.0.0.1\n");
  line.clear();
  AppendAccessLine(line, Entry("/a b=c"), Format::kProd, "s");
  CHECK(line.find("path=\"/a b=c\" status=") != std::string::npos);
}

TEST_CASE("access lines wait in their thread's buffer until a flush, the timer or close",
          "[access_log]") {
  Sink sink;
  AccessLog::Options options;
  options.service = "s";
  options.flush_every = 1h;  // only Flush and Close write here
  {
    AccessLog log(options, Level(), sink.Writer());
    log.Add(Entry("/one"));
    log.Add(Entry("/two"));
    CHECK(sink.Text().empty());
    log.Flush();
    const std::string text = sink.Text();
    CHECK(text.find("path=/one") < text.find("path=/two"));
    log.Add(Entry("/three"));
  }
  CHECK(sink.Text().find("path=/three") != std::string::npos);  // written at close

  // With the timer.
  Sink timed;
  options.flush_every = 20ms;
  AccessLog log(options, Level(), timed.Writer());
  log.Add(Entry("/timed"));
  CHECK(test::WaitFor([&] { return timed.Text().find("path=/timed") != std::string::npos; }, 10s));
}

TEST_CASE("many threads lose no access line and keep each thread's order", "[access_log]") {
  Sink sink;
  AccessLog::Options options;
  options.service = "s";
  options.buffer_bytes = 4096;  // buffers fill and are handed on while threads write
  options.max_pending = 2;      // and writers wait for room
  constexpr int kThreads = 4;
  constexpr int kLines = 5000;
  {
    AccessLog log(options, Level(), sink.Writer());
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&log, t] {
        for (int i = 0; i < kLines; ++i) {
          const std::string path = "/t" + std::to_string(t) + "/" + std::to_string(i);
          log.Add(Entry(path));
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }
  CHECK(sink.writes.load() > kThreads);  // full buffers went out on their own
  std::istringstream lines(sink.Text());
  std::vector<int> next(kThreads, 0);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    const size_t at = line.find("path=/t");
    REQUIRE(at != std::string::npos);
    const int thread = line[at + 7] - '0';
    const int index = std::stoi(line.substr(at + 9));
    REQUIRE(index == next[thread]);
    ++next[thread];
    ++count;
  }
  CHECK(count == kThreads * kLines);
}

TEST_CASE("the access component's level turns the access log off and on", "[access_log]") {
  Options hub_options;
  hub_options.console = false;
  auto hub = LogHub::Create(hub_options);
  REQUIRE(hub.has_value());
  auto access = (*hub)->Access();
  CHECK(access->Enabled());
  (*hub)->SetComponentLevel("access", spdlog::level::warn);
  CHECK_FALSE(access->Enabled());
  (*hub)->SetComponentLevel("access", std::nullopt);
  CHECK(access->Enabled());
  CHECK((*hub)->Access() == access);
}

TEST_CASE("access lines go to the log file and not to the ring", "[access_log]") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("sg-access-" + std::to_string(::getpid()) + "-" +
                    std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(dir);
  Options hub_options;
  hub_options.console = false;
  hub_options.file = (dir / "streamgated.log").string();
  hub_options.service = "streamgate-test";
  {
    auto hub = LogHub::Create(hub_options);
    REQUIRE(hub.has_value());
    (*hub)->Get("kernel")->info("Started");
    (*hub)->Access()->Add(Entry("/health"));
    (*hub)->Access()->Flush();
    for (const auto& record : (*hub)->Ring().Last(100)) CHECK(record.component != "access");
  }
  std::ifstream file(hub_options.file);
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  CHECK(text.find("\tkernel\tStarted") != std::string::npos);
  CHECK(text.find("\taccess\trequest\tmethod=GET path=/health status=200") != std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace sg::log
