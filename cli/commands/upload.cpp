// streamgate upload FILE: a resumable tus 1.0.0 upload to the daemon's /api/v1/uploads, which
// the upload plugin turns into a video of the catalogue. Ctrl-C, a kill or a network error leave
// a record in the state folder; the same command then resumes where the server is.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <thread>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands/commands.h"
#include "cli/output.h"
#include "cli/tus_client.h"
#include "cli/upload_options.h"
#include "cli/upload_progress.h"
#include "cli/upload_records.h"
#include "cli/video_watch.h"
#include "common/exit_codes.h"
#include "common/paths.h"

namespace sg::cli {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kMaxRetries = 6;          // network errors, 5xx, 423, 429 in a row
constexpr int kMaxChecksumRetries = 3;  // 460s for one chunk in a row
constexpr auto kMaxBackoff = 30s;

struct UploadArgs {
  std::string file;
  std::string title;
  std::string description;
  std::string visibility;
  bool wait = false;
  double wait_seconds = 3600;  // --timeout, with --wait
  std::string chunk_size = "8MiB";
  std::string limit_rate;
  std::string url;
  std::string token;  // --token, else $STREAMGATE_TOKEN, else the local operator's
  bool no_resume = false;
};

// Set by SIGINT and SIGTERM while an upload runs; the transfer and the waits check it.
volatile std::sig_atomic_t g_interrupted = 0;

void OnSignal(int /*signo*/) { g_interrupted = 1; }

bool Interrupted() { return g_interrupted != 0; }

// Catches SIGINT and SIGTERM for its lifetime, so that the upload can stop cleanly and say where.
class SignalGuard {
 public:
  SignalGuard() {
    g_interrupted = 0;
    struct sigaction action {};
    action.sa_handler = &OnSignal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~SignalGuard() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// Sleeps `delay` in short steps; false when interrupted first.
bool SleepFor(Clock::duration delay) {
  const auto until = Clock::now() + delay;
  while (Clock::now() < until) {
    if (Interrupted()) return false;
    std::this_thread::sleep_for(std::min<Clock::duration>(100ms, until - Clock::now()));
  }
  return !Interrupted();
}

// One run of `streamgate upload`.
class Upload {
 public:
  Upload(Context& context, const UploadArgs& args, TusClient& http)
      : context_(context), args_(args), http_(http) {}

  void Run();

 private:
  // Ends the run with `message` on stderr (and as a JSON event with --json) and `code`.
  void Stop(int code, const std::string& message) {
    if (progress_) progress_->Finish();
    if (context_.json) {
      Event({{"event", "error"}, {"message", message}, {"exit_code", code}});
    }
    *context_.err << "streamgate: " << message << '\n';
    context_.exit_code = code;
  }
  void Event(const nlohmann::ordered_json& event) const {
    *context_.out << event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n'
                  << std::flush;
  }
  // Says where the upload stopped and how to go on.
  // `offset`: where the server is, when known (nullopt before we asked it).
  void StopInterrupted(std::optional<uint64_t> offset) {
    if (progress_) progress_->Finish();
    if (context_.json) {
      Event({{"event", "interrupted"},
             {"bytes", offset ? nlohmann::ordered_json(*offset) : nlohmann::ordered_json()},
             {"total", size_}});
    }
    const std::string where = offset ? fmt::format(" at {} of {} ({:.0f}%)", HumanBytes(*offset),
                                                   HumanBytes(size_), Percent(*offset))
                                     : "";
    *context_.err << "streamgate: interrupted" << where
                  << "; run the same command again to resume\n";
    context_.exit_code = kExitInterrupted;
  }
  double Percent(uint64_t offset) const {
    return size_ == 0 ? 100.0 : 100.0 * static_cast<double>(offset) / static_cast<double>(size_);
  }

  bool OpenFile();
  bool FindBaseUrl();
  std::vector<std::string> TusHeaders() const {
    if (token_.empty()) return {"Tus-Resumable: 1.0.0"};
    return {"Tus-Resumable: 1.0.0", "Authorization: Bearer " + token_};
  }
  void FindToken();
  // The offset the server has for the remembered upload, or nullopt when it is gone (start
  // afresh). Sets `failed` when the run must end (already reported).
  std::optional<uint64_t> Resume(const std::string& upload_url, bool& failed);
  bool Create();
  bool SendChunks();
  // After a failed attempt: waits (honouring Retry-After) and asks the server for its offset.
  // False when the run must end (already reported).
  bool Recover(const std::string& why, const HttpReply* reply);
  bool Finish();
  void Wait();

  Context& context_;
  const UploadArgs& args_;
  TusClient& http_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t chunk_ = 0;
  std::string base_url_;
  std::string token_;
  std::string upload_url_;
  std::string video_id_;
  uint64_t offset_ = 0;
  uint64_t start_ = 0;
  int failures_ = 0;
  UploadFingerprint print_;
  std::unique_ptr<UploadRecords> records_;
  std::unique_ptr<UploadProgress> progress_;
  Clock::time_point started_ = Clock::now();
};

bool Upload::OpenFile() {
  fd_ = ::open(args_.file.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd_ < 0 || ::fstat(fd_, &st) != 0) {
    Stop(kExitNoInput, fmt::format("cannot read {}: {}; check the path and its permissions",
                                   args_.file, std::strerror(errno)));
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    Stop(kExitNoInput,
         fmt::format("{} is not a regular file; name a video file to upload", args_.file));
    return false;
  }
  size_ = static_cast<uint64_t>(st.st_size);
  std::error_code ec;
  print_.path = std::filesystem::canonical(args_.file, ec).string();
  if (ec) print_.path = std::filesystem::absolute(args_.file, ec).string();
  print_.size = size_;
  print_.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return true;
}

// The token that lets the upload write: --token, else $STREAMGATE_TOKEN, else, when the daemon
// is on this machine (no --url), the local operator's from the control socket. Without one the
// server says 401 and what to do, which is then reported as is.
void Upload::FindToken() {
  token_ = args_.token;
  if (token_.empty()) {
    if (const char* env = std::getenv("STREAMGATE_TOKEN"); env != nullptr) token_ = env;
  }
  if (!token_.empty() || !args_.url.empty()) return;
  auto issued = context_.TryCall(control::Command::kAuthToken, {{"scope", "videos:write"}});
  if (issued) token_ = issued->value("token", "");
}

bool Upload::FindBaseUrl() {
  if (!args_.url.empty()) {
    base_url_ = args_.url;
  } else {
    // The daemon's own word on where it listens: its status names the HTTP listener with the
    // port it bound. Context::Call reports a missing daemon (exit 3).
    auto status = context_.Call(control::Command::kStatus);
    if (!status) return false;
    const auto listeners = status->value("listeners", nlohmann::ordered_json::object());
    base_url_ = listeners.value("http", "");
    if (base_url_.empty()) {
      Stop(kExitFailure,
           "the daemon has no HTTP listener (is the api-gateway plugin running? 'streamgate "
           "plugins list' shows it); start it, or pass --url");
      return false;
    }
  }
  while (base_url_.ends_with("/")) base_url_.pop_back();
  if (!base_url_.starts_with("http://") && !base_url_.starts_with("https://")) {
    Stop(kExitUsage, fmt::format("--url '{}' is not an http:// or https:// URL; pass the daemon's "
                                 "base URL, such as http://127.0.0.1:8080",
                                 base_url_));
    return false;
  }
  print_.base_url = base_url_;
  return true;
}

std::optional<uint64_t> Upload::Resume(const std::string& upload_url, bool& failed) {
  failed = false;
  for (;;) {
    auto reply = http_.Send("HEAD", upload_url, TusHeaders());
    if (!reply && Interrupted()) {
      StopInterrupted(std::nullopt);
      failed = true;
      return std::nullopt;
    }
    const bool retry =
        !reply || reply->status >= 500 || reply->status == 423 || reply->status == 429;
    if (retry) {
      const std::string why = reply ? fmt::format("HTTP {}", reply->status) : reply.error().message;
      if (++failures_ > kMaxRetries) {
        Stop(reply ? kExitFailure : kExitUnreachable,
             fmt::format("cannot learn where upload {} stands: {}; run the same command again "
                         "later to resume",
                         upload_url, why));
        failed = true;
        return std::nullopt;
      }
      Clock::duration delay = std::min<Clock::duration>(
          kMaxBackoff, std::chrono::milliseconds(500LL << std::min(failures_ - 1, 8)));
      if (reply) {
        if (auto after = ParseSize(reply->Header("retry-after"))) {
          delay = std::chrono::seconds(std::min<uint64_t>(*after, 60));
        }
      }
      if (!SleepFor(delay)) {
        StopInterrupted(std::nullopt);
        failed = true;
        return std::nullopt;
      }
      continue;
    }
    failures_ = 0;
    if (reply->status == 404 || reply->status == 410 || reply->status == 403) {
      *context_.err << fmt::format(
          "streamgate: the earlier upload of this file ({}) is gone from the server (HTTP {}: "
          "expired or deleted); starting afresh\n",
          upload_url, reply->status);
      return std::nullopt;
    }
    const auto offset = ParseSize(reply->Header("upload-offset"));
    const auto length = ParseSize(reply->Header("upload-length"));
    if (reply->status / 100 != 2 || !offset || (length && *length != size_) || *offset > size_) {
      *context_.err << fmt::format(
          "streamgate: the earlier upload of this file ({}) does not match it (HTTP {}, "
          "Upload-Offset '{}', Upload-Length '{}'); starting afresh\n",
          upload_url, reply->status, reply->Header("upload-offset"),
          reply->Header("upload-length"));
      return std::nullopt;
    }
    return *offset;
  }
}

bool Upload::Create() {
  const std::string endpoint = base_url_ + "/api/v1/uploads";
  std::string metadata = "filename " +
                         Base64(std::filesystem::path(args_.file).filename().string()) +
                         ",filetype " + Base64(GuessFiletype(args_.file));
  if (!args_.title.empty()) metadata += ",title " + Base64(args_.title);
  if (!args_.description.empty()) metadata += ",description " + Base64(args_.description);
  if (!args_.visibility.empty()) metadata += ",visibility " + Base64(args_.visibility);
  auto headers = TusHeaders();
  headers.push_back(fmt::format("Upload-Length: {}", size_));
  headers.push_back("Upload-Metadata: " + metadata);
  for (;;) {
    auto reply = http_.Send("POST", endpoint, headers);
    if (!reply) {
      if (Interrupted()) {
        StopInterrupted(std::nullopt);
        return false;
      }
      // Nothing answered at all: retrying would not help a wrong URL or a stopped daemon.
      Stop(kExitUnreachable,
           fmt::format("cannot reach the daemon's HTTP listener: {}; is streamgated running "
                       "('streamgate status' shows its HTTP URL), or is --url right?",
                       reply.error().message));
      return false;
    }
    const long status = reply->status;
    if (status == 201) {
      const std::string location = reply->Header("location");
      if (location.empty()) {
        Stop(kExitFailure, fmt::format("POST {} answered 201 without a Location header; the "
                                       "server is not a tus server",
                                       endpoint));
        return false;
      }
      upload_url_ = ResolveUrl(endpoint, location);
      return true;
    }
    if (status == 413) {
      std::string max = reply->Header("tus-max-size");
      if (max.empty()) {
        // Not every server says it with the 413; OPTIONS does.
        auto options = http_.Send("OPTIONS", endpoint, TusHeaders());
        if (options) max = options->Header("tus-max-size");
      }
      const auto max_bytes = ParseSize(max);
      Stop(kExitFailure,
           fmt::format("{} is {} ({} bytes), larger than the server takes{}: raise upload.max_size "
                       "in the daemon's configuration (streamgate.yaml(5)) and run this again",
                       args_.file, HumanBytes(size_), size_,
                       max_bytes ? fmt::format(" (upload.max_size is {}, {} bytes)",
                                               HumanBytes(*max_bytes), *max_bytes)
                                 : ""));
      return false;
    }
    if (status == 404 || status == 405) {
      Stop(kExitFailure,
           fmt::format("no upload service at {} (HTTP {}); is the upload plugin running? "
                       "'streamgate plugins list' shows it",
                       endpoint, status));
      return false;
    }
    if (status == 412) {
      Stop(kExitFailure, fmt::format("the server at {} does not speak tus 1.0.0 (it offers '{}')",
                                     endpoint, reply->Header("tus-version")));
      return false;
    }
    if (status >= 500 || status == 423 || status == 429) {
      if (!Recover(fmt::format("POST {}: {}", endpoint, reply->Problem()), &*reply)) {
        return false;
      }
      continue;
    }
    Stop(kExitFailure,
         fmt::format("the server refused to create the upload: {}", reply->Problem()));
    return false;
  }
}

bool Upload::Recover(const std::string& why, const HttpReply* reply) {
  if (++failures_ > kMaxRetries) {
    Stop(kExitFailure,
         fmt::format("giving up after {} attempts at {} of {}: {}; run the same command again "
                     "to resume",
                     kMaxRetries + 1, HumanBytes(offset_), HumanBytes(size_), why));
    return false;
  }
  // 0.5, 1, 2, ... 30 s; a Retry-After in seconds wins (capped at a minute). A 423 is most
  // often our own last PATCH, whose lock the server has not let go of yet (an aborted one, or
  // one it answered a moment before releasing): 0.1 s first, and not worth a line on the
  // terminal the first time.
  const bool locked = reply != nullptr && reply->status == 423;
  auto delay = std::min<Clock::duration>(
      kMaxBackoff,
      std::chrono::milliseconds((locked ? 100LL : 500LL) << std::min(failures_ - 1, 8)));
  if (reply != nullptr) {
    if (auto after = ParseSize(reply->Header("retry-after"))) {
      delay = std::chrono::seconds(std::min<uint64_t>(*after, 60));
    }
  }
  if (context_.json) {
    Event({{"event", "retry"},
           {"message", why},
           {"attempt", failures_},
           {"delay", std::chrono::duration<double>(delay).count()}});
  } else if (!(locked && failures_ == 1)) {
    if (progress_) progress_->Finish();
    *context_.err << fmt::format("streamgate: {}; retrying in {:.1f}s ({} of {})\n", why,
                                 std::chrono::duration<double>(delay).count(), failures_,
                                 kMaxRetries);
  }
  if (!SleepFor(delay)) {
    StopInterrupted(offset_);
    return false;
  }
  return true;
}

bool Upload::SendChunks() {
  std::string chunk;
  int checksum_failures = 0;
  bool relearn = false;  // ask the server for its offset before the next chunk
  while (offset_ < size_ || relearn) {
    if (Interrupted()) {
      StopInterrupted(offset_);
      return false;
    }
    if (relearn) {
      auto head = http_.Send("HEAD", upload_url_, TusHeaders());
      if (!head) {
        if (Interrupted()) {
          StopInterrupted(offset_);
          return false;
        }
        if (!Recover(head.error().message, nullptr)) return false;
        continue;
      }
      if (head->status == 404 || head->status == 410) {
        (void)records_->Remove(print_);
        Stop(kExitFailure, fmt::format("the upload {} is gone from the server (HTTP {}: expired "
                                       "or deleted); run the same command again to start afresh",
                                       upload_url_, head->status));
        return false;
      }
      const auto offset = ParseSize(head->Header("upload-offset"));
      if (head->status / 100 != 2 || !offset) {
        if (!Recover(fmt::format("HEAD {}: {}", upload_url_, head->Problem()), &*head)) {
          return false;
        }
        continue;
      }
      offset_ = std::min(*offset, size_);
      relearn = false;
      continue;
    }
    const uint64_t n = std::min(chunk_, size_ - offset_);
    chunk.resize(n);
    size_t got = 0;
    while (got < n) {
      const ssize_t r =
          ::pread(fd_, chunk.data() + got, n - got, static_cast<off_t>(offset_ + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        Stop(kExitNoInput,
             fmt::format("cannot read {} at byte {}: {}; run the same command again to resume",
                         args_.file, offset_ + got,
                         r == 0 ? "the file shrank" : std::strerror(errno)));
        return false;
      }
      got += static_cast<size_t>(r);
    }
    auto headers = TusHeaders();
    headers.push_back("Content-Type: application/offset+octet-stream");
    headers.push_back(fmt::format("Upload-Offset: {}", offset_));
    headers.push_back("Upload-Checksum: " + Sha1Checksum(chunk));
    const uint64_t base = offset_;
    http_.SetProgress([this, base](uint64_t sent) {
      if (Interrupted()) return false;
      progress_->Update(base + sent);
      return true;
    });
    auto reply = http_.Send("PATCH", upload_url_, headers, chunk);
    http_.SetProgress(nullptr);
    if (!reply) {
      if (Interrupted()) {
        StopInterrupted(offset_);
        return false;
      }
      if (!Recover(reply.error().message, nullptr)) return false;
      relearn = true;
      continue;
    }
    const long status = reply->status;
    if (status == 204 || status == 200) {
      const auto offset = ParseSize(reply->Header("upload-offset"));
      offset_ = std::min(offset ? *offset : offset_ + n, size_);
      failures_ = 0;
      checksum_failures = 0;
      progress_->Update(offset_, Clock::now(), true);
      continue;
    }
    if (status == 460) {
      if (++checksum_failures > kMaxChecksumRetries) {
        Stop(kExitFailure,
             fmt::format("the server refused the chunk at byte {} {} times as corrupt ({}); "
                         "something between here and the server changes the "
                         "bytes; run the same command again to resume",
                         offset_, checksum_failures, reply->Problem()));
        return false;
      }
      if (!context_.json) {
        progress_->Finish();
        *context_.err << fmt::format(
            "streamgate: the server found the chunk at byte {} corrupt ({}); sending it again\n",
            offset_, reply->Problem());
      }
      continue;  // the server dropped the chunk: send it again
    }
    if (status == 404 || status == 410) {
      (void)records_->Remove(print_);
      Stop(kExitFailure, fmt::format("the upload {} is gone from the server (HTTP {}: expired or "
                                     "deleted); run the same command again to start afresh",
                                     upload_url_, status));
      return false;
    }
    if (status == 413) {
      Stop(kExitFailure, fmt::format("the server refused the chunk at byte {}: {}; "
                                     "raise upload.max_size or use a smaller --chunk-size",
                                     offset_, reply->Problem()));
      return false;
    }
    if (status == 409 || status >= 500 || status == 423 || status == 429) {
      if (!Recover(fmt::format("PATCH at byte {}: {}", offset_, reply->Problem()), &*reply)) {
        return false;
      }
      relearn = true;
      continue;
    }
    Stop(kExitFailure,
         fmt::format("the server refused the chunk at byte {}: {}", offset_, reply->Problem()));
    return false;
  }
  return true;
}

bool Upload::Finish() {
  progress_->Update(size_, Clock::now(), true);
  progress_->Finish();
  if (auto removed = records_->Remove(print_); !removed) {
    *context_.err << "streamgate: warning: " << removed.error().message << '\n';
  }
  const std::string video_url = base_url_ + "/api/v1/videos/" + video_id_;
  if (context_.json) {
    Event({{"event", "done"}, {"video", video_id_}, {"url", video_url}, {"bytes", size_}});
  } else {
    const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    *context_.out << fmt::format("video {} uploaded ({} in {:.1f}s)\n{}\n", video_id_,
                                 HumanBytes(size_ - start_), seconds, video_url);
  }
  context_.exit_code = kExitOk;
  return true;
}

void Upload::Wait() {
  // The video's events as they come (progress included), or its record every second from a
  // daemon without them: the same code as `streamgate videos watch`.
  WatchOptions watch;
  watch.base_url = base_url_;
  watch.video = video_id_;
  watch.timeout_seconds = args_.wait_seconds;
  watch.json = context_.json;
  watch.terminal = isatty(STDERR_FILENO) != 0;
  watch.interrupted = &Interrupted;
  watch.timeout_hint = fmt::format(
      "'streamgate videos show {}' shows its state, 'streamgate videos watch {}' "
      "follows it again",
      video_id_, video_id_);
  const WatchOutcome outcome = WatchVideo(watch, *context_.out, *context_.err);
  if (outcome.exit_code != kExitOk) Stop(outcome.exit_code, outcome.message);
}

void Upload::Run() {
  const auto chunk = ParseSize(args_.chunk_size);
  if (!chunk || *chunk < 1024 || *chunk > (uint64_t{1} << 30)) {
    Stop(kExitUsage, fmt::format("--chunk-size '{}' is not a size from 1KiB to 1GiB, such as 8MiB",
                                 args_.chunk_size));
    return;
  }
  chunk_ = *chunk;
  if (!args_.limit_rate.empty()) {
    const auto rate = ParseSize(args_.limit_rate);
    if (!rate || *rate == 0) {
      Stop(kExitUsage, fmt::format("--limit-rate '{}' is not a rate in bytes a second, such as "
                                   "10M",
                                   args_.limit_rate));
      return;
    }
    http_.LimitRate(*rate);
  }
  if (!OpenFile() || !FindBaseUrl()) return;
  FindToken();
  records_ = std::make_unique<UploadRecords>(StateDir() + "/uploads.json");

  bool resumed = false;
  if (auto remembered = records_->Find(print_)) {
    if (args_.no_resume) {
      // Best effort: the server would expire it anyway.
      (void)http_.Send("DELETE", *remembered, TusHeaders());
      (void)records_->Remove(print_);
    } else {
      bool failed = false;
      const auto offset = Resume(*remembered, failed);
      if (failed) return;
      if (offset) {
        upload_url_ = *remembered;
        offset_ = *offset;
        resumed = true;
      } else {
        (void)records_->Remove(print_);
      }
    }
  }
  if (!resumed) {
    if (!Create()) return;
    if (auto put = records_->Put(print_, upload_url_); !put) {
      *context_.err << "streamgate: warning: " << put.error().message
                    << "; this upload cannot be resumed if it stops\n";
    }
  }
  start_ = offset_;
  video_id_ = upload_url_.substr(upload_url_.rfind('/') + 1);
  video_id_ = video_id_.substr(0, video_id_.find('?'));

  if (context_.json) {
    Event({{"event", "start"},
           {"file", args_.file},
           {"upload", upload_url_},
           {"video", video_id_},
           {"offset", offset_},
           {"total", size_},
           {"resumed", resumed}});
  } else if (resumed) {
    *context_.err << fmt::format("resuming {} at {} of {} ({:.0f}%): {}\n", args_.file,
                                 HumanBytes(offset_), HumanBytes(size_), Percent(offset_),
                                 upload_url_);
  } else {
    *context_.err << fmt::format("uploading {} ({}) to {}\n", args_.file, HumanBytes(size_),
                                 upload_url_);
  }
  const auto mode = context_.json                ? UploadProgress::Mode::kJson
                    : isatty(STDERR_FILENO) != 0 ? UploadProgress::Mode::kTerminal
                                                 : UploadProgress::Mode::kLines;
  progress_ = std::make_unique<UploadProgress>(context_.json ? *context_.out : *context_.err, mode,
                                               size_, offset_);
  progress_->Update(offset_, Clock::now(), true);
  if (!SendChunks() || !Finish()) return;
  if (args_.wait) Wait();
}

void RunUpload(Context& context, const UploadArgs& args) {
  auto http = TusClient::Create();
  if (!http) {
    context.Report(http.error());
    return;
  }
  SignalGuard signals;
  Upload upload(context, args, **http);
  upload.Run();
}

}  // namespace

void AddUploadCommand(CLI::App& app, Context& context) {
  auto args = std::make_shared<UploadArgs>();
  auto* cmd = app.add_subcommand(
      "upload", "Upload a video file (tus, resumable: run the same command again to resume)");
  cmd->add_option("FILE", args->file, "The file to upload")->required();
  cmd->add_option("--title", args->title, "The video's title");
  cmd->add_option("--description", args->description, "The video's description");
  cmd->add_option("--visibility", args->visibility, "Who may see it (default: the server's)")
      ->check(CLI::IsMember({"public", "unlisted", "private", "gated"}));
  cmd->add_flag("--wait", args->wait, "Then wait until the video is ready or failed");
  cmd->add_option("--timeout", args->wait_seconds, "With --wait, seconds to wait (default 3600)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--chunk-size", args->chunk_size, "Bytes per PATCH request (default 8MiB)");
  cmd->add_option("--limit-rate", args->limit_rate,
                  "Send at most this many bytes a second (10M); default no limit");
  cmd->add_option("--token", args->token,
                  "Bearer token for the upload (default: $STREAMGATE_TOKEN, else the local "
                  "operator's from the daemon)");
  cmd->add_option("--url", args->url,
                  "The daemon's HTTP base URL (default: the listener its status names)");
  cmd->add_flag("--no-resume", args->no_resume,
                "Start afresh even if an earlier upload of this file can be resumed");
  cmd->callback([&context, args] { RunUpload(context, *args); });
}

}  // namespace sg::cli
