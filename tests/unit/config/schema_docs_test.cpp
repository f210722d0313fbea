// Keeps the schema whole: defaults that pass their own checks, sections with keys, old names that
// name real keys, and each built-in plugin's declaration. Whether streamgate.yaml(5) and the
// completions carry the schema's lists is checked by `streamgate-config-keys --check`
// (tests/CMakeLists.txt), which compares the whole generated text.
#include <algorithm>
#include <cctype>
#include <sstream>
#include <string>
#include <vector>

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

// The words of a text, punctuation and quotes apart, without the mdoc macros that set them.
std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  auto end = [&] {
    if (!word.empty()) words.push_back(word);
    word.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && text.compare(i, 2, "\\e") == 0) {
      word += '\\';
      ++i;
    } else if (c == '\\' && text.compare(i, 2, "\\&") == 0) {
      ++i;
    } else if (c == '\\' && text.compare(i, 4, "\\(dq") == 0) {
      word += '"';
      i += 3;
    } else if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '\\') {
      word += c;
    } else {
      end();
    }
  }
  end();
  return words;
}

// The lines of the table between ".It Cm PATH ..." and its first fact ("Default").
std::string DocLines(const std::string& table, std::string_view path) {
  const size_t item = table.find(".It Cm " + std::string(path) + " Pq ");
  const size_t from = table.find('\n', item) + 1;
  std::string out;
  for (size_t at = from; table.compare(at, 7, "Default") != 0;) {
    const size_t nl = table.find('\n', at);
    std::string line = table.substr(at, nl - at);
    for (const char* macro : {".Cm ", ".Ql ", ".Xr "})
      if (line.starts_with(macro)) line = line.substr(4);
    out += line + "\n";
    at = nl + 1;
  }
  return out;
}

TEST_CASE("the man page's key table shows each key's doc word for word", "[config][docs]") {
  const std::string table = RenderKeyDocs(Builtin(), KeyDocFormat::kMan);
  for (const auto& spec : Builtin().keys()) {
    INFO(spec.path);
    std::string doc(spec.doc);
    // streamgated(8) is set as ".Xr streamgated 8".
    for (size_t p; (p = doc.find("(8)")) != std::string::npos;) doc.replace(p, 3, " 8");
    CHECK(Words(DocLines(table, spec.path)) == Words(doc));
  }
  // Key paths and the key's choices are set in bold, 'quoted' text as a literal, facts follow.
  CHECK_THAT(table, Catch::Contains(".It Cm app.port Pq port\n"
                                    "Old name for\n.Cm server.port ,\nkept so that older files "
                                    "load; set\n.Cm server.port\ninstead.\n"
                                    "Default:\n.Ql 8080 .\nFrom 0 to 65535.\n"
                                    "An old name: see\n.Sx Old names .\n"));
  CHECK_THAT(table,
             Catch::Contains("Directory for media when\n.Cm storage.type\nis\n.Cm local .\n"));
  CHECK_THAT(table, Catch::Contains(".Ql \"streamgate status\"\nshows.\n"));
  CHECK_THAT(table,
             Catch::Contains("Warns when set to the well-known\n.Ql postgres ,\n.Ql password ,\n"
                             ".Ql streamgate .\n"));
  CHECK_THAT(table, Catch::Contains("the cache plugin takes it when it next starts"));
}

TEST_CASE("doc text is made safe for roff, and long text is filled", "[config][docs]") {
  const Schema schema({{.owner = "",
                        .sections = {{.name = "x",
                                      .title = "a test",
                                      .keys = {{.path = "x.a",
                                                .doc = "A back\\slash and 'a \"quoted\" \\ No'. "
                                                       ".dot starts this sentence. 'quote "
                                                       "starts this one' and it goes on and on "
                                                       "past the width of one line of text, "
                                                       "so it is filled; see streamgated(8)"}}}}}});
  const std::string table = RenderKeyDocs(schema, KeyDocFormat::kMan);
  CHECK_THAT(table, Catch::Contains("A back\\eslash and\n.Ql \"a \\(dqquoted\\(dq \\e No\" .\n"));
  CHECK_THAT(table, Catch::Contains("\n\\&.dot starts this sentence.\n"));
  CHECK_THAT(table, Catch::Contains("\n.Ql \"quote starts this one\"\nand it goes on"));
  CHECK_THAT(table, Catch::Contains("\n.Xr streamgated 8 .\n"));
  std::istringstream lines(table);
  for (std::string line; std::getline(lines, line);) CHECK(line.size() <= 80);
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
