// The bash, zsh and fish completions offer, at each command path of streamgate, exactly the
// subcommands and options of the CLI11 app: whole lists, compared both ways. Each script is read
// the way its shell uses it: bash's tables of subcommands and options by path, zsh's _arguments
// specs and command lists followed through the functions its case arms call, fish's `complete`
// lines with their conditions evaluated for each path.
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cli/app.h"
#include "tests/support/files.h"

namespace sg::cli {
namespace {

// What is offered at one command path ("streamgate plugins stop").
struct Offer {
  std::set<std::string> subcommands;
  std::set<std::string> options;  // "-q", "--quiet"
};
using Offers = std::map<std::string, Offer>;

std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void AddNames(const CLI::Option& opt, std::set<std::string>& out) {
  for (const auto& name : opt.get_snames()) out.insert("-" + name);
  for (const auto& name : opt.get_lnames()) out.insert("--" + name);
}

// The CLI: at each path, its subcommands and its own options; after a command also the root's
// flags (--json), which reach every command through fallthrough. The root's options that take a
// value (--config, --timeout, ...) are offered only before the command.
void Expected(const CLI::App& app, const std::string& path, const CLI::App& root, Offers& out) {
  Offer& offer = out[path];
  for (const CLI::Option* opt : app.get_options()) AddNames(*opt, offer.options);
  if (&app != &root) {
    for (const CLI::Option* opt : root.get_options()) {
      if (opt->get_expected_max() == 0 && opt != root.get_help_ptr()) AddNames(*opt, offer.options);
    }
  }
  for (const CLI::App* sub : app.get_subcommands({})) {
    offer.subcommands.insert(sub->get_name());
    Expected(*sub, path + " " + sub->get_name(), root, out);
  }
}

Offers FromApp() {
  CLI::App app;
  Context context;
  BuildApp(app, context);
  Offers out;
  Expected(app, "streamgate", app, out);
  return out;
}

// bash: the tables _streamgate_subcommands and _streamgate_options, `[path]="words"` a line.
Offers FromBash(const std::string& text) {
  Offers out;
  const std::regex table(R"(^declare -gA (_streamgate_\w+)=\($)");
  const std::regex entry(R"re(^\s*\[("?)([^\]"]*)\1\]="([^"]*)"$)re");
  std::string current;
  for (const auto& line : Lines(text)) {
    std::smatch m;
    if (std::regex_match(line, m, table)) {
      current = m[1].str();
    } else if (line == ")") {
      current.clear();
    } else if (!current.empty() && std::regex_match(line, m, entry)) {
      const auto words = Words(m[3].str());
      Offer& offer = out[m[2].str()];
      if (current == "_streamgate_subcommands")
        offer.subcommands.insert(words.begin(), words.end());
      if (current == "_streamgate_options") offer.options.insert(words.begin(), words.end());
    }
  }
  return out;
}

// zsh: per function, the options of its first _arguments, its `local -a commands` list, and for
// each arm of `case $words[1]` either the options of the arm's _arguments or the function the arm
// calls. Read from _streamgate_cli down.
struct ZshFunction {
  std::set<std::string> options;
  std::set<std::string> subcommands;
  std::map<std::string, std::set<std::string>> arm_options;
  std::map<std::string, std::string> arm_calls;
};

// The option names of one _arguments spec line: '--json[...]', '*--plugin=[...]',
// '(-n --lines)'{-n+,--lines=}'[...]'.
std::vector<std::string> ZshSpecNames(const std::string& line) {
  static const std::regex braces(R"(\{([^}]*)\}'\[)");
  static const std::regex single(R"(^\s*'(?:\([^)]*\))?\*?(-[-\w]+?)[=+]?-?\[)");
  std::smatch m;
  std::vector<std::string> names;
  if (std::regex_search(line, m, braces)) {
    std::string list = m[1].str();
    for (char& c : list) c = c == ',' ? ' ' : c;
    for (auto name : Words(list)) {
      while (name.ends_with('=') || name.ends_with('+')) name.pop_back();
      names.push_back(name);
    }
  } else if (std::regex_search(line, m, single)) {
    names.push_back(m[1].str());
  }
  return names;
}

Offers FromZsh(const std::string& text) {
  std::map<std::string, ZshFunction> functions;
  const std::regex function(R"(^(_\w+)\(\) \{$)");
  const std::regex arm(R"(^\s+([a-z][-a-z0-9]*(?:\|[a-z][-a-z0-9]*)*)\)$)");
  const std::regex call(R"(^\s+(_streamgate_\w+) && ret=0$)");
  const std::regex command(R"(^\s+'([a-z][-a-z0-9]*):)");
  ZshFunction* f = nullptr;
  bool in_arms = false;
  bool in_arguments = false;
  bool in_commands = false;
  bool seen_arguments = false;
  std::vector<std::string> arms;
  for (const auto& line : Lines(text)) {
    std::smatch m;
    if (std::regex_match(line, m, function)) {
      f = &functions[m[1].str()];
      in_arms = in_arguments = in_commands = seen_arguments = false;
      arms.clear();
      continue;
    }
    if (f == nullptr) continue;
    if (in_arguments) {
      for (const auto& name : ZshSpecNames(line)) {
        if (!in_arms) f->options.insert(name);
        for (const auto& a : arms) f->arm_options[a].insert(name);
      }
      in_arguments = line.ends_with('\\');
    } else if (line.find("_arguments") != std::string::npos) {
      // Only the first _arguments before the arms is the function's own.
      in_arguments = in_arms || !seen_arguments;
      seen_arguments = true;
      for (const auto& a : arms) f->arm_options[a];
    } else if (line.find("local -a commands=(") != std::string::npos) {
      in_commands = true;
    } else if (in_commands) {
      if (std::regex_search(line, m, command)) f->subcommands.insert(m[1].str());
      in_commands = line.find_first_not_of(' ') != line.find(')');
    } else if (line.find("case $words[1] in") != std::string::npos) {
      in_arms = true;
    } else if (in_arms && std::regex_match(line, m, arm)) {
      arms.clear();
      std::string list = m[1].str();
      for (char& c : list) c = c == '|' ? ' ' : c;
      arms = Words(list);
    } else if (in_arms && std::regex_match(line, m, call)) {
      for (const auto& a : arms) f->arm_calls[a] = m[1].str();
    }
  }
  Offers out;
  // Walks a function at `path`; `seen` guards against a function calling itself.
  std::set<std::string> seen;
  auto walk = [&](auto&& self, const std::string& name, const std::string& path) -> void {
    if (!functions.contains(name) || !seen.insert(name).second) return;
    const ZshFunction& fn = functions.at(name);
    out[path].options.insert(fn.options.begin(), fn.options.end());
    out[path].subcommands.insert(fn.subcommands.begin(), fn.subcommands.end());
    for (const auto& [a, options] : fn.arm_options) {
      out[path + " " + a].options.insert(options.begin(), options.end());
    }
    for (const auto& [a, callee] : fn.arm_calls) self(self, callee, path + " " + a);
  };
  walk(walk, "_streamgate_cli", "streamgate");
  return out;
}

// fish: each `complete -c streamgate` line, its condition (`-n`) a list of predicates joined by
// `; or`: __streamgate_needs_command (no command yet), __streamgate_at WORDS (exactly there),
// __streamgate_in WORDS (there or below); no condition: everywhere. `-s X`/`-l NAME` are options,
// `-a WORD` (one bare word) a subcommand. Each path of the CLI gets what is true there; a path a
// predicate names that the CLI lacks is reported as offered there.
Offers FromFish(const std::string& text, const Offers& paths) {
  Offers out;
  const std::regex condition(R"(-n (?:'([^']*)'|(\S+)))");
  const std::regex option(R"( -([sl]) ([-\w]+))");
  const std::regex subcommand(R"( -a ([a-z][-a-z0-9]*)(?: |$))");
  for (auto line : Lines(text)) {
    if (!line.starts_with("complete -c streamgate ")) continue;
    line = line.substr(0, line.find(" -d "));  // not the description's words
    std::smatch m;
    std::vector<std::pair<std::string, std::vector<std::string>>> predicates;
    if (std::regex_search(line, m, condition)) {
      std::string cond = m[1].matched ? m[1].str() : m[2].str();
      for (size_t at; (at = cond.find("; or ")) != std::string::npos;) cond.replace(at, 5, "\n");
      for (const auto& p : Lines(cond)) {
        auto words = Words(p);
        const std::string kind = words.empty() ? "" : words.front();
        if (!words.empty()) words.erase(words.begin());
        predicates.emplace_back(kind, words);
        if (kind != "__streamgate_needs_command") out["streamgate " + Join(words)];
      }
    }
    std::set<std::string> options;
    for (auto it = std::sregex_iterator(line.begin(), line.end(), option);
         it != std::sregex_iterator(); ++it) {
      options.insert(((*it)[1] == "s" ? "-" : "--") + (*it)[2].str());
    }
    std::string sub;
    if (std::regex_search(line, m, subcommand)) sub = m[1].str();
    for (const auto& [path, unused] : paths) {
      (void)unused;
      const auto words = Words(path.substr(std::string("streamgate").size()));
      bool on = predicates.empty();
      for (const auto& [kind, want] : predicates) {
        if (kind == "__streamgate_needs_command") on |= words.empty();
        if (kind == "__streamgate_at") on |= words == want;
        if (kind == "__streamgate_in") {
          on |= words.size() >= want.size() && std::equal(want.begin(), want.end(), words.begin());
        }
      }
      if (!on) continue;
      out[path].options.insert(options.begin(), options.end());
      if (!sub.empty()) out[path].subcommands.insert(sub);
    }
  }
  return out;
}

void CheckSame(const std::string& script, const std::string& kind, const std::string& path,
               const std::set<std::string>& cli, const std::set<std::string>& offered) {
  for (const auto& item : cli) {
    if (!offered.contains(item)) {
      FAIL_CHECK(script << ": at `" << path << "` the " << kind << " " << item
                        << " of the CLI is not offered");
    }
  }
  for (const auto& item : offered) {
    if (!cli.contains(item)) {
      FAIL_CHECK(script << ": at `" << path << "` the " << kind << " " << item
                        << " is offered, but the CLI has no such " << kind);
    }
  }
}

void CheckOffers(const std::string& script, const Offers& cli, const Offers& offered) {
  REQUIRE(cli.size() >= 10);
  for (const auto& [path, expected] : cli) {
    const auto it = offered.find(path);
    if (it == offered.end()) {
      FAIL_CHECK(script << ": the command path `" << path << "` of the CLI has no completion");
      continue;
    }
    CheckSame(script, "subcommand", path, expected.subcommands, it->second.subcommands);
    CheckSame(script, "option", path, expected.options, it->second.options);
  }
  for (const auto& [path, unused] : offered) {
    (void)unused;
    if (!cli.contains(path)) {
      FAIL_CHECK(script << ": completes the command path `" << path << "`, which the CLI lacks");
    }
  }
}

// Every option of the CLI that takes a value, at any path: the words a script must skip with
// their value to find the command path.
void ValueOptions(const CLI::App& app, std::set<std::string>& out) {
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_expected_max() != 0) AddNames(*opt, out);
  }
  for (const CLI::App* sub : app.get_subcommands({})) ValueOptions(*sub, out);
}

// The words of `text` from just after `start` to the first `end`, split at blanks and at `|`.
std::set<std::string> WordsBetween(const std::string& text, const std::string& start,
                                   const std::string& end) {
  const size_t from = text.find(start);
  if (from == std::string::npos) return {};
  std::string list = text.substr(from + start.size());
  list = list.substr(0, list.find(end));
  for (char& c : list) c = c == '|' || c == '\\' ? ' ' : c;
  const auto words = Words(list);
  return {words.begin(), words.end()};
}

// A script with stop's --force renamed to --forcex: offered at `streamgate stop` instead.
void CheckReadsRename(const Offers& offers) {
  const auto it = offers.find("streamgate stop");
  REQUIRE(it != offers.end());
  CHECK(it->second.options.contains("--forcex"));
  CHECK_FALSE(it->second.options.contains("--force"));
}

std::string Replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("each completion script is read as its shell reads it: a renamed option shows",
          "[cli][docs][completions]") {
  CheckReadsRename(FromBash(Replaced(test::ReadSourceFile("completions/streamgate.bash"),
                                     "\"--timeout --force ", "\"--timeout --forcex ")));
  CheckReadsRename(FromZsh(Replaced(test::ReadSourceFile("completions/_streamgate"),
                                    "'--force[kill", "'--forcex[kill")));
  CheckReadsRename(FromFish(Replaced(test::ReadSourceFile("completions/streamgate.fish"),
                                     "-l force -d 'Kill", "-l forcex -d 'Kill"),
                            FromApp()));
}

TEST_CASE("the bash completion offers each command's subcommands and options, whole",
          "[cli][docs][completions]") {
  CheckOffers("completions/streamgate.bash", FromApp(),
              FromBash(test::ReadSourceFile("completions/streamgate.bash")));
}

TEST_CASE("the zsh completion offers each command's subcommands and options, whole",
          "[cli][docs][completions]") {
  CheckOffers("completions/_streamgate", FromApp(),
              FromZsh(test::ReadSourceFile("completions/_streamgate")));
}

TEST_CASE("the fish completion offers each command's subcommands and options, whole",
          "[cli][docs][completions]") {
  const Offers cli = FromApp();
  CheckOffers("completions/streamgate.fish", cli,
              FromFish(test::ReadSourceFile("completions/streamgate.fish"), cli));
}

}  // namespace sg::cli

namespace sg::cli {

TEST_CASE("bash and fish skip exactly the CLI's options that take a value",
          "[cli][docs][completions]") {
  CLI::App app;
  Context context;
  BuildApp(app, context);
  std::set<std::string> cli;
  ValueOptions(app, cli);
  REQUIRE(cli.contains("--config"));

  CheckSame("completions/streamgate.bash (_streamgate's case $word)", "option taking a value",
            "any command", cli,
            WordsBetween(test::ReadSourceFile("completions/streamgate.bash"), "    case $word in\n",
                         ")"));
  CheckSame("completions/streamgate.fish (__streamgate_positionals)", "option taking a value",
            "any command", cli,
            WordsBetween(test::ReadSourceFile("completions/streamgate.fish"), "      case ", "\n"));
}

}  // namespace sg::cli
