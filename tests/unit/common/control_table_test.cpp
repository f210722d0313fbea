// Keeps the control command table, streamgate-control(7) and the CLI in step, entry by entry:
// the man page lists every command of the table, in its order, each with a paragraph that names
// its arguments, and says which commands change the daemon's state; the CLI never retypes a verb.
// (That every command has a handler is checked when the daemon compiles:
// daemon/control/handlers.cpp.)
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/control_protocol.h"
#include "tests/support/files.h"

namespace sg::control {
namespace {

// A command's entry in the man page: the lines of its paragraph, from `.It Cm NAME` to the next
// item of the same list.
struct ManEntry {
  std::string name;
  std::vector<std::string> lines;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The section COMMANDS of streamgate-control(7): its command list is the `.Bl` that follows the
// sentence "The commands, in the order of the daemon's command table."; each `.It Cm` at that
// list's own depth is one command. Also returns the commands the sentence before the list names
// as changing the daemon's state.
struct ManCommands {
  std::vector<ManEntry> entries;
  std::vector<std::string> mutating;
  std::string problem;  // the page has not the shape this test reads
};

ManCommands ReadManCommands(const std::string& page) {
  ManCommands out;
  const auto lines = Lines(page);
  size_t i = 0;
  while (i < lines.size() && lines[i] != ".Sh COMMANDS") ++i;
  while (i < lines.size() &&
         lines[i].find("in the order of the daemon's command table") == std::string::npos) {
    ++i;
  }
  if (i == lines.size()) {
    out.problem = "no sentence \"in the order of the daemon's command table\" under .Sh COMMANDS";
    return out;
  }
  // "Those that change the daemon's state are .Cm a , .Cm b ... and .Cm z ." up to the list.
  for (++i; i < lines.size() && !lines[i].starts_with(".Bl"); ++i) {
    if (lines[i].starts_with(".Cm ")) {
      std::istringstream words(lines[i].substr(4));
      std::string name;
      words >> name;
      out.mutating.push_back(name);
    }
  }
  int depth = 0;
  for (; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.starts_with(".Bl")) {
      ++depth;
    } else if (line.starts_with(".El")) {
      if (--depth == 0) return out;
    } else if (depth == 1 && line.starts_with(".It Cm ")) {
      out.entries.push_back({line.substr(7), {}});
      continue;
    }
    if (!out.entries.empty()) out.entries.back().lines.push_back(line);
  }
  out.problem = "the command list under .Sh COMMANDS does not end";
  return out;
}

// The argument names of a table entry: "names (list of strings), cascade (bool)" -> names, cascade.
std::vector<std::string> ArgNames(std::string_view args) {
  std::vector<std::string> names;
  if (args == "none") return names;
  size_t depth = 0;
  std::string word;
  bool in_name = true;
  for (char c : args) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && c == ',') {
      in_name = true;
      continue;
    }
    if (in_name && c == ' ' && !word.empty()) {
      names.push_back(word);
      word.clear();
      in_name = false;
    } else if (in_name && c != ' ') {
      word += c;
    }
  }
  if (!word.empty()) names.push_back(word);
  return names;
}

bool HasLine(const std::vector<std::string>& lines, const std::string& wanted) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
    return l == wanted || l.starts_with(wanted + " ");
  });
}

}  // namespace

TEST_CASE("argument summaries of the table are read as names", "[control][docs]") {
  CHECK(ArgNames("none").empty());
  CHECK(ArgNames("names (list of strings), cascade (bool)") ==
        std::vector<std::string>{"names", "cascade"});
  CHECK(ArgNames("level (string), component (string, optional)") ==
        std::vector<std::string>{"level", "component"});
}

TEST_CASE("streamgate-control(7) lists every command of the table, in its order",
          "[control][docs]") {
  const ManCommands man = ReadManCommands(test::ReadSourceFile("man/streamgate-control.7"));
  REQUIRE(man.problem.empty());

  std::vector<std::string> in_man;
  for (const auto& e : man.entries) in_man.push_back(e.name);
  std::vector<std::string> in_table;
  for (const auto& c : Commands()) in_table.emplace_back(c.name);
  for (const auto& name : in_table) {
    INFO("command '" << name << "' of the table has no .It Cm paragraph in streamgate-control(7)");
    CHECK(std::count(in_man.begin(), in_man.end(), name) == 1);
  }
  for (const auto& name : in_man) {
    INFO("streamgate-control(7) describes '" << name << "', which the command table lacks");
    CHECK(std::count(in_table.begin(), in_table.end(), name) == 1);
  }
  CHECK(in_man == in_table);
}

TEST_CASE("each command's man paragraph names the table's arguments", "[control][docs]") {
  const ManCommands man = ReadManCommands(test::ReadSourceFile("man/streamgate-control.7"));
  REQUIRE(man.problem.empty());

  for (const auto& entry : man.entries) {
    const CommandSpec* spec = FindCommand(entry.name);
    if (spec == nullptr) continue;  // reported by the test above
    const auto args = ArgNames(spec->args);
    INFO("streamgate-control(7), " << entry.name << ": the table's arguments are \"" << spec->args
                                   << "\"");
    CHECK(HasLine(entry.lines, "No arguments.") == args.empty());
    for (const auto& arg : args) {
      INFO("argument '" << arg << "' is not named as .Cm " << arg);
      CHECK(HasLine(entry.lines, ".Cm " + arg));
    }
  }
}

TEST_CASE("streamgate-control(7) names the commands that change state as the table does",
          "[control][docs]") {
  const ManCommands man = ReadManCommands(test::ReadSourceFile("man/streamgate-control.7"));
  REQUIRE(man.problem.empty());

  std::vector<std::string> in_table;
  for (const auto& c : Commands()) {
    if (c.mutates) in_table.emplace_back(c.name);
  }
  CHECK(man.mutating == in_table);
}

TEST_CASE("the CLI names control commands by their table id, never by a literal",
          "[control][cli]") {
  // Context::Call and ControlClient::Call take a control::Command, so a call by literal does not
  // compile; this catches a verb retyped elsewhere (a hand-made Request, a wire name compared).
  // Only dotted names are looked for: "status" or "health" are also CLI verbs and JSON keys.
  const std::filesystem::path root = std::filesystem::path(SG_SOURCE_DIR) / "cli";
  int files = 0;
  std::vector<std::string> literals;  // file:line: "name"
  for (const auto& file : std::filesystem::recursive_directory_iterator(root)) {
    const auto ext = file.path().extension();
    if (ext != ".cpp" && ext != ".h") continue;
    ++files;
    std::ifstream in(file.path());
    int number = 0;
    for (std::string line; std::getline(in, line);) {
      ++number;
      for (const auto& c : Commands()) {
        if (c.name.find('.') == std::string_view::npos) continue;
        const std::string quoted = "\"" + std::string(c.name) + "\"";
        if (line.find(quoted) == std::string::npos) continue;
        literals.push_back(file.path().lexically_relative(SG_SOURCE_DIR).string() + ":" +
                           std::to_string(number) + ": " + quoted);
      }
    }
  }
  for (const auto& literal : literals) {
    FAIL_CHECK(literal << ": a control verb as a literal; use control::Command::k...");
  }
  CHECK(files > 5);
}

}  // namespace sg::control
