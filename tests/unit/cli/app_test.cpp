// The CLI's command tree, and the drift test that keeps --help, the man page and the completion
// scripts naming the same commands and options.
#include "cli/app.h"

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

TEST_CASE("every command and option is in the man page and each completion script", "[cli][docs]") {
  CLI::App app;
  Context context;
  BuildApp(app, context);
  std::vector<std::string> commands;
  std::vector<std::string> options;
  Collect(app, "", commands, options);
  REQUIRE(commands.size() >= 3);

  const std::string man = test::ReadSourceFile("man/streamgate.1");
  for (const char* script :
       {"completions/streamgate.bash", "completions/_streamgate", "completions/streamgate.fish"}) {
    const std::string text = test::ReadSourceFile(script);
    REQUIRE_FALSE(text.empty());
    for (const auto& command : commands) {
      const std::string word = command.substr(command.rfind(' ') + 1);
      INFO(script << ": " << command);
      CHECK(text.find(word) != std::string::npos);
    }
    for (const auto& option : options) {
      if (option == "--help") continue;
      INFO(script << ": " << option);
      CHECK(text.find(option.substr(2)) != std::string::npos);
    }
  }
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
