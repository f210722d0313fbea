// streamgate jobs list|show|retry|cancel: the durable job queue, which the worker plugin serves.
#include <memory>
#include <ostream>
#include <string>

#include <fmt/format.h>

#include "cli/commands/commands.h"
#include "cli/output.h"

namespace sg::cli {
namespace {

struct JobArgs {
  std::string id;
  std::string state;
  std::string kind;
  int limit = 0;  // 0: the daemon's default
};

void List(Context& context, const JobArgs& args) {
  nlohmann::ordered_json request = nlohmann::ordered_json::object();
  if (!args.state.empty()) request["state"] = args.state;
  if (!args.kind.empty()) request["kind"] = args.kind;
  if (args.limit > 0) request["limit"] = args.limit;
  auto result = context.CallPlugin(control::Command::kJobsList, request);
  if (!result) return;
  if (context.json) {
    context.PrintJson(*result);
    return;
  }
  const auto jobs = result->value("jobs", nlohmann::ordered_json::array());
  if (jobs.empty()) {
    *context.out << "no jobs\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "KIND", "STATE", "ATTEMPTS", "PROGRESS", "UPDATED", "LAST ERROR"}};
  for (const auto& j : jobs) {
    rows.push_back({FieldText(j, "id"), FieldText(j, "kind"), FieldText(j, "state"),
                    FieldText(j, "attempts") + "/" + FieldText(j, "max_attempts"),
                    fmt::format("{:.0f}%", 100 * j.value("progress", 0.0)),
                    FieldText(j, "updated_at"), Shorten(FieldText(j, "last_error"), 60)});
  }
  PrintTable(*context.out, rows);
}

void Show(Context& context, const JobArgs& args) {
  auto result = context.CallPlugin(control::Command::kJobsShow, {{"id", args.id}});
  if (!result) return;
  if (context.json) {
    context.PrintJson(*result);
    return;
  }
  PrintFields(*context.out, result->value("job", nlohmann::ordered_json::object()));
}

void Change(Context& context, control::Command cmd, const JobArgs& args) {
  auto result = context.CallPlugin(cmd, {{"id", args.id}});
  if (!result) return;
  if (context.json) {
    context.PrintJson(*result);
    return;
  }
  const auto job = result->value("job", nlohmann::ordered_json::object());
  *context.out << "job " << FieldText(job, "id") << " (" << FieldText(job, "kind")
               << "): " << FieldText(job, "state") << '\n';
}

}  // namespace

void AddJobCommands(CLI::App& app, Context& context) {
  auto* group = app.add_subcommand("jobs", "List, show, retry and cancel jobs of the queue");
  group->require_subcommand(1);

  auto list_args = std::make_shared<JobArgs>();
  auto* list = group->add_subcommand("list", "Jobs, newest first");
  list->add_option("--state", list_args->state, "Only jobs in this state")
      ->check(CLI::IsMember({"queued", "running", "succeeded", "dead", "cancelled"}));
  list->add_option("--kind", list_args->kind, "Only jobs of this kind (transcode, gc-orphans...)");
  list->add_option("--limit", list_args->limit, "Most jobs to list (1 to 1000; default 100)")
      ->check(CLI::Range(1, 1000));
  list->callback([&context, list_args] { List(context, *list_args); });

  auto show_args = std::make_shared<JobArgs>();
  auto* show = group->add_subcommand("show", "One job, with its payload, attempts and lease");
  show->add_option("ID", show_args->id, "The job's id")->required();
  show->callback([&context, show_args] { Show(context, *show_args); });

  auto retry_args = std::make_shared<JobArgs>();
  auto* retry = group->add_subcommand("retry", "Queue a dead or cancelled job again");
  retry->add_option("ID", retry_args->id, "The job's id")->required();
  retry->callback(
      [&context, retry_args] { Change(context, control::Command::kJobsRetry, *retry_args); });

  auto cancel_args = std::make_shared<JobArgs>();
  auto* cancel = group->add_subcommand("cancel", "Cancel a queued or running job");
  cancel->add_option("ID", cancel_args->id, "The job's id")->required();
  cancel->callback(
      [&context, cancel_args] { Change(context, control::Command::kJobsCancel, *cancel_args); });
}

}  // namespace sg::cli
