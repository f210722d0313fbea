// streamgate videos list|show|delete: the video catalogue, which the metadata plugin serves.
#include <iostream>
#include <memory>
#include <ostream>
#include <string>

#include <fmt/format.h>
#include <unistd.h>

#include "cli/commands/commands.h"
#include "cli/output.h"
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

}  // namespace

void AddVideoCommands(CLI::App& app, Context& context) {
  auto* group = app.add_subcommand("videos", "List, show and delete videos of the catalogue");
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
}

}  // namespace sg::cli
