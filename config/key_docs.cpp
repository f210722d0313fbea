#include "config/key_docs.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "common/strings.h"
#include "config/config.h"

namespace sg::config {
namespace {

// Text safe on a roff text line: backslashes escaped, and no line that starts like a request.
std::string RoffLine(std::string_view text) {
  std::string out;
  for (char c : text) out += c == '\\' ? std::string("\\e") : std::string(1, c);
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
  return out;
}

constexpr size_t kLineWidth = 78;  // mandoc -Tlint flags text lines over 80 bytes
constexpr std::string_view kOpening = "([";
constexpr std::string_view kClosing = ".,;:)]?!";

bool IsChoice(const KeySpec* spec, std::string_view word) {
  if (spec == nullptr || spec->type != Type::kEnum) return false;
  return std::find(spec->choices.begin(), spec->choices.end(), word) != spec->choices.end();
}

// A word split into its leading opening and trailing closing punctuation and what lies between.
struct Word {
  std::string_view open, core, close;
};

Word SplitWord(std::string_view word) {
  const size_t first = std::min(word.find_first_not_of(kOpening), word.size());
  size_t last = word.find_last_not_of(kClosing);
  if (last == std::string_view::npos || last < first) return {word, "", ""};
  // "streamgated(8)": the closing parenthesis belongs to the page's section.
  if (last + 1 < word.size() && word[last + 1] == ')' && word.substr(first).find('(') < last)
    ++last;
  return {word.substr(0, first), word.substr(first, last + 1 - first), word.substr(last + 1)};
}

// " ( " and " ) ." around a macro's argument: mdoc sets them as punctuation.
std::string Delimiters(std::string_view punctuation) {
  std::string out;
  for (char c : punctuation) out += fmt::format(" {}", c);
  return out;
}

// A quoted macro argument: never taken for a macro name or a delimiter.
std::string Quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text)
    out += c == '\\' ? std::string("\\e") : c == '"' ? "\\(dq" : std::string(1, c);
  return out + "\"";
}

// "streamgated(8)" as {"streamgated", "8"}, or nullopt.
std::optional<std::pair<std::string_view, std::string_view>> ManPage(std::string_view core) {
  const size_t paren = core.find('(');
  if (paren == 0 || paren == std::string_view::npos || core.size() != paren + 3 ||
      core.back() != ')' || std::isdigit(static_cast<unsigned char>(core[paren + 1])) == 0) {
    return std::nullopt;
  }
  return std::pair{core.substr(0, paren), core.substr(paren + 1, 1)};
}

// Lays out a doc string as mdoc without changing a word of it: one sentence a line (as mdoc
// wants), text lines filled to kLineWidth, and as macro lines with the punctuation kept as mdoc
// delimiters: each key path, each choice of the key described or of a key named earlier in the
// sentence (as in "when storage.type is local") as `.Cm`; 'quoted text' as `.Ql`; a page
// reference such as streamgated(8) as `.Xr`.
std::string RoffDoc(const Schema& schema, const KeySpec& spec, std::string_view doc) {
  std::string out;
  std::string line;
  auto flush = [&] {
    if (!line.empty()) out += RoffLine(line) + "\n";
    line.clear();
  };
  size_t start = 0;
  while (start < doc.size()) {
    size_t end = doc.find(". ", start);
    end = end == std::string_view::npos ? doc.size() : end + 1;
    std::string sentence(doc.substr(start, end - start));
    if (!sentence.ends_with('.')) sentence += '.';
    start = end + 1;
    std::vector<std::string_view> words;
    for (size_t at = 0; at < sentence.size();) {
      const size_t space = std::min(sentence.find(' ', at), sentence.size());
      if (space > at) words.push_back(std::string_view(sentence).substr(at, space - at));
      at = space + 1;
    }
    const KeySpec* named = &spec;  // whose choices a bare word may be
    for (size_t i = 0; i < words.size(); ++i) {
      const Word w = SplitWord(words[i]);
      if (w.core.starts_with('\'')) {  // a quoted run, to the word whose core ends with '
        size_t j = i;
        while (j < words.size() &&
               !(SplitWord(words[j]).core.ends_with('\'') && (j > i || w.core.size() > 1))) {
          ++j;
        }
        if (j < words.size()) {
          const Word last = SplitWord(words[j]);
          const char* from = w.core.data() + 1;
          const std::string_view text(from, last.core.data() + last.core.size() - 1 - from);
          flush();
          out += ".Ql" + Delimiters(w.open) + " " + Quoted(text) + Delimiters(last.close) + "\n";
          i = j;
          continue;
        }
      }
      const KeySpec* key = w.core.empty() ? nullptr : schema.Find(w.core);
      const auto page = ManPage(w.core);
      if (key != nullptr || page || IsChoice(named, w.core) || IsChoice(&spec, w.core)) {
        flush();
        out += page ? fmt::format(".Xr{} {} {}{}\n", Delimiters(w.open), page->first, page->second,
                                  Delimiters(w.close))
                    : fmt::format(".Cm{} {}{}\n", Delimiters(w.open), w.core, Delimiters(w.close));
        if (key != nullptr) named = key;
        continue;
      }
      if (!line.empty() && line.size() + 1 + words[i].size() > kLineWidth) flush();
      line += line.empty() ? std::string(words[i]) : " " + std::string(words[i]);
    }
    flush();
  }
  return out;
}

// `LEAD\n.Cm a , b , c` or, since `.Ql` nests when called inside `.Ql`, one `.Ql` line an item.
// The caller ends the last line.
std::string MacroList(std::string_view lead, std::string_view macro,
                      const std::vector<std::string_view>& items) {
  std::string out = fmt::format("{}\n{}", lead, macro);
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += macro == ".Ql" ? fmt::format(" ,\n{}", macro) : std::string(" ,");
    out += fmt::format(" {}", items[i]);
  }
  return out;
}

std::string Bound(const KeySpec& spec, int64_t n) {
  if (spec.type == Type::kDuration || spec.type == Type::kSize) return FormatValue(spec, Value(n));
  return std::to_string(n);
}

// The facts the declaration holds, each a sentence: the default, the valid values, warnings,
// whether it is a secret, an old name or a listener, and what a reload does.
std::string ManFacts(const KeySpec& spec) {
  std::string out;
  if (spec.default_value.empty()) {
    out += "Default: empty.\n";
  } else {
    out += fmt::format("Default:\n.Ql {} .\n", spec.default_value);
  }
  switch (spec.type) {
    case Type::kInt:
    case Type::kPort:
    case Type::kDuration:
    case Type::kSize:
      out += spec.max == 0
                 ? fmt::format("At least {}.\n", Bound(spec, spec.min))
                 : fmt::format("From {} to {}.\n", Bound(spec, spec.min), Bound(spec, spec.max));
      break;
    case Type::kString:
    case Type::kUrl:
      if (spec.min == 1 && spec.max == 0) {
        out += "Not empty.\n";
      } else if (spec.min > 0 || spec.max > 0) {
        out += spec.max == 0 ? fmt::format("At least {} characters.\n", spec.min)
                             : fmt::format("{} to {} characters.\n", spec.min, spec.max);
      }
      if (spec.type == Type::kUrl) out += MacroList("Schemes:", ".Ql", spec.choices) + " .\n";
      break;
    case Type::kEnum:
      out += MacroList("One of:", ".Cm", spec.choices) + " .\n";
      break;
    case Type::kStringList:
      if (!spec.choices.empty()) out += MacroList("Items from:", ".Cm", spec.choices) + " .\n";
      break;
    default:
      break;
  }
  if (!spec.weak.empty()) {
    out += MacroList("Warns when set to the well-known", ".Ql", spec.weak) + " .\n";
  }
  if (spec.secret) {
    out += "A secret: redacted by\n.Ql streamgate config show ;\nsee\n.Sx Secrets .\n";
  }
  if (!spec.alias_of.empty()) out += "An old name: see\n.Sx Old names .\n";
  if (spec.listener) out += "A listener: see\n.Sx Listeners .\n";
  switch (spec.reload) {
    case Reload::kLive:
      out += "A reload applies it live.\n";
      break;
    case Reload::kRestartPlugin:
      out += fmt::format("A reload restarts nothing: the {} plugin takes it when it next starts.\n",
                         spec.owner.empty() ? "reading" : spec.owner);
      break;
    case Reload::kRestartDaemon:
      out += "Takes effect when the daemon restarts.\n";
      break;
  }
  return out;
}

std::string RenderMan(const Schema& schema) {
  std::string out;
  for (const auto& section : schema.sections()) {
    out += fmt::format(".Ss {}: {}\n", section.name, RoffLine(section.title));
    if (!section.doc.empty()) out += RoffDoc(schema, KeySpec{}, section.doc);
    out += ".Bl -tag -width Ds\n";
    for (const auto& key : section.keys) {
      const KeySpec& spec = *schema.Find(key.path);  // with its owner filled in
      out += fmt::format(".It Cm {} Pq {}\n", spec.path, TypeName(spec.type));
      out += RoffDoc(schema, spec, spec.doc);
      out += ManFacts(spec);
    }
    out += ".El\n";
  }
  return out;
}

// One line of keys per section, each line prefixed and suffixed as the shell needs.
std::string KeyLines(const Schema& schema, std::string_view prefix, std::string_view suffix,
                     std::string_view last_suffix) {
  std::string out;
  const auto& sections = schema.sections();
  for (size_t i = 0; i < sections.size(); ++i) {
    std::vector<std::string> paths;
    for (const auto& key : sections[i].keys) paths.emplace_back(key.path);
    out += fmt::format("{}{}{}\n", prefix, Join(paths, " "),
                       i + 1 == sections.size() ? last_suffix : suffix);
  }
  return out;
}

}  // namespace

std::string_view BeginMarker(KeyDocFormat format) {
  return format == KeyDocFormat::kMan ? ".\\\" BEGIN GENERATED configuration keys"
                                      : "# BEGIN GENERATED configuration keys";
}

std::string_view EndMarker(KeyDocFormat format) {
  return format == KeyDocFormat::kMan ? ".\\\" END GENERATED configuration keys"
                                      : "# END GENERATED configuration keys";
}

std::string RenderKeyDocs(const Schema& schema, KeyDocFormat format) {
  switch (format) {
    case KeyDocFormat::kMan:
      return RenderMan(schema);
    case KeyDocFormat::kBash: {
      std::string lines = KeyLines(schema, "", "", "\"");
      return "_streamgate_keys=\"" + lines;
    }
    case KeyDocFormat::kZsh:
      return "_streamgate_keys=(\n" + KeyLines(schema, "  ", "", "") + ")\n";
    case KeyDocFormat::kFish:
      return "function __streamgated_keys\n  printf '%s=\\n' \\\n" +
             KeyLines(schema, "    ", " \\", "") + "end\n";
  }
  return "";
}

std::optional<std::string> ReplaceGenerated(std::string_view file, KeyDocFormat format,
                                            std::string_view generated) {
  const std::string begin(BeginMarker(format));
  const std::string end = std::string(EndMarker(format)) + "\n";
  size_t b = file.starts_with(begin) ? 0 : file.find("\n" + begin);
  if (b == std::string_view::npos) return std::nullopt;
  if (b != 0) ++b;
  const size_t body = file.find('\n', b);
  if (body == std::string_view::npos) return std::nullopt;
  const size_t e = file.find("\n" + end, body);
  if (e == std::string_view::npos) return std::nullopt;
  return std::string(file.substr(0, body + 1)) + std::string(generated) +
         std::string(file.substr(e + 1));
}

}  // namespace sg::config
