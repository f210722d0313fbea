// The media pipeline in microservice mode, end to end: one process per service on a real
// nats-server (JetStream), PostgreSQL, Redis and s3rver, each started here on loopback and
// stopped afterwards, with the api-gateway service as the one front door. tus-js-client uploads
// through the gateway, a transcoder process makes HLS and DASH, ffmpeg plays through the gateway;
// instances come and go, and the gateway answers for them as it should.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "tests/support/bench_daemon.h"
#include "tests/support/daemon_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/listener_port.h"
#include "tests/support/nats_server.h"
#include "tests/support/postgres_server.h"
#include "tests/support/redis_server.h"
#include "tests/support/s3_client.h"
#include "tests/support/s3rver.h"
#include "tests/support/tools.h"
#include "tests/support/tus_peers.h"

namespace sg::test {
namespace {

using nlohmann::json;

// The daemon's log is long; its end says what went wrong.
std::string Tail(const std::string& text, size_t n = 3000) {
  return text.size() <= n ? text : text.substr(text.size() - n);
}

// One process of the deployment, with a runtime folder of its own (instances of one service
// must not share a control socket).
struct Instance {
  Instance(const std::string& service, const std::vector<std::string>& sets) : name(service) {
    env.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT"};
    env.env["STREAMGATE_AUTH_REQUIRED"] = "false";
    env.env["XDG_RUNTIME_DIR"] = dir.path();
    env.env["NOTIFY_SOCKET"] = notify.path();
    env.cwd = dir.path();
    std::vector<std::string> argv = {SG_DAEMON_BIN, "--mode", "microservice", "--service", service};
    for (const auto& set : sets) argv.insert(argv.end(), {"--set", set});
    process = std::make_unique<Process>(argv, dir, env);
    INFO(service << " said: " << Tail(process->Stderr()));
    REQUIRE(notify.WaitFor("READY=1", 20s));
  }
  ~Instance() {
    if (process->Running()) {
      process->Signal(SIGTERM);
      process->Wait(30s);
    }
  }
  uint16_t HttpPort() const {
    return ListenerPort(Run({SG_CLI_BIN, "--service", name, "--json", "status"}, env).out, "http");
  }
  std::string name;
  TempDir dir;
  NotifySocket notify{dir.path() + "/notify"};
  SpawnOptions env;
  std::unique_ptr<Process> process;
};

// The deployment's front door on a free port of its own.
std::unique_ptr<Instance> StartGateway(std::vector<std::string> sets) {
  sets.push_back("server.port=0");
  return std::make_unique<Instance>("api-gateway", sets);
}

// Every process of a deployment on `nats` (heartbeats every 300 ms) and the catalogue on `pg`,
// listening on loopback.
std::vector<std::string> SharedSets(const NatsServer& nats, const PostgresServer& pg) {
  return {"nats.url=" + nats.Url(),
          "nats.heartbeat_interval=300ms",
          "nats.reconnect_wait=100ms",
          "server.host=127.0.0.1",
          "monitoring.prometheus_port=0",
          "metadata.engine=postgres",
          "database.host=" + pg.host(),
          "database.port=" + std::to_string(pg.port()),
          "database.user=" + pg.user(),
          "database.password=" + pg.password(),
          "database.database=" + pg.database(),
          "database.sslmode=disable"};
}

// The shared engines, and the settings that point every service at them.
struct Engines {
  Engines() : nats(true), s3(root, SG_S3RVER_BIN), pg(PostgresServer::StartOrSkip()) {}
  std::vector<std::string> Sets() const {
    std::vector<std::string> sets = SharedSets(nats, *pg);
    sets.insert(sets.end(),
                {"nats.request_timeout=2s", "metadata.retry_interval=200ms", "cache.backend=redis",
                 "redis.host=127.0.0.1", "redis.port=" + std::to_string(redis.port),
                 "transcoder.segment_duration=2s", "transcoder.preset=ultrafast",
                 "transcoder.ladder=[240p:300k, 360p:600k]", "worker.backoff_base=100ms",
                 "transcoder.work_dir=" + root.path() + "/work"});
    for (auto& set : S3Sets(s3)) sets.push_back(set);
    return sets;
  }
  TempDir root;
  NatsServer nats;
  S3rver s3;
  std::unique_ptr<PostgresServer> pg;
  RedisServer redis;
};

std::optional<HttpReply> Ask(uint16_t port, const std::string& method, const std::string& target,
                             const std::string& headers = "") {
  HttpConnection c(port);
  return c.Request(method, target, headers);
}

json Video(uint16_t port, const std::string& id) {
  const auto r = Ask(port, "GET", "/api/v1/videos/" + id);
  if (!r || r->status != 200) return json();
  return json::parse(r->body, nullptr, false);
}

// A clip made by ffmpeg (lavfi testsrc2 and a sine), `seconds` long.
std::string MakeClip(const TempDir& dir, double seconds) {
  const std::string path = dir.path() + "/clip.mp4";
  REQUIRE(LavfiClip(path, "640x360", seconds));
  return path;
}

void RequireFfmpeg() {
  if (FindOnPath("ffmpeg").empty() || FindOnPath("ffprobe").empty()) {
    std::cerr << "skipped: ffmpeg is missing; run scripts/install-deps.sh --test\n";
    std::exit(77);
  }
}

}  // namespace

TEST_CASE("microservice mode: upload through the gateway with tus-js-client, transcode, play",
          "[microservice][pipeline]") {
  RequireFfmpeg();
  Node();  // 77 without node and tus-js-client
  Engines engines;
  const auto sets = engines.Sets();
  auto front = StartGateway(sets);
  Instance& gateway = *front;
  const uint16_t gw = gateway.HttpPort();
  REQUIRE(gw != 0);
  // The services behind it pick free ports of their own: the gateway learns them from their
  // heartbeats.
  std::vector<std::unique_ptr<Instance>> services;
  for (const std::string name :
       {"metadata", "worker", "cache", "auth", "upload", "transcoder", "streaming"}) {
    services.push_back(std::make_unique<Instance>(name, sets));
  }
  auto service = [&](const std::string& name) -> Instance& {
    for (auto& s : services) {
      if (s->name == name) return *s;
    }
    FAIL("no service " << name);
    throw std::logic_error("unreachable");
  };
  const uint16_t upload_port = service("upload").HttpPort();
  CHECK(upload_port != 0);
  CHECK(upload_port != gw);

  // Every service shows up in `streamgate services` with its address and routes.
  json listed;
  REQUIRE(WaitFor(
      [&] {
        auto out = Run({SG_CLI_BIN, "--service", "api-gateway", "--json", "services"}, gateway.env);
        listed = json::parse(out.out, nullptr, false);
        if (!listed.is_object()) return false;
        std::set<std::string> with_routes;
        for (const auto& s : listed["services"]) {
          if (s.value("alive", false) && !s.value("http", "").empty() && !s["routes"].empty())
            with_routes.insert(s.value("service", ""));
        }
        return with_routes == std::set<std::string>{"metadata", "auth", "upload", "streaming"};
      },
      20s));
  INFO(listed.dump(1));
  for (const auto& s : listed["services"]) {
    if (s["service"] == "upload") {
      CHECK(s["http"] == "http://127.0.0.1:" + std::to_string(upload_port));
      CHECK(std::count(s["routes"].begin(), s["routes"].end(), "PATCH /api/v1/uploads/{id}") == 1);
    }
  }
  const auto table = Run({SG_CLI_BIN, "--service", "api-gateway", "services"}, gateway.env);
  CHECK(Contains(table.out, "http://127.0.0.1:" + std::to_string(upload_port)));

  // The tus routes answer through the gateway once its table has them.
  REQUIRE(WaitFor(
      [&] {
        auto r = Ask(gw, "OPTIONS", "/api/v1/uploads");
        return r && r->status == 204 && r->headers["Tus-Version"] == "1.0.0";
      },
      20s));

  TempDir work;
  const std::string clip = MakeClip(work, 4);
  const RunResult run =
      RunTusScript("client-scenarios.mjs",
                   {"--endpoint", "http://127.0.0.1:" + std::to_string(gw) + "/api/v1/uploads",
                    "--out", work.path() + "/tus", "--only", "plain", "--file", clip},
                   std::chrono::minutes(2));
  INFO("client-scenarios.mjs said:\n" << run.out << run.err);
  INFO("upload said:\n" << Tail(service("upload").process->Stderr()));
  INFO("gateway said:\n" << Tail(gateway.process->Stderr()));
  REQUIRE(run.exit_code == 0);
  const json report = json::parse(run.out);
  const std::string id = report["scenarios"][0]["id"];
  REQUIRE(id.size() == 26);
  // tus-js-client's requests all went through the gateway, to the upload process.
  for (const auto& r : report["scenarios"][0]["requests"]) CHECK(r.value("status", 0) < 300);

  // The transcoder process takes the job from JetStream; the catalogue (PostgreSQL) says ready.
  json video;
  const bool ready = WaitFor(
      [&] {
        video = Video(gw, id);
        return video.value("state", "") == "ready" || video.value("state", "") == "failed";
      },
      180s);
  INFO(video.dump(1));
  INFO("transcoder said:\n" << Tail(service("transcoder").process->Stderr()));
  REQUIRE(ready);
  REQUIRE(video["state"] == "ready");
  CHECK(video["renditions"].size() == 2);
  // The outputs are in the bucket (s3rver).
  auto bucket = S3Client(engines.s3);
  CHECK(bucket->Stat("videos/" + id + "/stream/master.m3u8"));

  // ffmpeg plays the HLS presentation through the gateway, from the streaming process.
  const std::string base = "http://127.0.0.1:" + std::to_string(gw) + "/videos/" + id + "/";
  const auto played = Run(
      {Tool("ffmpeg"), "-v", "error", "-i", base + "master.m3u8", "-map", "0", "-f", "null", "-"},
      {}, 120s);
  INFO(played.err);
  CHECK(played.exit_code == 0);
  const auto probed = Run({Tool("ffprobe"), "-v", "error", "-show_entries", "format=duration",
                           "-of", "csv=p=0", base + "manifest.mpd"},
                          {}, 60s);
  INFO(probed.err);
  CHECK(probed.exit_code == 0);
  CHECK(std::stod(probed.out.empty() ? "0" : probed.out) > 3.0);

  // A byte range and a conditional request pass through untouched; the request id goes along.
  const auto master = Ask(gw, "GET", "/videos/" + id + "/master.m3u8",
                          "X-Request-ID: pipeline-range-1\r\nRange: bytes=0-6\r\n");
  REQUIRE(master);
  CHECK(master->status == 206);
  CHECK(master->body == "#EXTM3U");
  CHECK(master->headers["X-Request-ID"] == "pipeline-range-1");
  CHECK(WaitFor(
      [&] { return Contains(service("streaming").process->Stderr(), "pipeline-range-1"); }, 5s));
  const std::string etag(master->headers["ETag"]);
  CHECK_FALSE(etag.empty());
  const auto again =
      Ask(gw, "GET", "/videos/" + id + "/master.m3u8", "If-None-Match: " + etag + "\r\n");
  REQUIRE(again);
  CHECK(again->status == 304);

  // The service behind the route gone: 502 while the gateway still counts it, then 503 with a
  // JSON reason that says what to start.
  service("streaming").process->Signal(SIGKILL);
  service("streaming").process->Wait(10s);
  json gone;
  REQUIRE(WaitFor(
      [&] {
        auto r = Ask(gw, "GET", "/videos/" + id + "/master.m3u8");
        if (!r || r->status != 503) return false;
        gone = json::parse(r->body, nullptr, false);
        return true;
      },
      10s));
  INFO(gone.dump());
  CHECK(gone["code"] == "no_instance");
  CHECK(gone["service"] == "streaming");
  CHECK(Contains(gone.value("hint", ""), "streamgate start --service streaming"));
  // The gateway counts what it proxied, by service and outcome, on its own /metrics.
  const uint16_t metrics_port = ListenerPort(
      Run({SG_CLI_BIN, "--service", "api-gateway", "--json", "status"}, gateway.env).out,
      "metrics");
  REQUIRE(metrics_port != 0);
  const auto metrics = Ask(metrics_port, "GET", "/metrics");
  REQUIRE(metrics);
  CHECK(Contains(metrics->body,
                 "streamgate_proxy_requests_total{service=\"upload\",outcome=\"ok\"}"));
  CHECK(Contains(metrics->body,
                 "streamgate_proxy_requests_total{service=\"streaming\",outcome=\"no_instance\"}"));
}

TEST_CASE("microservice mode: the gateway spreads requests over instances and retries GETs",
          "[microservice][proxy]") {
  NatsServer nats(true);
  auto pg = PostgresServer::StartOrSkip();
  const std::vector<std::string> sets = SharedSets(nats, *pg);
  auto front = StartGateway(sets);
  Instance& gateway = *front;
  const uint16_t gw = gateway.HttpPort();
  // Before any metadata instance: the route is unknown (404); the gateway's own routes work.
  CHECK(Ask(gw, "GET", "/health")->status == 200);
  auto a = std::make_unique<Instance>("metadata", sets);
  auto b = std::make_unique<Instance>("metadata", sets);
  const auto catalogue_answers = [&] {
    auto r = Ask(gw, "GET", "/api/v1/videos");
    return r && r->status == 200;
  };
  REQUIRE(WaitFor(catalogue_answers, 20s));
  // Both instances answer: the catalogue is one (PostgreSQL), the load is spread.
  const auto served = [](const Instance& in) {
    const std::string log = in.process->Stderr();
    size_t n = 0;
    for (size_t at = log.find("path=/api/v1/videos "); at != std::string::npos;
         at = log.find("path=/api/v1/videos ", at + 1))
      ++n;
    return n;
  };
  REQUIRE(WaitFor(
      [&] {
        // Until the gateway has heard both (one heartbeat apart).
        for (int i = 0; i < 20; ++i) {
          auto r = Ask(gw, "GET", "/api/v1/videos");
          if (!r || r->status != 200) return false;
        }
        return served(*a) >= 5 && served(*b) >= 5;
      },
      20s));
  // X-Forwarded-For names the client; a PATCH with a bad body gets the service's own 400.
  auto bad = Ask(gw, "PATCH", "/api/v1/videos/01ARZ3NDEKTSV4RRFFQ69G5FAV",
                 "Content-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"title\":");
  REQUIRE(bad);
  CHECK(bad->status == 400);

  // One instance killed: every GET still succeeds, sent again to the other when the first try
  // found the dead one.
  a->process->Signal(SIGKILL);
  a->process->Wait(10s);
  std::vector<std::string> failures;
  for (int i = 0; i < 40; ++i) {
    auto r = Ask(gw, "GET", "/api/v1/videos");
    if (!r || r->status != 200)
      failures.push_back(r ? std::to_string(r->status) + " " + r->body : "no answer");
  }
  INFO("gateway said:\n" << Tail(gateway.process->Stderr()));
  CHECK(failures == std::vector<std::string>{});
  // Both gone: 503 naming the service, once the heartbeats have stopped.
  b->process->Signal(SIGKILL);
  b->process->Wait(10s);
  json gone;
  REQUIRE(WaitFor(
      [&] {
        auto r = Ask(gw, "GET", "/api/v1/videos");
        if (!r || (r->status != 503 && r->status != 502)) return false;
        gone = json::parse(r->body, nullptr, false);
        return r->status == 503;
      },
      10s));
  CHECK(gone["code"] == "no_instance");
  CHECK(gone["service"] == "metadata");
  // A new instance (a restart) is found again.
  auto c = std::make_unique<Instance>("metadata", sets);
  CHECK(WaitFor(catalogue_answers, 10s));
  const auto status =
      Run({SG_CLI_BIN, "--service", "api-gateway", "--json", "status"}, gateway.env);
  const uint16_t metrics_port = ListenerPort(status.out, "metrics");
  REQUIRE(metrics_port != 0);
  const auto metrics = Ask(metrics_port, "GET", "/metrics");
  REQUIRE(metrics);
  CHECK(Contains(metrics->body,
                 "streamgate_proxy_requests_total{service=\"metadata\",outcome=\"ok\"}"));
  CHECK(Contains(metrics->body, "streamgate_proxy_retries_total{service=\"metadata\"}"));
}

TEST_CASE("microservice mode: the gateway passes large bodies whole and in order by splice",
          "[microservice][proxy]") {
  RequireFfmpeg();
  // A ready video made by a monolith on a catalogue (SQLite) and media folder that the services
  // then share on this host, and a segment of 8 MiB of varied bytes in its folder.
  TempDir root;
  const std::string media = root.path() + "/media";
  const std::vector<std::string> common = {
      "metadata.sqlite_path=" + root.path() + "/streamgate.db", "storage.path=" + media,
      "transcoder.work_dir=" + root.path() + "/work", "transcoder.preset=ultrafast",
      "transcoder.ladder=[240p:300k]"};
  std::string id;
  {
    TempDir run;
    auto sets = common;
    sets.push_back("plugins.enabled=[api-gateway,metadata,worker,upload,transcoder,streaming]");
    BenchDaemon monolith(run, sets);
    const uint16_t port = monolith.WaitReady();
    REQUIRE(port != 0);
    const std::string clip = root.path() + "/clip.mp4";
    REQUIRE(LavfiClip(clip, "320x240", 1));
    id = monolith.UploadReady(clip, port);
    REQUIRE(!id.empty());
  }
  // More than the gateway's socket can hold (tcp_wmem's 4 MiB at most) with the pipe: a client
  // that stops reading holds the transfer back.
  std::string bytes(8 * 1024 * 1024 + 17, '\0');
  std::mt19937 random(7);
  for (auto& c : bytes) c = static_cast<char>(random());
  std::ofstream(std::filesystem::path(media) / "videos" / id / "stream" / "seg-9-00001.m4s",
                std::ios::binary)
      << bytes;
  const std::string target = "/videos/" + id + "/seg-9-00001.m4s";

  NatsServer nats(true);
  std::vector<std::string> sets = common;
  sets.insert(sets.end(), {"nats.url=" + nats.Url(), "nats.heartbeat_interval=300ms",
                           "server.host=127.0.0.1", "monitoring.prometheus_port=0"});
  auto gateway_sets = sets;
  gateway_sets.push_back("server.write_timeout=2s");
  auto gateway = StartGateway(gateway_sets);
  Instance metadata("metadata", sets);
  Instance streaming("streaming", sets);
  const uint16_t gw = gateway->HttpPort();
  std::string last;
  const bool routed = WaitFor(
      [&] {
        auto r = Ask(gw, "GET", target);
        last = !r                 ? "no answer"
               : r->status == 200 ? "200"
                                  : std::to_string(r->status) + " " + r->body;
        return r && r->status == 200;
      },
      20s);
  INFO("the gateway's last answer: " << last << "\nstreaming said:\n"
                                     << Tail(streaming.process->Stderr()));
  REQUIRE(routed);
  INFO("gateway said:\n" << Tail(gateway->process->Stderr()));

  // Whole and in order, twice on one kept-alive connection; a range; HEAD says the length.
  HttpConnection c(gw);
  for (int i = 0; i < 2; ++i) {
    auto r = c.Request("GET", target);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.size() == bytes.size());
    CHECK(r->body == bytes);
    CHECK(r->keep_alive);
  }
  auto part = c.Request("GET", target, "Range: bytes=1000-2000999\r\n");
  REQUIRE(part);
  CHECK(part->status == 206);
  CHECK(part->body == bytes.substr(1000, 2000000));
  auto head = c.Request("HEAD", target);
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(head->headers[boost::beast::http::field::content_length] == std::to_string(bytes.size()));

  // Clients that leave in the middle of a body, with the rest unread: the gateway closes the
  // connection to the instance and goes on serving.
  for (int i = 0; i < 4; ++i) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket raw(io);
    raw.connect({boost::asio::ip::make_address("127.0.0.1"), gw});
    const std::string get = "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
    boost::asio::write(raw, boost::asio::buffer(get));
    std::array<char, 65536> piece{};
    size_t got = 0;
    while (got < 200000) got += raw.read_some(boost::asio::buffer(piece));
    raw.close();
  }
  // A client that stops reading: the transfer waits for it no longer than server.write_timeout,
  // then the connection closes with the body cut short (never a wrong one).
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket raw(io);
    raw.open(boost::asio::ip::tcp::v4());
    raw.set_option(boost::asio::socket_base::receive_buffer_size(16 * 1024));
    raw.connect({boost::asio::ip::make_address("127.0.0.1"), gw});
    const std::string get = "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
    const auto cut = [&] {
      const std::string log = gateway->process->Stderr();
      size_t n = 0;
      for (size_t at = log.find("A proxied body was cut short"); at != std::string::npos;
           at = log.find("A proxied body was cut short", at + 1))
        ++n;
      return n;
    };
    const size_t cut_before = cut();
    boost::asio::write(raw, boost::asio::buffer(get));
    REQUIRE(WaitFor([&] { return cut() > cut_before; }, 15s));
    // What did arrive is the body's beginning; the rest never comes.
    std::string got;
    std::array<char, 65536> piece{};
    boost::system::error_code ec;
    while (!ec) got.append(piece.data(), raw.read_some(boost::asio::buffer(piece), ec));
    const auto body_at = got.find("\r\n\r\n");
    REQUIRE(body_at != std::string::npos);
    const std::string body = got.substr(body_at + 4);
    CHECK(body.size() < bytes.size());
    CHECK(body == bytes.substr(0, body.size()));
  }
  auto after = Ask(gw, "GET", target);
  REQUIRE(after);
  CHECK(after->body == bytes);
  // A small answer (the catalogue) is read whole and passed on as well.
  auto list = Ask(gw, "GET", "/api/v1/videos");
  REQUIRE(list);
  CHECK(list->status == 200);
  CHECK(Contains(list->body, id));

  const uint16_t metrics_port = ListenerPort(
      Run({SG_CLI_BIN, "--service", "api-gateway", "--json", "status"}, gateway->env).out,
      "metrics");
  REQUIRE(metrics_port != 0);
  const auto metrics = Ask(metrics_port, "GET", "/metrics");
  REQUIRE(metrics);
  const std::smatch spliced = [&] {
    std::smatch m;
    std::regex_search(metrics->body, m,
                      std::regex(R"(streamgate_proxy_spliced_total\{service="streaming"\} (\d+))"));
    return m;
  }();
  REQUIRE(spliced.size() == 2);
  CHECK(std::stoi(spliced[1].str()) >= 4);  // the two GETs, the range and the last GET
}

}  // namespace sg::test

namespace sg::test {
namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

// The first line of a playlist that is not a tag: a variant playlist or a segment.
std::string FirstUri(const std::string& playlist) {
  std::istringstream lines(playlist);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line[0] != '#') return line;
  }
  return "";
}

}  // namespace

// The soak: uploads (the CLI, which resumes after a failure), transcodes and players (HLS GETs)
// running together through the gateway while one instance of a random service is killed with
// SIGKILL and started again every few seconds, and nats-server is restarted once. Bounded in
// time: SG_SOAK_SECONDS (25 here; tests/bench/soak.sh runs it longer), a kill every
// SG_SOAK_KILL_EVERY_MS (3000).
TEST_CASE("microservice soak: uploads, transcodes and players while instances are killed",
          "[microservice][soak]") {
  RequireFfmpeg();
  const auto duration = std::chrono::seconds(EnvInt("SG_SOAK_SECONDS", 25));
  const auto kill_every = std::chrono::milliseconds(EnvInt("SG_SOAK_KILL_EVERY_MS", 3000));
  // No player may see errors for longer than this in a row (two heartbeats to notice a dead
  // instance, the NATS restart, a retry to the other instance).
  const auto error_bound = std::chrono::seconds(5);
  Engines engines;
  const auto sets = engines.Sets();
  auto front = StartGateway(sets);
  Instance& gateway = *front;
  const uint16_t gw = gateway.HttpPort();
  const std::string base = "http://127.0.0.1:" + std::to_string(gw);

  std::map<std::string, std::vector<std::unique_ptr<Instance>>> live;
  std::vector<std::unique_ptr<Instance>> dead;  // kept for their logs
  for (const auto& [name, count] : std::vector<std::pair<std::string, int>>{{"metadata", 2},
                                                                            {"worker", 1},
                                                                            {"cache", 1},
                                                                            {"auth", 1},
                                                                            {"upload", 2},
                                                                            {"transcoder", 2},
                                                                            {"streaming", 2}}) {
    for (int i = 0; i < count; ++i) live[name].push_back(std::make_unique<Instance>(name, sets));
  }
  REQUIRE(WaitFor(
      [&] {
        auto a = Ask(gw, "OPTIONS", "/api/v1/uploads");
        auto b = Ask(gw, "GET", "/api/v1/videos");
        return a && a->status == 204 && b && b->status == 200;
      },
      20s));

  TempDir work;
  const std::string clip = MakeClip(work, 2);
  using SteadyClock = std::chrono::steady_clock;
  const auto began = SteadyClock::now();
  const auto deadline = began + duration;
  std::mutex mu;
  std::vector<std::string> errors;  // every error seen, with its time
  std::vector<std::string> ids;     // uploaded videos
  std::set<std::string> ready;      // seen ready: the player thread's own
  auto note = [&](const std::string& what) {
    const double t = std::chrono::duration<double>(SteadyClock::now() - began).count();
    std::lock_guard lock(mu);
    errors.push_back(fmt::format("{:6.2f}s {}", t, what));
  };
  std::atomic<bool> stop{false};

  // Two uploaders, one file after another, each a copy of the clip under a name of its own.
  std::vector<std::thread> threads;
  for (int u = 0; u < 2; ++u) {
    threads.emplace_back([&, u] {
      TempDir state;
      SpawnOptions env;
      env.unset_env = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT"};
      env.env["XDG_STATE_HOME"] = state.path();
      env.env["XDG_RUNTIME_DIR"] = state.path();
      for (int n = 0; SteadyClock::now() < deadline && !stop; ++n) {
        const std::string file = fmt::format("{}/up-{}-{}.mp4", work.path(), u, n);
        std::filesystem::copy_file(clip, file);
        const auto up = Run({SG_CLI_BIN, "upload", file, "--url", base, "--json"}, env, 180s);
        std::smatch m;
        static const std::regex done(R"re("event":"done","video":"([0-9A-Z]{26})")re");
        if (up.exit_code == 0 && std::regex_search(up.out, m, done)) {
          const std::string id = m[1];
          {
            std::lock_guard lock(mu);
            ids.push_back(id);
          }
          // The next upload once this one is transcoded: a steady pipeline, not a backlog.
          WaitFor(
              [&] {
                const std::string now = Video(gw, id).value("state", "");
                return stop || now == "ready" || now == "failed";
              },
              120s);
        } else {
          note(
              fmt::format("upload {} failed (exit {}): {}", file, up.exit_code, Tail(up.err, 300)));
        }
        // Every retry the CLI made on the way is an error a user would have seen scroll by.
        std::istringstream lines(up.out);
        std::string line;
        while (std::getline(lines, line)) {
          if (Contains(line, "\"event\":\"retry\"")) note("upload retried: " + line);
        }
      }
    });
  }
  // A player: the master playlist, a variant and its first segment of a ready video, over and
  // over; the longest run of failed rounds is the error a viewer would have seen.
  std::chrono::milliseconds longest_outage{0};
  threads.emplace_back([&] {
    std::optional<SteadyClock::time_point> failing_since;
    size_t turn = 0;
    // The uploaded videos that are ready now join the ones played (this thread's alone).
    auto refresh_ready = [&] {
      std::vector<std::string> known;
      {
        std::lock_guard lock(mu);
        known = ids;
      }
      for (const auto& k : known) {
        if (!ready.contains(k) && Video(gw, k).value("state", "") == "ready") ready.insert(k);
      }
      return stop || !ready.empty();
    };
    while (!stop) {
      if (ready.empty()) {
        // Nothing to play yet: until a video is ready, or the soak ends.
        WaitFor(refresh_ready, duration + 180s);
        continue;
      }
      const std::string id = *std::next(ready.begin(), static_cast<long>(turn++ % ready.size()));
      std::string failure;
      const std::string dir = "/videos/" + id + "/";
      auto master = Ask(gw, "GET", dir + "master.m3u8");
      if (!master || master->status != 200) {
        failure = "master " +
                  (master ? std::to_string(master->status) + " " + master->body : "no answer");
      } else {
        const std::string variant = FirstUri(master->body);
        auto media = Ask(gw, "GET", dir + variant);
        if (!media || media->status != 200) {
          failure = "variant " +
                    (media ? std::to_string(media->status) + " " + media->body : "no answer");
        } else {
          auto seg = Ask(gw, "GET", dir + FirstUri(media->body));
          if (!seg || seg->status != 200 || seg->body.empty())
            failure = "segment " + (seg ? std::to_string(seg->status) : std::string("no answer"));
        }
      }
      const auto now = SteadyClock::now();
      if (!failure.empty()) {
        note("player: " + id + " " + failure.substr(0, 200));
        if (!failing_since) failing_since = now;
      } else if (failing_since) {
        longest_outage =
            std::max(longest_outage,
                     std::chrono::duration_cast<std::chrono::milliseconds>(now - *failing_since));
        failing_since.reset();
      }
      if (turn % 20 == 0) refresh_ready();  // newly ready videos join now and then
    }
    if (failing_since) {
      longest_outage =
          std::max(longest_outage, std::chrono::duration_cast<std::chrono::milliseconds>(
                                       SteadyClock::now() - *failing_since));
    }
  });

  // The chaos: kill an instance of a random service, start another; restart NATS once midway.
  std::mt19937 rng(12345);
  const std::vector<std::string> killable = {"metadata", "upload", "transcoder", "streaming",
                                             "worker"};
  std::vector<std::string> kills;
  bool nats_restarted = false;
  while (SteadyClock::now() < deadline) {
    // The pace of the chaos: a kill every interval whatever state things are in, so a sleep
    // and not a wait for a condition.
    std::this_thread::sleep_for(kill_every);
    if (!nats_restarted && SteadyClock::now() > began + duration / 2) {
      engines.nats.Stop();
      engines.nats.Start();
      nats_restarted = true;
      kills.push_back("nats-server");
      continue;
    }
    const std::string name = killable[rng() % killable.size()];
    auto& instances = live[name];
    const size_t victim = rng() % instances.size();
    instances[victim]->process->Signal(SIGKILL);
    instances[victim]->process->Wait(10s);
    dead.push_back(std::move(instances[victim]));
    instances.erase(instances.begin() + static_cast<long>(victim));
    kills.push_back(name);
    instances.push_back(std::make_unique<Instance>(name, sets));
  }
  stop = true;
  for (auto& t : threads) t.join();

  // Every upload becomes ready, its outputs whole, its transcode's effect seen once.
  std::map<std::string, json> videos;
  for (const auto& id : ids) {
    json video;
    WaitFor(
        [&] {
          video = Video(gw, id);
          return video.value("state", "") == "ready" || video.value("state", "") == "failed";
        },
        180s);
    videos[id] = video;
  }
  auto bucket = S3Client(engines.s3);
  std::string transcoder_logs;
  int transcoders_that_worked = 0;  // the work spreads: more than one instance transcoded
  auto add_log = [&](const Instance& in) {
    const std::string log = in.process->Stderr();
    transcoders_that_worked += Contains(log, "\tTranscoding\t") ? 1 : 0;
    transcoder_logs += log;
  };
  for (const auto& in : live["transcoder"]) add_log(*in);
  for (const auto& in : dead) {
    if (in->name == "transcoder") add_log(*in);
  }
  const double minutes = std::chrono::duration<double>(duration).count() / 60;
  std::cout << fmt::format(
      "soak: {:.0f} s, {} videos uploaded and transcoded ({:.1f} a minute) by {} transcoder "
      "instances, kills: {}; longest player outage {} ms (bound {} ms); {} errors seen:\n",
      std::chrono::duration<double>(duration).count(), ids.size(), ids.size() / minutes,
      transcoders_that_worked, fmt::join(kills, " "), longest_outage.count(),
      std::chrono::duration_cast<std::chrono::milliseconds>(error_bound).count(), errors.size());
  for (const auto& e : errors) std::cout << "  " << e << '\n';
  CHECK(ids.size() >= 2);
  CHECK(nats_restarted);
  CHECK(transcoders_that_worked >= 2);
  for (const auto& [id, video] : videos) {
    INFO(id << ": " << video.dump());
    CHECK(video.value("state", "") == "ready");
    CHECK(video.value("renditions", json::array()).size() == 2);
    CHECK(bucket->Stat("videos/" + id + "/stream/master.m3u8"));
    CHECK(bucket->Stat("videos/" + id + "/stream/manifest.mpd"));
    // "Video ready" is the transcode's visible effect: never twice for one video, whoever ran
    // it (a SIGKILL may lose an instance's last log lines, so it may show less than once).
    size_t readies = 0;
    for (size_t at = transcoder_logs.find("Video ready\tvideo=" + id); at != std::string::npos;
         at = transcoder_logs.find("Video ready\tvideo=" + id, at + 1))
      ++readies;
    CHECK(readies <= 1);
  }
  CHECK(longest_outage <= error_bound);
}

}  // namespace sg::test
