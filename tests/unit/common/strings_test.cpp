#include "common/strings.h"

#include <catch2/catch.hpp>

namespace sg {

TEST_CASE("edit distance counts insertions, deletions and substitutions", "[strings]") {
  CHECK(EditDistance("", "") == 0);
  CHECK(EditDistance("port", "port") == 0);
  CHECK(EditDistance("prot", "port") == 2);
  CHECK(EditDistance("servr", "server") == 1);
  CHECK(EditDistance("", "abc") == 3);
}

TEST_CASE("did-you-mean suggests only plausible typos", "[strings]") {
  const std::vector<std::string> keys = {"host", "port", "read_timeout", "write_timeout"};

  CHECK(DidYouMean("prot", keys) == " (did you mean 'port'?)");
  CHECK(DidYouMean("read_timout", keys) == " (did you mean 'read_timeout'?)");
  CHECK(DidYouMean("completely_different", keys).empty());
}

TEST_CASE("split list trims and drops empty items", "[strings]") {
  CHECK(SplitList(" a, b ,,c ", ',') == std::vector<std::string>{"a", "b", "c"});
  CHECK(SplitList("", ',').empty());
}

TEST_CASE("printable escapes control bytes and cuts long text", "[strings]") {
  CHECK(Printable("a\x01z") == "a\\x01z");
  CHECK(Printable(std::string(100, 'x'), 10) == std::string(10, 'x') + "...");
}

}  // namespace sg
