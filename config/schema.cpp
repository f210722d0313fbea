#include "config/schema.h"

#include <algorithm>
#include <cctype>

#include "common/result.h"
#include "common/services.h"

namespace sg::config {

std::vector<std::string> ConfigDeclaration::Reads() const {
  std::vector<std::string> out;
  for (const auto& section : sections) out.push_back(std::string(section.name) + ".");
  for (const auto key : also_reads) out.emplace_back(key);
  return out;
}

Schema::Schema(const std::vector<ConfigDeclaration>& declarations) {
  for (const auto& declaration : declarations) {
    for (SectionSpec section : declaration.sections) {
      // Each section has one owner, and at least one key.
      SG_CHECK(!section.keys.empty());
      SG_CHECK(std::none_of(sections_.begin(), sections_.end(),
                            [&](const SectionSpec& s) { return s.name == section.name; }));
      for (KeySpec& key : section.keys) {
        // A key outside its section, or declared twice, is a bug in a declaration.
        SG_CHECK(key.path.size() > section.name.size() + 1 && key.path.starts_with(section.name) &&
                 key.path[section.name.size()] == '.');
        SG_CHECK(Find(key.path) == nullptr);
        key.owner = declaration.owner;
        keys_.push_back(key);
      }
      sections_.push_back(std::move(section));
    }
  }
}

const KeySpec* Schema::Find(std::string_view path) const {
  for (const auto& spec : keys_) {
    if (spec.path == path) return &spec;
  }
  return nullptr;
}

std::vector<std::string> Schema::SectionNames() const {
  std::vector<std::string> out;
  for (const auto& section : sections_) {
    out.emplace_back(section.name);
  }
  return out;
}

std::vector<std::string> Schema::KeysOf(std::string_view section) const {
  std::vector<std::string> out;
  for (const auto& spec : keys_) {
    const size_t dot = spec.path.find('.');
    if (spec.path.substr(0, dot) == section) out.emplace_back(spec.path.substr(dot + 1));
  }
  return out;
}

std::vector<std::string> Schema::Paths() const {
  std::vector<std::string> out;
  for (const auto& spec : keys_) out.emplace_back(spec.path);
  return out;
}

std::string EnvName(std::string_view path) {
  std::string out = "STREAMGATE_";
  for (char c : path) {
    out += (c == '.' || c == '-') ? '_'
                                  : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

const std::vector<std::string>& ServiceNames() {
  static const std::vector<std::string> names(kServiceNames.begin(), kServiceNames.end());
  return names;
}

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kBool:
      return "boolean";
    case Type::kInt:
      return "integer";
    case Type::kPort:
      return "port";
    case Type::kDuration:
      return "duration";
    case Type::kSize:
      return "size";
    case Type::kString:
      return "string";
    case Type::kEnum:
      return "enum";
    case Type::kUrl:
      return "url";
    case Type::kHost:
      return "host";
    case Type::kHostPort:
      return "host:port";
    case Type::kZmqEndpoint:
      return "endpoint";
    case Type::kStringList:
      return "list";
  }
  return "string";
}

}  // namespace sg::config
