#include "daemon/plugins/transcoder/transcoder_plugin.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/child_process.h"
#include "common/log_record.h"
#include "common/paths.h"
#include "common/strings.h"
#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/jobs.h"
#include "daemon/plugin_api/periodic_timer.h"
#include "daemon/plugin_api/registration.h"
#include "daemon/plugins/transcoder/ladder.h"
#include "daemon/plugins/transcoder/transcoder_config.h"

namespace sg::plugins {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using transcoder::EncodeSettings;
using transcoder::Output;
using transcoder::Packaged;
using transcoder::Probe;
using transcoder::Rung;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kTranscodeKind = "transcode";
constexpr const char* kProgressSubject = "video.transcode.progress";
constexpr auto kProgressEvery = std::chrono::milliseconds(500);  // at most two events a second
constexpr auto kSweepEvery = std::chrono::seconds(10);  // the look for uploads whose event was lost

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Why a transcode failed, as metrics labels: a fixed set.
enum class Reason {
  kNoVideo,     // not media, no video stream, empty
  kDimensions,  // too small or too large
  kCorrupt,     // ffprobe or ffmpeg could not read it
  kTimeout,     // transcoder.timeout passed
  kEncoder,     // ffmpeg failed otherwise
  kStorage,
  kCatalogue,
  kCancelled,
  kCount
};
constexpr const char* kReasonNames[] = {"no_video", "dimensions", "corrupt",   "timeout",
                                        "encoder",  "storage",    "catalogue", "cancelled"};
static_assert(std::size(kReasonNames) == static_cast<size_t>(Reason::kCount));

// Seconds a job took, for the histogram.
const std::vector<double> kDurationBounds = {1, 5, 15, 60, 300, 900, 3600, 14400};

struct Settings {
  int concurrency = 1;
  std::vector<Rung> ladder;
  EncodeSettings encode;
  std::string ffprobe = "ffprobe";
  int nice = 10;
  std::chrono::milliseconds timeout{6 * 3600 * 1000};
  int max_dimension = 8192;
  fs::path work_dir;
};

// What the plugin shares with jobs on worker threads, which may end after a Stop.
struct Shared {
  std::shared_ptr<spdlog::logger> logger;
  Settings settings;
  Storage* storage = nullptr;
  BlockingPool* blocking = nullptr;
  ServiceRegistry* services = nullptr;
  Bus* bus = nullptr;
  std::atomic<bool> stopping{false};  // Stop was called: running children end, videos are kept

  mutable std::mutex mu;
  uint64_t failures[static_cast<size_t>(Reason::kCount)] = {};  // guarded by mu
  std::vector<uint64_t> duration_buckets;                       // guarded by mu
  double duration_sum = 0;                                      // guarded by mu
  uint64_t duration_count = 0;                                  // guarded by mu
  std::string ffmpeg_version;                                   // guarded by mu

  std::atomic<int64_t> running{0};
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> succeeded{0};
  std::atomic<uint64_t> failed{0};     // attempts that failed (retried or not)
  std::atomic<uint64_t> enqueued{0};   // jobs this process enqueued
  std::atomic<uint64_t> media_ms{0};   // milliseconds of source transcoded
  std::atomic<uint64_t> bytes_out{0};  // bytes written to storage
  std::atomic<uint64_t> renditions{0};

  void Failed(Reason reason) {
    std::lock_guard lock(mu);
    ++failures[static_cast<size_t>(reason)];
  }
  void Took(double seconds) {
    std::lock_guard lock(mu);
    if (duration_buckets.empty()) duration_buckets.assign(kDurationBounds.size(), 0);
    for (size_t i = 0; i < kDurationBounds.size(); ++i) {
      if (seconds <= kDurationBounds[i]) ++duration_buckets[i];
    }
    duration_sum += seconds;
    ++duration_count;
  }
  Result<std::shared_ptr<Catalogue>> FindCatalogue() const {
    return services->Find<Catalogue>("metadata");
  }
};

// A failure of one attempt: the error the worker sees, and whether the video fails for good.
struct JobFailure {
  Error error;
  Reason reason = Reason::kEncoder;
  bool permanent = false;  // bad input: the video fails now, and the job is not retried
};

JobFailure Permanent(Reason reason, std::string message) {
  return {{ErrorCode::kInvalidArgument, std::move(message)}, reason, true};
}
JobFailure Transient(Reason reason, Error error) { return {std::move(error), reason, false}; }

std::string LastLines(const std::vector<std::string>& lines, size_t n) {
  std::vector<std::string> tail;
  for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) {
    if (!lines[i].empty()) tail.push_back(lines[i]);
  }
  return Join(tail, " | ");
}

// One transcode job, from the payload to the ready video.
class Transcode {
 public:
  Transcode(std::shared_ptr<Shared> shared, JobContext& context, std::string video_id)
      : s_(std::move(shared)), context_(context), id_(std::move(video_id)) {}

  Result<void> Run() {
    const auto began = SteadyClock::now();
    auto catalogue = s_->FindCatalogue();
    if (!catalogue) return catalogue.error().Wrap("transcode: no catalogue");
    catalogue_ = *catalogue;
    auto video = catalogue_->Get(id_);
    if (!video) {
      if (video.error().code == ErrorCode::kNotFound) {
        s_->logger->info(log::With("Video is gone; nothing to transcode", Fields()));
        return {};
      }
      return video.error().Wrap("transcode: read the video");
    }
    switch (video->state) {
      case VideoState::kReady:
      case VideoState::kDeleted:
      case VideoState::kFailed:
      case VideoState::kUploading:
        s_->logger->info(log::With(
            fmt::format("Video is {}; nothing to transcode", VideoStateName(video->state)),
            Fields()));
        return {};
      case VideoState::kUploaded:
        if (auto r = Move(VideoState::kQueued); !r) return r.error();
        [[fallthrough]];
      case VideoState::kQueued:
        if (auto r = Move(VideoState::kProcessing); !r) return r.error();
        break;
      case VideoState::kProcessing:
        break;  // a run after a crash or a retry: start again
    }
    s_->running.fetch_add(1);
    s_->started.fetch_add(1);
    auto result = Work(*video);  // a failure, or nothing when the video is ready
    s_->running.fetch_sub(1);
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - began).count();
    s_->Took(seconds);
    std::error_code ec;
    fs::remove_all(dir_, ec);
    if (!result) {
      s_->succeeded.fetch_add(1);
      return {};
    }
    JobFailure& failure = *result;
    s_->failed.fetch_add(1);
    if (s_->stopping.load()) {
      // The daemon or the plugin stops: the job runs again after the lease (the video stays
      // processing meanwhile), here or in another process.
      s_->logger->info(
          log::With("Transcode stopped with the plugin; it runs again later", Fields()));
      return Fail(ErrorCode::kUnavailable, "the transcoder stopped");
    }
    if (context_.Cancelled()) failure.reason = Reason::kCancelled;
    s_->Failed(failure.reason);
    const Job& job = context_.job();
    const bool last = failure.permanent || failure.reason == Reason::kCancelled ||
                      (job.max_attempts > 0 && job.attempts >= job.max_attempts);
    if (last) {
      VideoTransition to;
      to.to = VideoState::kFailed;
      to.failure_reason =
          failure.reason == Reason::kCancelled
              ? "the transcode was cancelled; 'streamgate jobs retry " + job.id + "' runs it again"
              : failure.error.message;
      if (auto moved = catalogue_->Transition(id_, to); !moved) {
        s_->logger->warn(
            log::With("Cannot mark the video failed", Fields({{"error", moved.error().message}})));
      }
      Publish("failed", 100, {});
    }
    s_->logger->warn(
        log::With(last ? "Transcode failed" : "Transcode attempt failed; it is retried",
                  Fields({{"reason", kReasonNames[static_cast<size_t>(failure.reason)]},
                          {"error", failure.error.message},
                          {"attempt", static_cast<int64_t>(job.attempts)}})));
    if (failure.permanent) return Fail(ErrorCode::kInvalidArgument, failure.error.message);
    return failure.error;
  }

 private:
  std::vector<log::Field> Fields(std::initializer_list<log::Field> more = {}) const {
    std::vector<log::Field> fields = {{"video", id_}, {"job", context_.job().id}};
    fields.insert(fields.end(), more.begin(), more.end());
    return fields;
  }

  Result<void> Move(VideoState to) {
    VideoTransition transition;
    transition.to = to;
    auto moved = catalogue_->Transition(id_, transition);
    if (!moved && moved.error().code != ErrorCode::kFailedPrecondition) {
      return moved.error().Wrap("transcode: move the video to " + std::string(VideoStateName(to)));
    }
    return {};
  }

  bool ShouldStop() const { return s_->stopping.load() || context_.Cancelled(); }

  void Publish(std::string_view stage, double percent, const transcoder::FfmpegProgress& p,
               bool force = true) {
    const auto now = SteadyClock::now();
    if (!force && now - last_event_ < kProgressEvery) return;
    last_event_ = now;
    json event = {{"video", id_},
                  {"job", context_.job().id},
                  {"stage", stage},
                  {"percent", std::round(percent * 10) / 10},
                  {"rendition", rendition_names_}};
    if (p.fps) event["fps"] = *p.fps;
    if (p.speed) event["speed"] = *p.speed;
    if (p.speed && *p.speed > 0 && duration_ > 0) {
      event["eta_seconds"] = std::max(0.0, (duration_ - p.out_seconds) / *p.speed);
    }
    (void)s_->bus->Publish(kProgressSubject, Dump(event));
    context_.Progress(percent / 100);
  }

  // Runs a child with the plugin's limits; its stderr goes to the log with the job's ids.
  Result<ChildResult> Child(std::vector<std::string> argv,
                            std::function<void(std::string_view)> on_stdout = {}) {
    ChildOptions options;
    options.argv = std::move(argv);
    options.nice = s_->settings.nice;
    options.timeout = s_->settings.timeout;
    options.stop = [this] { return ShouldStop(); };
    options.on_stdout = std::move(on_stdout);
    const std::string program = fs::path(options.argv.front()).filename().string();
    options.on_stderr = [this, program](std::string_view line) {
      if (line.empty()) return;
      s_->logger->info(log::With(fmt::format("{}: {}", program, Printable(line, 400)), Fields()));
    };
    return RunChild(options);
  }

  std::optional<JobFailure> Work(const Video& video) {
    dir_ = s_->settings.work_dir / id_;
    std::error_code ec;
    fs::remove_all(dir_, ec);
    fs::create_directories(dir_ / "out", ec);
    if (ec) {
      return Transient(Reason::kStorage,
                       {ErrorCode::kIo, fmt::format("cannot make {} (transcoder.work_dir): {}",
                                                    dir_.string(), ec.message())});
    }
    Publish("probing", 0, {});
    const std::string source_key =
        video.source_key.empty() ? "videos/" + id_ + "/source" : video.source_key;
    const fs::path source = dir_ / "source";
    if (auto failure = Fetch(source_key, source)) return failure;
    if (ShouldStop()) return Transient(Reason::kCancelled, {ErrorCode::kUnavailable, "stopped"});

    // Probe.
    std::string report;
    auto probed = Child(transcoder::ProbeArgs(s_->settings.ffprobe, source.string()),
                        [&](std::string_view line) {
                          if (report.size() < (size_t{4} << 20)) {
                            report.append(line);
                            report += '\n';
                          }
                        });
    if (!probed) return Transient(Reason::kEncoder, probed.error().Wrap("run ffprobe"));
    if (!probed->Succeeded()) {
      if (probed->stopped)
        return Transient(Reason::kCancelled, {ErrorCode::kUnavailable, "stopped"});
      if (probed->timed_out) {
        return Transient(Reason::kTimeout, {ErrorCode::kTimeout, "ffprobe " + probed->Describe()});
      }
      return Permanent(Reason::kCorrupt,
                       fmt::format("the file is not a video ffmpeg can read ({}): it may be "
                                   "truncated or corrupt; upload it again",
                                   LastLines(probed->stderr_tail, 2)));
    }
    auto probe = transcoder::ParseProbe(report, s_->settings.max_dimension);
    if (!probe) {
      const bool size = probe.error().message.find("pixels") != std::string::npos;
      return Permanent(size ? Reason::kDimensions : Reason::kNoVideo, probe.error().message);
    }
    duration_ = probe->duration;
    const std::vector<Output> outputs = transcoder::PlanLadder(s_->settings.ladder, *probe);
    std::vector<std::string> names;
    names.reserve(outputs.size());
    for (const auto& o : outputs) names.push_back(o.name);
    rendition_names_ = Join(names, ",");
    s_->logger->info(log::With(
        "Transcoding",
        Fields({{"source", fmt::format("{}x{} {} {:.2f}fps {:.1f}s{}", probe->width, probe->height,
                                       probe->video_codec, probe->fps, probe->duration,
                                       probe->has_audio ? " with audio" : "")},
                {"renditions", rendition_names_}})));

    // Encode: one ffmpeg for the whole ladder.
    const fs::path out = dir_ / "out";
    transcoder::ProgressParser parser;
    auto encoded = Child(transcoder::FfmpegArgs(source.string(), out.string(), outputs, *probe,
                                                s_->settings.encode, true),
                         [&](std::string_view line) {
                           auto p = parser.Feed(line);
                           if (!p) return;
                           const double fraction =
                               std::clamp(p->out_seconds / probe->duration, 0.0, 1.0);
                           Publish("encoding", 1 + fraction * 94, *p, p->end);
                         });
    if (!encoded) return Transient(Reason::kEncoder, encoded.error().Wrap("run ffmpeg"));
    if (!encoded->Succeeded()) {
      if (encoded->stopped) {
        return Transient(Reason::kCancelled, {ErrorCode::kUnavailable, "stopped"});
      }
      return Transient(
          encoded->timed_out ? Reason::kTimeout : Reason::kEncoder,
          {encoded->timed_out ? ErrorCode::kTimeout : ErrorCode::kInternal,
           fmt::format("ffmpeg {}: {}", encoded->Describe(), LastLines(encoded->stderr_tail, 3))});
    }
    // The poster: a frame a little way in.
    const fs::path poster = dir_ / "poster.jpg";
    auto posted = Child(
        transcoder::PosterArgs(source.string(), poster.string(), *probe, s_->settings.encode));
    const bool have_poster = posted && posted->Succeeded() && fs::exists(poster, ec);
    if (!have_poster) {
      s_->logger->warn(
          log::With("No poster could be made; the video goes on without one", Fields()));
    }

    auto packaged = transcoder::FinishPackage(out.string(), outputs, *probe);
    if (!packaged) return Transient(Reason::kEncoder, packaged.error());

    // Storage: segments first, playlists last, so that a reader never sees half a video.
    Publish("storing", 95, {});
    const std::string prefix = "videos/" + id_ + "/stream/";
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(out, ec)) {
      const std::string name = entry.path().filename().string();
      if (entry.is_regular_file() && name.find(".tmp") == std::string::npos) files.push_back(name);
    }
    std::set<std::string> written;
    for (const auto& name : transcoder::UploadOrder(files)) {
      if (ShouldStop()) return Transient(Reason::kCancelled, {ErrorCode::kUnavailable, "stopped"});
      if (auto failure = Put(out / name, prefix + name)) return failure;
      written.insert(prefix + name);
    }
    std::string poster_key;
    if (have_poster) {
      poster_key = "videos/" + id_ + "/poster.jpg";
      if (auto failure = Put(poster, poster_key)) return failure;
    }
    // What an earlier transcode left that this one did not write goes.
    if (auto listed = s_->storage->List(prefix)) {
      for (const auto& info : *listed) {
        if (written.count(info.key) == 0) (void)s_->storage->Delete(info.key);
      }
    }

    VideoTransition ready;
    ready.to = VideoState::kReady;
    ready.duration = probe->duration;
    std::vector<Rendition> renditions;
    for (const auto& p : *packaged) {
      if (p.audio) continue;
      renditions.push_back({p.name, p.width, p.height, p.bitrate, p.codec, prefix + p.playlist});
    }
    ready.renditions = renditions;
    if (!poster_key.empty()) ready.poster = poster_key;
    auto done = catalogue_->Transition(id_, ready);
    if (!done) return Transient(Reason::kCatalogue, done.error().Wrap("mark the video ready"));
    s_->media_ms.fetch_add(static_cast<uint64_t>(probe->duration * 1000));
    s_->renditions.fetch_add(renditions.size());
    context_.Progress(1);
    s_->logger->info(
        log::With("Video ready", Fields({{"renditions", rendition_names_},
                                         {"duration", probe->duration},
                                         {"master", prefix + std::string(transcoder::kMaster)}})));
    return {};
  }

  std::optional<JobFailure> Fetch(const std::string& key, const fs::path& to) {
    auto reader = s_->storage->Get(key, {});
    if (!reader) {
      if (reader.error().code == ErrorCode::kNotFound) {
        return Permanent(Reason::kNoVideo, "the uploaded file is missing from storage (" + key +
                                               "); upload it again");
      }
      return Transient(Reason::kStorage, reader.error().Wrap("read the source " + key));
    }
    if ((*reader)->length() == 0) {
      return Permanent(Reason::kNoVideo,
                       "the uploaded file is empty (0 bytes); upload the video again");
    }
    std::ofstream file(to, std::ios::binary | std::ios::trunc);
    std::vector<char> buffer(size_t{1} << 20);
    for (;;) {
      if (ShouldStop()) return Transient(Reason::kCancelled, {ErrorCode::kUnavailable, "stopped"});
      auto got = (*reader)->Read(buffer.data(), buffer.size());
      if (!got) return Transient(Reason::kStorage, got.error().Wrap("read the source " + key));
      if (*got == 0) break;
      file.write(buffer.data(), static_cast<std::streamsize>(*got));
      if (!file) {
        return Transient(Reason::kStorage, {ErrorCode::kNoSpace,
                                            fmt::format("cannot write {}: is transcoder.work_dir "
                                                        "full?",
                                                        to.string())});
      }
    }
    file.close();
    if (!file) return Transient(Reason::kStorage, {ErrorCode::kIo, "cannot write " + to.string()});
    return {};
  }

  std::optional<JobFailure> Put(const fs::path& file, const std::string& key) {
    auto writer = s_->storage->Put(key);
    if (!writer) return Transient(Reason::kStorage, writer.error().Wrap("write " + key));
    std::ifstream in(file, std::ios::binary);
    std::vector<char> buffer(size_t{1} << 20);
    uint64_t total = 0;
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      const auto n = static_cast<size_t>(in.gcount());
      if (n == 0) break;
      if (auto w = (*writer)->Write(std::string_view(buffer.data(), n)); !w) {
        return Transient(Reason::kStorage, w.error().Wrap("write " + key));
      }
      total += n;
    }
    if (auto c = (*writer)->Commit(); !c) {
      return Transient(Reason::kStorage, c.error().Wrap("commit " + key));
    }
    s_->bytes_out.fetch_add(total);
    return {};
  }

  std::shared_ptr<Shared> s_;
  JobContext& context_;
  std::string id_;
  std::shared_ptr<Catalogue> catalogue_;
  fs::path dir_;
  double duration_ = 0;
  std::string rendition_names_;
  SteadyClock::time_point last_event_{};
};

class TranscoderPlugin final : public Plugin {
 public:
  std::string_view Name() const override { return "transcoder"; }
  std::string_view Version() const override { return "1.0.0"; }
  std::vector<std::string> ConfigKeys() const override { return TranscoderConfig().Reads(); }

  Result<void> CheckConfig(const config::Config& config) const override {
    if (auto ladder = transcoder::ParseLadder(config.List("transcoder.ladder")); !ladder) {
      return ladder.error();
    }
    return {};
  }

  Result<void> Init(PluginContext& context) override {
    executor_ = context.executor;
    const config::Config& config = *context.config;
    shared_ = std::make_shared<Shared>();
    Shared& s = *shared_;
    s.logger = context.logger;
    s.storage = context.storage;
    s.blocking = context.blocking;
    s.services = context.services;
    s.bus = context.bus;
    Settings& settings = s.settings;
    auto ladder = transcoder::ParseLadder(config.List("transcoder.ladder"));
    if (!ladder) return ladder.error();
    settings.ladder = std::move(*ladder);
    settings.concurrency = static_cast<int>(config.Int("transcoder.concurrency"));
    settings.encode.ffmpeg = config.String("transcoder.ffmpeg");
    settings.encode.encoder = config.String("transcoder.encoder");
    settings.encode.preset = config.String("transcoder.preset");
    settings.encode.audio_bitrate = config.Int("transcoder.audio_bitrate");
    settings.encode.segment_seconds =
        static_cast<double>(config.Duration("transcoder.segment_duration").count()) / 1000;
    settings.ffprobe = config.String("transcoder.ffprobe");
    settings.nice = static_cast<int>(config.Int("transcoder.nice"));
    settings.timeout = config.Duration("transcoder.timeout");
    settings.max_dimension = static_cast<int>(config.Int("transcoder.max_dimension"));
    const std::string work = config.String("transcoder.work_dir");
    // By default beside the catalogue's SQLite file: a folder the daemon's user already owns.
    settings.work_dir =
        work.empty() ? fs::path(SqliteFile(config.String("metadata.sqlite_path"))).parent_path() /
                           "transcode"
                     : fs::path(work);
    metrics_ = context.metrics;
    if (s.storage == nullptr) {
      return Fail(ErrorCode::kConfig, "transcoder: no media store (storage.*) to read and write");
    }
    if (s.bus == nullptr || s.services == nullptr || s.blocking == nullptr) {
      return Fail(ErrorCode::kInternal, "transcoder: the kernel gave no bus, services or pool");
    }
    return {};
  }

  Result<void> Start() override {
    auto s = shared_;
    s->stopping = false;
    // The programs first: a missing ffmpeg is for the operator to fix, said at once.
    for (const auto* key : {"transcoder.ffmpeg", "transcoder.ffprobe"}) {
      const std::string& program = std::string_view(key) == "transcoder.ffmpeg"
                                       ? s->settings.encode.ffmpeg
                                       : s->settings.ffprobe;
      if (auto found = FindProgram(program); !found) {
        return Fail(ErrorCode::kConfig,
                    fmt::format("transcoder: {}; install ffmpeg (apt install ffmpeg) or set {}",
                                found.error().message, key));
      }
    }
    if (auto encoders = CheckEncoder(*s); !encoders) return encoders.error();
    std::error_code ec;
    fs::create_directories(s->settings.work_dir, ec);
    if (ec) {
      return Fail(ErrorCode::kIo,
                  fmt::format("transcoder: cannot make {} (transcoder.work_dir): {}",
                              s->settings.work_dir.string(), ec.message()));
    }
    auto queue = s->services->Find<JobQueue>("worker");
    if (!queue) {
      return Fail(
          ErrorCode::kFailedPrecondition,
          "transcoder: no job queue (" + queue.error().message +
              "); the transcoder runs the worker's transcode jobs: enable the worker plugin");
    }
    auto handle = (*queue)->Handle(
        kTranscodeKind,
        [weak = std::weak_ptr<Shared>(s)](JobContext& job) -> Result<void> {
          auto shared = weak.lock();
          if (!shared) return Fail(ErrorCode::kUnavailable, "the transcoder has stopped");
          const json payload = json::parse(job.job().payload, nullptr, false);
          const std::string id = payload.is_object() ? payload.value("video", "") : "";
          if (id.empty()) {
            return Fail(ErrorCode::kInvalidArgument,
                        "a transcode job's payload is {\"video\": ID}; this one is not");
          }
          return Transcode(shared, job, id).Run();
        },
        s->settings.concurrency);
    if (!handle) return handle.error().Wrap("transcoder: register the transcode job handler");
    handler_ = std::move(*handle);

    auto subscribed = Subscribe(*s->bus, "video.uploaded", [s](const Message& message) {
      const json event = json::parse(message.data, nullptr, false);
      const std::string id = event.is_object() ? event.value("video", event.value("id", "")) : "";
      if (id.empty()) return;
      if (!s->blocking->Submit([s, id] { EnqueueFor(*s, id); })) {
        s->logger->warn(
            log::With("The blocking pool refused to queue a transcode; it is queued "
                      "at the next start",
                      {{"video", id}}));
      }
    });
    if (!subscribed) return subscribed.error().Wrap("transcoder: subscribe to video.uploaded");
    subscription_ = std::move(*subscribed);
    if (metrics_ != nullptr) {
      collector_ =
          AddCollector(*metrics_, [s](std::vector<MetricFamily>& out) { Collect(*s, out); });
    }
    // Videos that were uploaded while no transcoder ran get their jobs now.
    if (!s->blocking->Submit([s] { CatchUp(*s); })) {
      s->logger->warn("The blocking pool refused the look for videos waiting to be transcoded");
    }
    // And later too: a video.uploaded event lost on the way (NATS restarting, or a moment with
    // no transcoder subscribed) would otherwise leave its video uploaded until the next start.
    sweep_ = std::make_unique<PeriodicTimer>(executor_, kSweepEvery, [s] {
      (void)s->blocking->Submit([s] { CatchUp(*s, /*missed_only=*/true); });
    });
    return {};
  }

  void Stop(Deadline) override {
    sweep_.reset();
    shared_->stopping = true;  // running ffmpegs end; their jobs run again after the lease
    subscription_.Reset();
    collector_.Reset();
    handler_.reset();
  }

  HealthReport CheckHealth() const override {
    const Shared& s = *shared_;
    std::string version;
    {
      std::lock_guard lock(s.mu);
      version = s.ffmpeg_version;
    }
    auto catalogue = s.FindCatalogue();
    if (!catalogue) {
      return {HealthStatus::kDegraded,
              "no catalogue: transcodes wait until the metadata plugin "
              "runs (" +
                  catalogue.error().message + ")"};
    }
    return {
        HealthStatus::kHealthy,
        fmt::format("{} of {} transcodes running; {}, {}", s.running.load(), s.settings.concurrency,
                    version.empty() ? "ffmpeg" : version, s.settings.encode.encoder)};
  }

 private:
  // Checks that ffmpeg has the configured encoder, and notes its version for health: one run of
  // ffmpeg, whose banner (on stderr) names its version. Each run costs about 0.1 s of the start.
  static Result<void> CheckEncoder(Shared& s) {
    std::string listing;
    std::string version;
    ChildOptions options;
    options.argv = {s.settings.encode.ffmpeg, "-encoders"};
    options.timeout = std::chrono::seconds(20);
    options.on_stdout = [&](std::string_view line) {
      listing.append(line);
      listing += '\n';
    };
    options.on_stderr = [&](std::string_view line) {
      if (version.empty() && line.find(" version ") != std::string_view::npos) {
        version = std::string(line.substr(0, line.find(" Copyright")));
      }
    };
    auto ran = RunChild(options);
    if (!ran || !ran->Succeeded()) {
      return Fail(
          ErrorCode::kConfig,
          fmt::format("transcoder: '{} -encoders' failed ({}); check transcoder.ffmpeg",
                      s.settings.encode.ffmpeg, ran ? ran->Describe() : ran.error().message));
    }
    if (listing.find(" " + s.settings.encode.encoder + " ") == std::string::npos) {
      return Fail(ErrorCode::kConfig,
                  fmt::format("transcoder: this ffmpeg has no {} encoder (transcoder.encoder); "
                              "'ffmpeg -encoders' lists the ones it has, or use libx264",
                              s.settings.encode.encoder));
    }
    std::lock_guard lock(s.mu);
    s.ffmpeg_version = version;
    return {};
  }

  // Enqueues the transcode of an uploaded video (once: the idempotency key is the video and its
  // source's ETag) and moves it to queued.
  static void EnqueueFor(Shared& s, const std::string& id) {
    auto catalogue = s.FindCatalogue();
    auto queue = s.services->Find<JobQueue>("worker");
    if (!catalogue || !queue) return;
    auto video = (*catalogue)->Get(id);
    if (!video || (video->state != VideoState::kUploaded && video->state != VideoState::kQueued)) {
      return;
    }
    const std::string key =
        video->source_key.empty() ? "videos/" + id + "/source" : video->source_key;
    std::string etag;
    if (auto info = s.storage->Stat(key)) etag = info->etag;
    etag.erase(std::remove(etag.begin(), etag.end(), '"'), etag.end());
    // Queued before the job exists: once it does, its handler may already have moved the video
    // on to processing, and a late uploaded -> queued would then knock it back (processing ->
    // queued is the lost-lease move), failing the handler's processing -> ready. A video left
    // queued without a job gets one at the next start (CatchUp).
    if (video->state == VideoState::kUploaded) {
      VideoTransition to;
      to.to = VideoState::kQueued;
      (void)(*catalogue)->Transition(id, to);
    }
    JobSpec spec;
    spec.kind = kTranscodeKind;
    spec.payload = Dump({{"video", id}});
    spec.idempotency_key = id + ":" + etag;
    auto job = (*queue)->Enqueue(spec);
    if (!job) {
      s.logger->warn(log::With("Cannot queue the transcode; it is queued at the next start",
                               {{"video", id}, {"error", job.error().message}}));
      return;
    }
    s.enqueued.fetch_add(1);
    s.logger->info(log::With("Transcode queued", {{"video", id}, {"job", job->id}}));
  }

  // At start: every video still uploaded or queued gets its job (an existing one is kept).
  // `missed_only` (the periodic sweep): uploaded videos alone, whose event never arrived.
  static void CatchUp(Shared& s, bool missed_only = false) {
    auto catalogue = s.FindCatalogue();
    if (!catalogue) return;
    size_t found = 0;
    const std::vector<VideoState> states =
        missed_only ? std::vector<VideoState>{VideoState::kUploaded}
                    : std::vector<VideoState>{VideoState::kUploaded, VideoState::kQueued};
    for (auto state : states) {
      auto listed = ForEachVideo(
          **catalogue, state,
          [&](const Video& video) {
            EnqueueFor(s, video.id);
            ++found;
          },
          [&] { return !s.stopping.load(); });
      if (!listed) {
        s.logger->warn(log::With("Cannot list the videos waiting to be transcoded",
                                 {{"error", listed.error().message}}));
        return;
      }
    }
    if (found > 0) {
      s.logger->info(log::With(missed_only ? "Queued the transcodes of uploaded videos whose "
                                             "event was missed"
                                           : "Queued the transcodes of videos that were waiting",
                               {{"videos", static_cast<int64_t>(found)}}));
    }
  }

  static void Collect(const Shared& s, std::vector<MetricFamily>& out) {
    MetricFamily failures{"streamgate_transcoder_failures_total",
                          "Transcode attempts that failed, by reason",
                          "counter",
                          {}};
    MetricFamily duration{"streamgate_transcoder_job_duration_seconds",
                          "Wall time of transcode attempts",
                          "histogram",
                          {}};
    {
      std::lock_guard lock(s.mu);
      for (size_t i = 0; i < static_cast<size_t>(Reason::kCount); ++i) {
        failures.samples.push_back(
            {"", {{"reason", kReasonNames[i]}}, static_cast<double>(s.failures[i])});
      }
      std::vector<uint64_t> buckets = s.duration_buckets;
      buckets.resize(kDurationBounds.size(), 0);
      AddHistogram(duration, {}, kDurationBounds, buckets, s.duration_sum, s.duration_count);
    }
    out.push_back(std::move(failures));
    out.push_back(std::move(duration));
    AddValue(out, "streamgate_transcoder_started_total", "Transcode attempts started", "counter",
             static_cast<double>(s.started.load()));
    AddValue(out, "streamgate_transcoder_succeeded_total", "Transcodes that made their video ready",
             "counter", static_cast<double>(s.succeeded.load()));
    AddValue(out, "streamgate_transcoder_attempts_failed_total", "Transcode attempts that failed",
             "counter", static_cast<double>(s.failed.load()));
    AddValue(out, "streamgate_transcoder_enqueued_total", "Transcode jobs this process queued",
             "counter", static_cast<double>(s.enqueued.load()));
    AddValue(out, "streamgate_transcoder_running", "Transcodes running now", "gauge",
             static_cast<double>(s.running.load()));
    AddValue(out, "streamgate_transcoder_media_seconds_total", "Seconds of video transcoded",
             "counter", static_cast<double>(s.media_ms.load()) / 1000);
    AddValue(out, "streamgate_transcoder_renditions_total", "Renditions made", "counter",
             static_cast<double>(s.renditions.load()));
    AddValue(out, "streamgate_transcoder_output_bytes_total", "Bytes of streams written to storage",
             "counter", static_cast<double>(s.bytes_out.load()));
  }

  std::shared_ptr<Shared> shared_;
  MetricsRegistry* metrics_ = nullptr;
  std::unique_ptr<JobQueue::Registration> handler_;
  Registration subscription_;
  Registration collector_;
  boost::asio::any_io_executor executor_;
  std::unique_ptr<PeriodicTimer> sweep_;  // the look for missed uploads, while started
};

}  // namespace

std::unique_ptr<Plugin> MakeTranscoder() { return std::make_unique<TranscoderPlugin>(); }

}  // namespace sg::plugins
