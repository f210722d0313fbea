#include "common/logging.h"

#include <filesystem>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace sg::log {
namespace {

std::unique_ptr<LogHub> QuietHub(size_t ring = 100) {
  Options options;
  options.console = false;
  options.ring_size = ring;
  options.service = "streamgate-test";
  auto hub = LogHub::Create(options);
  REQUIRE(hub.has_value());
  return std::move(hub).value();
}

Record SampleRecord() {
  Record r;
  r.seq = 7;
  r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1738058400001));
  r.level = spdlog::level::info;
  r.component = "kernel";
  r.message = "Configuration loaded";
  r.fields.emplace_back("mode", "monolith");
  r.fields.emplace_back("port", 8080);
  return r;
}

}  // namespace

TEST_CASE("fields survive the trip through spdlog into the ring", "[logging]") {
  auto hub = QuietHub();

  hub->Get("kernel")->info(
      With("Plugin registered",
           {{"name", "api-gateway"}, {"version", "1.0.0"}, {"count", 3}, {"ok", true}}));

  auto records = hub->Ring().Last(0);
  REQUIRE(records.size() == 1);
  CHECK(records[0].message == "Plugin registered");
  CHECK(records[0].component == "kernel");
  REQUIRE(records[0].fields.size() == 4);
  CHECK(std::get<std::string>(records[0].fields[0].value) == "api-gateway");
  CHECK(std::get<int64_t>(records[0].fields[2].value) == 3);
  CHECK(std::get<bool>(records[0].fields[3].value));
}

TEST_CASE("prod format is the seed's tab-separated line with key=value fields", "[logging]") {
  const std::string line = Render(SampleRecord(), Format::kProd, "streamgate-monolith", false);

  CHECK(line ==
        "2025-01-28T10:00:00.001Z\tinfo\tstreamgate-monolith\tkernel\tConfiguration loaded\t"
        "mode=monolith port=8080");
}

TEST_CASE("json format is one object with typed fields", "[logging]") {
  const auto j = nlohmann::json::parse(Render(SampleRecord(), Format::kJson, "svc", false));

  CHECK(j["ts"] == "2025-01-28T10:00:00.001Z");
  CHECK(j["level"] == "info");
  CHECK(j["service"] == "svc");
  CHECK(j["component"] == "kernel");
  CHECK(j["msg"] == "Configuration loaded");
  CHECK(j["port"] == 8080);
  CHECK(j["seq"] == 7);
}

TEST_CASE("dev format colours only when asked", "[logging]") {
  CHECK(Render(SampleRecord(), Format::kDev, "svc", false).find('\033') == std::string::npos);
  CHECK(Render(SampleRecord(), Format::kDev, "svc", true).find('\033') != std::string::npos);
}

TEST_CASE("values with spaces are quoted in text formats", "[logging]") {
  Record r = SampleRecord();
  r.fields = {Field("file", "my file.yaml")};

  CHECK(Render(r, Format::kProd, "s", false).ends_with("file=\"my file.yaml\""));
}

TEST_CASE("the ring keeps the newest records with increasing sequence numbers", "[logging]") {
  auto hub = QuietHub(16);
  auto logger = hub->Get("test");

  for (int i = 0; i < 40; ++i) logger->info("record {}", i);

  auto records = hub->Ring().Last(0);
  REQUIRE(records.size() == 16);
  CHECK(records.front().message == "record 24");
  CHECK(records.back().message == "record 39");
  CHECK(records.back().seq == 40);
  CHECK(hub->Ring().Last(3).size() == 3);
  CHECK(hub->Ring().NextSeq() == 41);
}

TEST_CASE("levels change at run time, per component and for all", "[logging]") {
  auto hub = QuietHub();
  auto a = hub->Get("a");
  auto b = hub->Get("b");

  a->debug("hidden");
  hub->SetComponentLevel("a", spdlog::level::debug);
  a->debug("shown");
  b->debug("hidden");
  hub->SetLevel(spdlog::level::warn);
  a->debug("still shown: a has its own level");
  b->info("hidden by warn");
  hub->SetComponentLevel("a", std::nullopt);
  a->info("hidden again");

  auto records = hub->Ring().Last(0);
  REQUIRE(records.size() == 2);
  CHECK(records[0].message == "shown");
  CHECK(records[1].message == "still shown: a has its own level");
  CHECK(hub->Levels().at("a").first == spdlog::level::warn);
}

TEST_CASE("listeners see every record in order", "[logging]") {
  auto hub = QuietHub();
  std::vector<uint64_t> seen;
  const int id = hub->Ring().AddListener([&seen](const Record& r) { seen.push_back(r.seq); });

  hub->Get("x")->info("one");
  hub->Get("y")->info("two");
  hub->Ring().RemoveListener(id);
  hub->Get("x")->info("three");

  CHECK(seen == std::vector<uint64_t>{1, 2});
}

TEST_CASE("a log file that cannot be opened is an error, not a crash", "[logging]") {
  Options options;
  options.console = false;
  options.file = "/dev/null/streamgate.log";

  auto hub = LogHub::Create(options);

  REQUIRE_FALSE(hub.has_value());
  CHECK(hub.error().message.find("/dev/null/streamgate.log") != std::string::npos);
}

TEST_CASE("level and format names parse", "[logging]") {
  CHECK(ParseLevel("warn") == spdlog::level::warn);
  CHECK(ParseLevel("warning") == spdlog::level::warn);
  CHECK_FALSE(ParseLevel("loud").has_value());
  CHECK(ParseFormat("json") == Format::kJson);
  CHECK_FALSE(ParseFormat("xml").has_value());
  CHECK(LevelName(spdlog::level::err) == "error");
}

}  // namespace sg::log

namespace sg::log {

TEST_CASE("the log file rotates by size and keeps max_files", "[logging]") {
  const auto dir = std::filesystem::temp_directory_path() / "sg-unit-rotate";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Options options;
  options.console = false;
  options.file = (dir / "sg.log").string();
  options.max_file_bytes = 4096;
  options.max_files = 2;
  auto hub = LogHub::Create(options);
  REQUIRE(hub.has_value());

  for (int i = 0; i < 500; ++i)
    (*hub)->Get("test")->info("a line long enough to fill the file {}", i);
  (*hub)->Flush();

  CHECK(std::filesystem::exists(dir / "sg.log"));
  CHECK(std::filesystem::exists(dir / "sg.1.log"));
  CHECK(std::filesystem::exists(dir / "sg.2.log"));
  CHECK_FALSE(std::filesystem::exists(dir / "sg.3.log"));
  CHECK(std::filesystem::file_size(dir / "sg.log") <= 4096);
  std::filesystem::remove_all(dir);
}

}  // namespace sg::log
