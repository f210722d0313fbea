// Keeps the schema, its man page and the example config in step.
#include <catch2/catch.hpp>

#include "config/loader.h"
#include "config/schema.h"
#include "tests/support/files.h"

namespace sg::config {

TEST_CASE("streamgate.yaml(5) names every schema key", "[config][docs]") {
  const std::string page = test::ReadSourceFile("man/streamgate.yaml.5");
  REQUIRE_FALSE(page.empty());

  for (const auto& spec : Schema()) {
    INFO(spec.path);
    CHECK(page.find(std::string(spec.path)) != std::string::npos);
  }
}

TEST_CASE("each completion script offers every schema key for streamgated --set",
          "[config][docs]") {
  for (const char* script :
       {"completions/streamgate.bash", "completions/_streamgate", "completions/streamgate.fish"}) {
    const std::string text = test::ReadSourceFile(script);
    REQUIRE_FALSE(text.empty());
    for (const auto& spec : Schema()) {
      INFO(script << ": " << spec.path);
      CHECK(text.find(std::string(spec.path)) != std::string::npos);
    }
  }
}

TEST_CASE("every schema default passes the schema's own checks", "[config]") {
  // The loader SG_CHECKs this at start; a test says which key when it breaks.
  for (const auto& spec : Schema()) {
    INFO(spec.path);
    CHECK(LoadText("", "f", {}, {{std::string(spec.path), std::string(spec.default_value), "x"}})
              .Errors() == 0);
  }
}

TEST_CASE("every section has a key and every alias names a real key", "[config]") {
  for (const auto& section : Sections()) CHECK_FALSE(KeysOf(section).empty());
  for (const auto& spec : Schema()) {
    if (!spec.alias_of.empty()) CHECK(FindKey(spec.alias_of) != nullptr);
  }
  CHECK(ServiceNames().size() == 9);
  CHECK(EnvName("server.read_timeout") == "STREAMGATE_SERVER_READ_TIMEOUT");
}

}  // namespace sg::config
