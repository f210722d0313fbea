#include "config/key_docs.h"

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

// A doc string as roff text, one sentence a line, ending with a full stop.
std::string RoffSentences(std::string_view doc) {
  std::string out;
  size_t start = 0;
  while (start < doc.size()) {
    size_t end = doc.find(". ", start);
    if (end == std::string_view::npos) end = doc.size();
    std::string sentence(doc.substr(start, end - start));
    if (!sentence.ends_with('.')) sentence += '.';
    out += RoffLine(sentence) + "\n";
    start = end + 2;
  }
  return out;
}

std::string Bound(const KeySpec& spec, int64_t n) {
  if (spec.type == Type::kDuration || spec.type == Type::kSize) return FormatValue(spec, Value(n));
  return std::to_string(n);
}

// "Default ...", the valid values, whether it is a secret, and what a reload does: each a line.
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
      if (spec.min > 0 || spec.max > 0) {
        out += spec.max == 0 ? fmt::format("At least {} characters.\n", spec.min)
                             : fmt::format("{} to {} characters.\n", spec.min, spec.max);
      }
      break;
    case Type::kEnum:
      out += fmt::format(
          "One of: {}.\n",
          Join(std::vector<std::string>(spec.choices.begin(), spec.choices.end()), ", "));
      break;
    case Type::kUrl:
      out += fmt::format(
          "Schemes: {}.\n",
          Join(std::vector<std::string>(spec.choices.begin(), spec.choices.end()), ", "));
      break;
    case Type::kStringList:
      if (!spec.choices.empty()) {
        out += fmt::format(
            "Items from: {}.\n",
            Join(std::vector<std::string>(spec.choices.begin(), spec.choices.end()), ", "));
      }
      break;
    default:
      break;
  }
  if (spec.secret) out += "A secret: redacted by\n.Ql streamgate config show .\n";
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
    out += fmt::format(".Ss {}: {}\n.Bl -tag -width Ds\n", section.name, RoffLine(section.title));
    for (const auto& key : section.keys) {
      const KeySpec& spec = *schema.Find(key.path);  // with its owner filled in
      out += fmt::format(".It Cm {} Pq {}\n", spec.path, TypeName(spec.type));
      out += RoffSentences(spec.doc);
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
