#include "config/yaml_walk.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "common/strings.h"
#include "config/value_parser.h"

namespace sg::config {
namespace {

Origin At(const std::string& name, const YAML::Mark& mark) {
  Origin origin{Origin::Kind::kFile, name, 0, 0};
  if (!mark.is_null()) {
    origin.line = mark.line + 1;
    origin.column = mark.column + 1;
  }
  return origin;
}

std::string NodeKind(const YAML::Node& node) {
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  if (node.IsNull()) return "nothing";
  return "'" + Printable(node.Scalar()) + "'";
}

void ApplyList(const KeySpec& spec, const YAML::Node& node, const Origin& origin,
               LoadState& state) {
  const std::string path(spec.path);
  if (node.IsNull()) {
    state.Set(spec, std::vector<std::string>{}, origin);
    return;
  }
  if (!node.IsSequence()) {
    state.Error(origin, path, "expected a list, got " + NodeKind(node),
                "write a YAML list, such as [api-gateway, monitor]");
    return;
  }
  std::vector<std::string> items;
  for (const auto& item : node) {
    if (!item.IsScalar()) {
      state.Error(At(origin.name, item.Mark()), path, "expected a name, got " + NodeKind(item));
      return;
    }
    items.push_back(item.Scalar());
  }
  ParsedValue parsed = ParseList(spec, std::move(items));
  if (!parsed.value) {
    state.Error(origin, path, parsed.message, parsed.hint);
    return;
  }
  state.Set(spec, std::move(*parsed.value), origin);
}

void ApplyNode(const KeySpec& spec, const YAML::Node& node, const Origin& origin,
               LoadState& state) {
  if (spec.type == Type::kStringList) {
    ApplyList(spec, node, origin, state);
    return;
  }
  const std::string path(spec.path);
  if (node.IsNull()) {
    if (spec.type == Type::kString || spec.type == Type::kZmqEndpoint ||
        (spec.type == Type::kUrl && spec.min == 0)) {
      state.Set(spec, std::string(), origin);
      return;
    }
    state.Error(
        origin, path, "has no value",
        fmt::format("give it a value, or remove the key to use the default ({})",
                    spec.default_value.empty() ? "empty" : std::string(spec.default_value)));
    return;
  }
  if (!node.IsScalar()) {
    state.Error(origin, path,
                fmt::format("expected a {}, got {}", TypeName(spec.type), NodeKind(node)));
    return;
  }
  state.ApplyText(spec, node.Scalar(), origin);
}

// A top-level name that is no section: often a key written without its section ("port:").
void UnknownSection(const std::string& section, const Origin& at, LoadState& state) {
  const Schema& schema = state.schema();
  const auto sections = schema.SectionNames();
  std::vector<std::string> homes;
  for (const auto& s : sections) {
    auto keys = schema.KeysOf(s);
    if (std::find(keys.begin(), keys.end(), section) != keys.end())
      homes.push_back(fmt::format("{}.{}", s, section));
  }
  const std::string hint = !homes.empty()
                               ? fmt::format("'{}' is a key; write it under its section, as {}",
                                             section, Join(homes, " or "))
                               : "valid sections: " + Join(sections, ", ");
  state.Error(at, Printable(section), "unknown section" + DidYouMean(section, sections), hint);
}

void WalkSection(const std::string& section, const YAML::Node& body, const std::string& name,
                 LoadState& state) {
  const Schema& schema = state.schema();
  if (body.IsNull()) return;
  if (!body.IsMap()) {
    state.Error(At(name, body.Mark()), section,
                "a section must be a mapping of keys, not " + NodeKind(body),
                fmt::format("write keys under it, such as '{}:' then '  {}: ...'", section,
                            schema.KeysOf(section).front()));
    return;
  }
  std::map<std::string, int> seen_keys;
  for (const auto& pair : body) {
    const Origin at = At(name, pair.first.Mark());
    if (!pair.first.IsScalar()) {
      state.Error(at, section, "a key must be a plain word, not " + NodeKind(pair.first));
      continue;
    }
    const std::string key_name = pair.first.Scalar();
    const std::string path = fmt::format("{}.{}", section, key_name);
    if (auto [it, fresh] = seen_keys.emplace(key_name, at.line); !fresh) {
      state.Error(at, Printable(path),
                  fmt::format("key appears twice (first at line {})", it->second),
                  "keep one of them");
      continue;
    }
    const KeySpec* spec = schema.Find(path);
    if (spec == nullptr) {
      const auto keys = schema.KeysOf(section);
      state.Error(at, Printable(path), "unknown key" + DidYouMean(key_name, keys),
                  "valid keys in " + section + ": " + Join(keys, ", "));
      continue;
    }
    ApplyNode(*spec, pair.second, At(name, pair.second.Mark()), state);
  }
}

}  // namespace

void WalkYaml(std::string_view text, const std::string& name, LoadState& state) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    state.Error(At(name, e.mark), "", "not valid YAML: " + e.msg,
                "check the indentation and quoting around this position");
    return;
  } catch (const std::exception& e) {
    state.Error(Origin{Origin::Kind::kFile, name, 0, 0}, "",
                std::string("not valid YAML: ") + e.what());
    return;
  }

  try {
    if (root.IsNull()) return;  // an empty file: the defaults apply
    if (!root.IsMap()) {
      state.Error(At(name, root.Mark()), "",
                  "the top level is " + NodeKind(root) + ", not a mapping of sections",
                  "start with a section such as 'server:'");
      return;
    }
    const auto sections = state.schema().SectionNames();
    std::map<std::string, int> seen_sections;
    for (const auto& section_pair : root) {
      const YAML::Node& key = section_pair.first;
      const Origin key_at = At(name, key.Mark());
      if (!key.IsScalar()) {
        state.Error(key_at, "", "a section name must be a plain word, not " + NodeKind(key));
        continue;
      }
      const std::string section = key.Scalar();
      if (auto [it, fresh] = seen_sections.emplace(section, key_at.line); !fresh) {
        state.Error(key_at, section,
                    fmt::format("section appears twice (first at line {})", it->second),
                    "merge the two into one");
        continue;
      }
      if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
        UnknownSection(section, key_at, state);
        continue;
      }
      WalkSection(section, section_pair.second, name, state);
    }
  } catch (const YAML::Exception& e) {
    // yaml-cpp reports misuse of a node by throwing; no well-formed file reaches here.
    state.Error(At(name, e.mark), "", "unreadable YAML structure: " + e.msg);
  }
}

}  // namespace sg::config
