// streamgate-config-keys: writes or checks the configuration key lists that streamgate.yaml(5)
// and the completion scripts carry between their GENERATED markers, from the schema streamgated
// is built with (the daemon's own sections and every built-in plugin's).
//
//   streamgate-config-keys --format man|bash|zsh|fish   print one generated list
//   streamgate-config-keys --check SOURCE_DIR           exit 1 naming each file that differs
//   streamgate-config-keys --update SOURCE_DIR          rewrite the lists in place
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "config/key_docs.h"
#include "daemon/plugins/builtin_config.h"

namespace {

using sg::config::KeyDocFormat;

constexpr const char* kRegenerate = "cmake --build build/dev --target config_keys_update";

struct Target {
  const char* path;  // relative to the source tree
  KeyDocFormat format;
};

const std::vector<Target> kTargets = {
    {"man/streamgate.yaml.5", KeyDocFormat::kMan},
    {"completions/streamgate.bash", KeyDocFormat::kBash},
    {"completions/_streamgate", KeyDocFormat::kZsh},
    {"completions/streamgate.fish", KeyDocFormat::kFish},
};

bool ReadFile(const std::string& path, std::string& text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  text = buffer.str();
  return true;
}

// The first line where two texts differ, 1-based, with both versions of it.
std::string FirstDifference(const std::string& have, const std::string& want) {
  std::istringstream a(have);
  std::istringstream b(want);
  std::string la;
  std::string lb;
  for (int line = 1;; ++line) {
    const bool more_a = static_cast<bool>(std::getline(a, la));
    const bool more_b = static_cast<bool>(std::getline(b, lb));
    if (!more_a && !more_b) return "";
    if (!more_a) la = "(end of file)";
    if (!more_b) lb = "(end of file)";
    if (la != lb || !more_a || !more_b) {
      return fmt::format("line {}\n    file:   {}\n    schema: {}", line, la, lb);
    }
  }
}

int Run(const std::string& root, bool update) {
  const auto& schema = sg::plugins::BuiltinSchema();
  int failed = 0;
  for (const auto& target : kTargets) {
    const std::string path = root + "/" + target.path;
    std::string text;
    if (!ReadFile(path, text)) {
      std::cerr << "streamgate-config-keys: " << path << ": cannot read\n";
      return 2;
    }
    const auto want =
        sg::config::ReplaceGenerated(text, target.format, RenderKeyDocs(schema, target.format));
    if (!want) {
      std::cerr << "streamgate-config-keys: " << path << ": no '"
                << sg::config::BeginMarker(target.format) << "' ... '"
                << sg::config::EndMarker(target.format)
                << "' lines; put them back around the list\n";
      return 2;
    }
    if (*want == text) continue;
    if (update) {
      std::ofstream(path, std::ios::binary | std::ios::trunc) << *want;
      std::cout << "updated " << target.path << '\n';
      continue;
    }
    std::cerr << target.path << ": the configuration key list differs from the schema at "
              << FirstDifference(text, *want) << '\n';
    ++failed;
  }
  if (failed != 0) {
    std::cerr << "streamgate-config-keys: " << failed
              << " file(s) out of step with the schema; regenerate with: " << kRegenerate << '\n';
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 2 && args[0] == "--format") {
    for (auto [name, format] : {std::pair{"man", KeyDocFormat::kMan},
                                {"bash", KeyDocFormat::kBash},
                                {"zsh", KeyDocFormat::kZsh},
                                {"fish", KeyDocFormat::kFish}}) {
      if (args[1] == name) {
        std::cout << RenderKeyDocs(sg::plugins::BuiltinSchema(), format);
        return 0;
      }
    }
  } else if (args.size() == 2 && (args[0] == "--check" || args[0] == "--update")) {
    return Run(args[1], args[0] == "--update");
  }
  std::cerr << "usage: streamgate-config-keys --format man|bash|zsh|fish | --check SOURCE_DIR | "
               "--update SOURCE_DIR\n";
  return 2;
}
