// The service names are one list, common/services.h: the schema takes them from it, and each
// completion script's copy must be that list, whole and in order.
#include "common/services.h"

#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "config/schema.h"
#include "tests/support/files.h"

namespace sg {
namespace {

std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

// Each list of services in a script, found by `pattern` (its first group holds the names), with
// its line number.
std::vector<std::pair<int, std::vector<std::string>>> Lists(const std::string& script,
                                                            const std::regex& pattern) {
  std::vector<std::pair<int, std::vector<std::string>>> out;
  std::istringstream in(test::ReadSourceFile(script));
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    std::smatch m;
    if (std::regex_search(line, m, pattern)) out.emplace_back(number, Words(m[1].str()));
  }
  return out;
}

}  // namespace

TEST_CASE("the schema's service names are common/services.h's", "[services]") {
  const std::vector<std::string> expected(kServiceNames.begin(), kServiceNames.end());

  CHECK(config::ServiceNames() == expected);
}

TEST_CASE("each completion script lists the services of common/services.h", "[services][docs]") {
  const std::vector<std::string> expected(kServiceNames.begin(), kServiceNames.end());
  const std::vector<std::pair<std::string, std::regex>> scripts = {
      {"completions/streamgate.bash", std::regex(R"(^_streamgate_services="([^"]*)\")")},
      {"completions/_streamgate", std::regex(R"(^_streamgate_services=\(([^)]*)\))")},
      {"completions/streamgate.fish", std::regex(R"(-l service -x -a '([^']*)')")},
  };
  for (const auto& [script, pattern] : scripts) {
    const auto lists = Lists(script, pattern);
    INFO(script);
    CHECK_FALSE(lists.empty());
    for (const auto& [line, names] : lists) {
      INFO(script << ":" << line << ": the services listed there");
      CHECK(names == expected);
    }
  }
}

}  // namespace sg
