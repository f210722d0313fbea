// The CLI's command tree, and the drift tests that keep --help and the man page naming the same
// commands and options (completions_test.cpp does the completion scripts).
#include "cli/app.h"

#include <map>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "common/exit_codes.h"
#include "tests/support/files.h"

namespace sg::cli {
namespace {

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome RunCli(std::vector<std::string> args) {
  args.insert(args.begin(), "streamgate");
  std::vector<const char*> argv;
  argv.reserve(args.size());
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out;
  std::ostringstream err;
  const int code = Run(static_cast<int>(argv.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

// Every subcommand path ("config validate") and every long option name, walking the CLI11 tree.
void Collect(const CLI::App& app, const std::string& prefix, std::vector<std::string>& commands,
             std::vector<std::string>& options) {
  for (const CLI::Option* opt : app.get_options()) {
    for (const auto& name : opt->get_lnames()) options.push_back("--" + name);
  }
  for (const CLI::App* sub : app.get_subcommands({})) {
    const std::string path = prefix.empty() ? sub->get_name() : prefix + " " + sub->get_name();
    commands.push_back(path);
    Collect(*sub, path, commands, options);
  }
}

// The SYNOPSIS of streamgate(1): each `.Nm` starts a usage line, its `.Cm` words name the
// command ("" for the global options) and each `Fl` an option, as "-c" or "--config".
std::map<std::string, std::set<std::string>> ManSynopsis(const std::string& page) {
  std::map<std::string, std::set<std::string>> out;
  std::istringstream in(page);
  std::string line;
  while (std::getline(in, line) && line != ".Sh SYNOPSIS") {
  }
  std::string command;
  while (std::getline(in, line) && !line.starts_with(".Sh")) {
    std::istringstream words(line);
    std::string macro;
    words >> macro;
    if (macro == ".Nm") {
      command.clear();
      continue;
    }
    if (macro == ".Cm") {
      command.clear();
      for (std::string w; words >> w;) command += (command.empty() ? "" : " ") + w;
      out[command];
      continue;
    }
    // Options: the word after each Fl, and after a | that follows such a word.
    bool expect = macro == ".Fl";
    bool after_flag = false;
    for (std::string w; words >> w;) {
      if (w == "Fl") {
        expect = true;
      } else if (w == "|") {
        expect = after_flag;
        after_flag = false;
      } else if (expect) {
        out[command].insert("-" + w);
        expect = false;
        after_flag = true;
      } else {
        after_flag = false;
      }
    }
  }
  return out;
}

// The same from the CLI11 app: each command that has no subcommands, with its options (--help
// aside, which the synopsis gives once for all).
void Usages(const CLI::App& app, const std::string& path,
            std::map<std::string, std::set<std::string>>& out) {
  std::set<std::string>& options = out[path];
  for (const CLI::Option* opt : app.get_options()) {
    for (const auto& name : opt->get_lnames()) {
      if (name != "help") options.insert("--" + name);
    }
    for (const auto& name : opt->get_snames()) {
      if (name != "h") options.insert("-" + name);
    }
  }
  const auto subs = app.get_subcommands({});
  if (!path.empty() && !subs.empty()) out.erase(path);
  for (const CLI::App* sub : subs) {
    Usages(*sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), out);
  }
}

}  // namespace

TEST_CASE("an unknown command or option exits 2 with CLI11's message", "[cli]") {
  const Outcome unknown = RunCli({"frobnicate"});
  CHECK(unknown.code == kExitUsage);
  CHECK_THAT(unknown.err, Catch::Contains("frobnicate"));

  CHECK(RunCli({"config", "validate", "--bogus"}).code == kExitUsage);
  CHECK(RunCli({}).code == kExitUsage);
}

TEST_CASE("--help works at every level and exits 0", "[cli]") {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--help"},
                                                                {"config", "--help"},
                                                                {"config", "validate", "--help"},
                                                                {"version", "--help"}}) {
    const Outcome o = RunCli(args);
    CHECK(o.code == kExitOk);
    CHECK_THAT(o.out, Catch::Contains("Usage"));
  }
}

TEST_CASE("version --json has the documented keys", "[cli]") {
  const Outcome o = RunCli({"version", "--json"});

  REQUIRE(o.code == kExitOk);
  const auto j = nlohmann::json::parse(o.out);
  for (const char* key : {"version", "commit", "build_type", "compiler", "libraries"}) {
    CHECK(j.contains(key));
  }
  CHECK(j["libraries"].contains("libzmq"));
}

TEST_CASE("every command and option is in the man page", "[cli][docs]") {
  CLI::App app;
  Context context;
  BuildApp(app, context);
  std::vector<std::string> commands;
  std::vector<std::string> options;
  Collect(app, "", commands, options);
  REQUIRE(commands.size() >= 3);

  const std::string man = test::ReadSourceFile("man/streamgate.1");
  for (const auto& command : commands) {
    INFO("man/streamgate.1: " << command);
    CHECK(man.find(command.substr(command.rfind(' ') + 1)) != std::string::npos);
  }
  for (const auto& option : options) {
    INFO("man/streamgate.1: " << option);
    CHECK(man.find(option.substr(2)) != std::string::npos);
  }
}

}  // namespace sg::cli

namespace sg::cli {

TEST_CASE("streamgate(1)'s synopsis has every command with its options, and no others",
          "[cli][docs]") {
  CLI::App app;
  Context context;
  BuildApp(app, context);
  std::map<std::string, std::set<std::string>> from_app;
  Usages(app, "", from_app);

  auto from_man = ManSynopsis(test::ReadSourceFile("man/streamgate.1"));

  for (const auto& [command, options] : from_app) {
    INFO("streamgate(1) SYNOPSIS: " << (command.empty() ? "global options" : command));
    REQUIRE(from_man.contains(command));
    for (const auto& option : options) {
      INFO("option " << option << " is in the CLI but not in the synopsis");
      CHECK(from_man[command].contains(option));
    }
    for (const auto& option : from_man[command]) {
      INFO("option " << option << " is in the synopsis but not in the CLI");
      CHECK((options.contains(option) || option == "-h" || option == "--help"));
    }
  }
  for (const auto& [command, options] : from_man) {
    INFO("streamgate(1) SYNOPSIS names '" << command << "', which the CLI lacks");
    CHECK(from_app.contains(command));
  }
}

}  // namespace sg::cli

namespace sg::cli {

// Run builds only the group of the command argv names: each command must come out the same as
// in the whole tree, and every global option that takes a value must be one CommandWord skips.
TEST_CASE("the command a partial build makes is the one the whole tree has", "[cli]") {
  CLI::App whole;
  Context whole_context;
  BuildApp(whole, whole_context);
  const auto commands = whole.get_subcommands({});
  REQUIRE(commands.size() >= 12);
  for (const CLI::App* command : commands) {
    INFO("streamgate " << command->get_name());
    CLI::App partial;
    Context context;
    BuildApp(partial, context, command->get_name());
    const CLI::App* built = nullptr;
    for (const CLI::App* sub : partial.get_subcommands({})) {
      if (sub->get_name() == command->get_name()) built = sub;
    }
    REQUIRE(built != nullptr);
    CHECK(built->help() == command->help());
    CHECK(partial.get_subcommands({}).size() < commands.size());
  }
}

TEST_CASE("CommandWord skips every global option and its value", "[cli]") {
  CLI::App whole;
  Context context;
  BuildApp(whole, context);
  auto word = [](std::vector<const char*> args) {
    args.insert(args.begin(), "streamgate");
    return std::string(CommandWord(static_cast<int>(args.size()), args.data()));
  };
  for (const CLI::Option* option : whole.get_options()) {
    if (option->get_items_expected_max() == 0) continue;  // a flag
    for (const std::string& name : option->get_lnames()) {
      const std::string flag = "--" + name;
      INFO(flag);
      CHECK(word({flag.c_str(), "upload", "health", "--json"}) == "health");
    }
    for (const std::string& name : option->get_snames()) {
      const std::string flag = "-" + name;
      INFO(flag);
      CHECK(word({flag.c_str(), "upload", "health"}) == "health");
    }
  }
  CHECK(word({"--json", "status"}) == "status");
  CHECK(word({"--timeout=3", "jobs", "list"}) == "jobs");
  CHECK(word({"--", "status"}).empty());
  CHECK(word({"--json"}).empty());
}

}  // namespace sg::cli
