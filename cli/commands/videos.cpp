// streamgate videos list|show|watch|delete: the video catalogue, which the metadata plugin serves.
#include <csignal>
#include <iostream>
#include <memory>
#include <ostream>
#include <string>

#include <fmt/format.h>
#include <unistd.h>

#include "cli/commands/commands.h"
#include "cli/output.h"
#include "cli/video_watch.h"
#include "common/exit_codes.h"

namespace sg::cli {
namespace {

struct VideoArgs {
  std::string id;
  std::string state;
  std::string owner;
  int limit = 0;  // 0: the daemon's default
  std::string cursor;
  bool yes = false;
  double wait_seconds = 3600;  // watch --timeout
  std::string url;             // watch --url
};

// Set by SIGINT and SIGTERM while `videos watch` runs.
volatile std::sig_atomic_t g_watch_interrupted = 0;

void OnWatchSignal(int /*signo*/) { g_watch_interrupted = 1; }

bool WatchInterrupted() { return g_watch_interrupted != 0; }

// Catches SIGINT and SIGTERM for its lifetime, so that a watch ends with 130 and a word.
class WatchSignals {
 public:
  WatchSignals() {
    g_watch_interrupted = 0;
    struct sigaction action {};
    action.sa_handler = &OnWatchSignal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~WatchSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  WatchSignals(const WatchSignals&) = delete;
  WatchSignals& operator=(const WatchSignals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

void List(Context& context, const VideoArgs& args) {
  nlohmann::ordered_json request = nlohmann::ordered_json::object();
  if (!args.state.empty()) request["state"] = args.state;
  if (!args.owner.empty()) request["owner"] = args.owner;
  if (args.limit > 0) request["limit"] = args.limit;
  if (!args.cursor.empty()) request["cursor"] = args.cursor;
  auto result = context.CallPlugin(control::Command::kVideosList, request);
  if (!result) return;
  if (context.json) {
    context.PrintJson(*result);
    return;
  }
  const auto videos = result->value("videos", nlohmann::ordered_json::array());
  if (videos.empty()) {
    *context.out << "no videos\n";
  } else {
    std::vector<std::vector<std::string>> rows = {
        {"ID", "STATE", "VISIBILITY", "OWNER", "DURATION", "CREATED", "TITLE"}};
    for (const auto& v : videos) {
      const double seconds = v.value("duration", 0.0);
      rows.push_back({FieldText(v, "id"), FieldText(v, "state"), FieldText(v, "visibility"),
                      Shorten(FieldText(v, "owner"), 24),
                      seconds > 0 ? HumanDuration(static_cast<int64_t>(seconds)) : "-",
                      FieldText(v, "created_at"), Shorten(FieldText(v, "title"), 48)});
    }
    PrintTable(*context.out, rows);
  }
  const std::string next = FieldText(*result, "next_cursor");
  if (next != "-") *context.out << "more: streamgate videos list --cursor " << next << '\n';
}

void Show(Context& context, const VideoArgs& args) {
  auto result = context.CallPlugin(control::Command::kVideosShow, {{"id", args.id}});
  if (!result) return;
  if (context.json) {
    context.PrintJson(*result);
    return;
  }
  PrintFields(*context.out, result->value("video", nlohmann::ordered_json::object()));
}

// Asks on the terminal; anything but y or yes is a no.
bool Confirm(Context& context, const std::string& id) {
  *context.err << "Delete video " << id << "? Its storage objects are then deleted. "
               << "[y/N] " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

void Delete(Context& context, const VideoArgs& args) {
  if (!args.yes) {
    if (isatty(STDIN_FILENO) == 0) {
      *context.err << "streamgate: videos delete: not on a terminal, so cannot ask; pass --yes to "
                      "delete video "
                   << args.id << '\n';
      context.exit_code = kExitUsage;
      return;
    }
    if (!Confirm(context, args.id)) {
      *context.err << "streamgate: not deleted\n";
      context.exit_code = kExitFailure;
      return;
    }
  }
  auto result = context.CallPlugin(control::Command::kVideosDelete, {{"id", args.id}});
  if (!result) return;
  if (context.json) {
    context.PrintJson(*result);
    return;
  }
  const auto video = result->value("video", nlohmann::ordered_json::object());
  *context.out << "video " << FieldText(video, "id")
               << (result->value("already_deleted", false) ? " was already deleted\n"
                                                           : " deleted\n");
}

void Watch(Context& context, const VideoArgs& args) {
  WatchOptions watch;
  watch.base_url = args.url;
  if (watch.base_url.empty()) {
    // The daemon's own word on where it listens, as for `streamgate upload`.
    auto status = context.Call(control::Command::kStatus);
    if (!status) return;
    watch.base_url = status->value("listeners", nlohmann::ordered_json::object()).value("http", "");
    if (watch.base_url.empty()) {
      *context.err << "streamgate: the daemon has no HTTP listener (is the api-gateway plugin "
                      "running? 'streamgate plugins list' shows it); start it, or pass --url\n";
      context.exit_code = kExitFailure;
      return;
    }
  }
  while (watch.base_url.ends_with("/")) watch.base_url.pop_back();
  if (!watch.base_url.starts_with("http://") && !watch.base_url.starts_with("https://")) {
    *context.err << fmt::format(
        "streamgate: --url '{}' is not an http:// or https:// URL; pass the daemon's base URL, "
        "such as http://127.0.0.1:8080\n",
        watch.base_url);
    context.exit_code = kExitUsage;
    return;
  }
  watch.video = args.id;
  watch.timeout_seconds = args.wait_seconds;
  watch.json = context.json;
  watch.terminal = isatty(STDERR_FILENO) != 0;
  watch.timeout_hint = fmt::format(
      "run 'streamgate videos watch {}' again, with a longer --timeout if need be", args.id);
  WatchSignals signals;
  watch.interrupted = &WatchInterrupted;
  const WatchOutcome outcome = WatchVideo(watch, *context.out, *context.err);
  context.exit_code = outcome.exit_code;
  if (outcome.exit_code == kExitOk) return;
  if (context.json) {
    // One object a line, as the events before it.
    const nlohmann::ordered_json error = {
        {"event", "error"}, {"message", outcome.message}, {"exit_code", outcome.exit_code}};
    *context.out << error.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n'
                 << std::flush;
  }
  *context.err << "streamgate: " << outcome.message << '\n';
}

}  // namespace

void AddVideoCommands(CLI::App& app, Context& context) {
  auto* group =
      app.add_subcommand("videos", "List, show, watch and delete videos of the catalogue");
  group->require_subcommand(1);

  auto list_args = std::make_shared<VideoArgs>();
  auto* list = group->add_subcommand("list", "A page of videos, newest first");
  list->add_option("--state", list_args->state, "Only videos in this state")
      ->check(CLI::IsMember(
          {"uploading", "uploaded", "queued", "processing", "ready", "failed", "deleted"}));
  list->add_option("--owner", list_args->owner, "Only this owner's videos");
  list->add_option("--limit", list_args->limit, "Videos on the page (1 to 200; default 20)")
      ->check(CLI::Range(1, 200));
  list->add_option("--cursor", list_args->cursor,
                   "Where the page starts: the cursor the previous page ended with");
  list->callback([&context, list_args] { List(context, *list_args); });

  auto show_args = std::make_shared<VideoArgs>();
  auto* show = group->add_subcommand("show", "One video's record");
  show->add_option("ID", show_args->id, "The video's id")->required();
  show->callback([&context, show_args] { Show(context, *show_args); });

  auto delete_args = std::make_shared<VideoArgs>();
  auto* del = group->add_subcommand("delete",
                                    "Mark a video deleted; a job then deletes its storage objects");
  del->add_option("ID", delete_args->id, "The video's id")->required();
  del->add_flag("-y,--yes", delete_args->yes, "Do not ask for confirmation");
  del->callback([&context, delete_args] { Delete(context, *delete_args); });

  auto watch_args = std::make_shared<VideoArgs>();
  auto* watch = group->add_subcommand(
      "watch", "Follow a video's state and transcoding progress until it is ready or failed");
  watch->add_option("ID", watch_args->id, "The video's id")->required();
  watch->add_option("--timeout", watch_args->wait_seconds, "Seconds to wait (default 3600)")
      ->check(CLI::PositiveNumber);
  watch->add_option("--url", watch_args->url,
                    "The daemon's HTTP base URL (default: the listener its status names)");
  watch->callback([&context, watch_args] { Watch(context, *watch_args); });
}

}  // namespace sg::cli
