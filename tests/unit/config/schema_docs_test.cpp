// Keeps the schema whole: defaults that pass their own checks, sections with keys, old names that
// name real keys, and each built-in plugin's declaration. Whether streamgate.yaml(5) and the
// completions carry the schema's lists is checked by `streamgate-config-keys --check`
// (tests/CMakeLists.txt), which compares the whole generated text.
#include <algorithm>

#include <catch2/catch.hpp>

#include "config/key_docs.h"
#include "config/loader.h"
#include "config/schema.h"
#include "daemon/plugins/builtin_config.h"

namespace sg::config {
namespace {

const Schema& Builtin() { return plugins::BuiltinSchema(); }

}  // namespace

TEST_CASE("every schema default passes the schema's own checks", "[config]") {
  // The loader SG_CHECKs this at start; a test says which key when it breaks.
  for (const auto& spec : Builtin().keys()) {
    INFO(spec.path);
    CHECK(LoadText(Builtin(), "", "f", {},
                   {{std::string(spec.path), std::string(spec.default_value), "x"}})
              .Errors() == 0);
  }
}

TEST_CASE("every section has a key and every alias names a real key", "[config]") {
  for (const auto& section : Builtin().SectionNames())
    CHECK_FALSE(Builtin().KeysOf(section).empty());
  for (const auto& spec : Builtin().keys()) {
    if (!spec.alias_of.empty()) CHECK(Builtin().Find(spec.alias_of) != nullptr);
  }
  CHECK(ServiceNames().size() == 9);
  CHECK(EnvName("server.read_timeout") == "STREAMGATE_SERVER_READ_TIMEOUT");
}

TEST_CASE("each plugin's keys carry its name, and it reads its own sections", "[config]") {
  for (const auto& declaration : plugins::BuiltinConfigs()) {
    INFO(declaration.owner);
    CHECK_FALSE(declaration.owner.empty());
    const auto reads = declaration.Reads();
    for (const auto& section : declaration.sections) {
      CHECK(std::find(reads.begin(), reads.end(), std::string(section.name) + ".") != reads.end());
      for (const auto& key : section.keys)
        CHECK(Builtin().Find(key.path)->owner == declaration.owner);
    }
    for (const auto key : declaration.also_reads) CHECK(Builtin().Find(key) != nullptr);
  }
  CHECK(Builtin().Find("app.mode")->owner.empty());
}

TEST_CASE("every listener key is a port", "[config]") {
  for (const auto& spec : Builtin().keys()) {
    INFO(spec.path);
    if (spec.listener) CHECK(spec.type == Type::kPort);
  }
}

TEST_CASE("the man page's key table shows each key's doc exactly, one sentence a line",
          "[config][docs]") {
  const std::string table = RenderKeyDocs(Builtin(), KeyDocFormat::kMan);

  CHECK_THAT(table, Catch::Contains(".It Cm server.port Pq port\n"
                                    "TCP port of the HTTP listener; 0 picks a free port.\n"
                                    "Default:\n.Ql 8080 .\nFrom 0 to 65535.\n"
                                    "A reload applies it live.\n"));
  CHECK_THAT(table, Catch::Contains(".It Cm cache.shards Pq integer\n"));
  CHECK_THAT(table, Catch::Contains("the cache plugin takes it when it next starts"));
}

TEST_CASE("a generated list replaces only the text between its markers", "[config][docs]") {
  const std::string file =
      "before\n# BEGIN GENERATED configuration keys (x)\nold\n# END GENERATED configuration "
      "keys\nafter\n";

  CHECK(ReplaceGenerated(file, KeyDocFormat::kBash, "new\n") ==
        "before\n# BEGIN GENERATED configuration keys (x)\nnew\n# END GENERATED configuration "
        "keys\nafter\n");
  CHECK_FALSE(ReplaceGenerated("no markers\n", KeyDocFormat::kBash, "new\n").has_value());
}

}  // namespace sg::config
