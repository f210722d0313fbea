#include "common/fd_limits.h"

#include <algorithm>

#include <catch2/catch.hpp>

namespace sg {
namespace {

TEST_CASE("the descriptor budget leaves room for cached files only under a roomy limit",
          "[fd_limits]") {
  CHECK(CachedFileBudget({1024, 1024}) == 0);
  CHECK(HttpConnectionBudget({1024, 1024}) == 1024 - kReservedDescriptors);
  CHECK(CachedFileBudget({20000, 20000}) == 2500);
  CHECK(HttpConnectionBudget({20000, 20000}) == 20000 - kReservedDescriptors - 2500);
  CHECK(CachedFileBudget({1 << 20, 1 << 20}) == 8192);
  CHECK(HttpConnectionBudget({100, 100}) == 25);  // a quarter, however small
}

TEST_CASE("DescriptorsFor names a limit that serves so many connections, and not much more",
          "[fd_limits]") {
  for (uint64_t connections : {1, 100, 3000, 3584, 3600, 10000, 50000, 57344, 60000, 200000}) {
    const uint64_t need = DescriptorsFor(connections);
    INFO(connections << " connections, " << need << " descriptors");
    CHECK(HttpConnectionBudget({need, need}) >= connections);
    CHECK(need <= connections + kReservedDescriptors + std::min<uint64_t>(need / 8, 8192) + 1);
  }
}

}  // namespace
}  // namespace sg
