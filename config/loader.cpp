#include "config/loader.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "common/strings.h"
#include "config/config_file.h"
#include "config/load_state.h"
#include "config/validator.h"
#include "config/yaml_walk.h"

extern char** environ;  // NOLINT: POSIX declares it so

namespace sg::config {
namespace {

// Names the loader reads besides the schema keys, so that they draw no "unknown variable" warning.
const std::set<std::string>& ReservedEnvironment() {
  static const std::set<std::string> names = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT",
                                              "STREAMGATE_TOKEN"};
  return names;
}

void LoadEnvironment(const Environment& env, LoadState& state) {
  std::vector<std::string> known;
  for (const auto& spec : state.schema().keys()) {
    const std::string name = EnvName(spec.path);
    known.push_back(name);
    auto it = env.find(name);
    if (it == env.end()) continue;
    state.ApplyText(spec, it->second, Origin{Origin::Kind::kEnvironment, name, 0, 0});
  }
  for (const auto& [name, value] : env) {
    if (!name.starts_with("STREAMGATE_") || ReservedEnvironment().contains(name)) continue;
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    state.Warn(Origin{Origin::Kind::kEnvironment, name, 0, 0}, "",
               "unknown environment variable" + DidYouMean(name, known),
               "variables are named STREAMGATE_<SECTION>_<KEY>, such as STREAMGATE_SERVER_PORT");
  }
}

void LoadOverrides(const std::vector<Override>& overrides, LoadState& state) {
  const std::vector<std::string> paths = state.schema().Paths();
  for (const auto& o : overrides) {
    const Origin origin{Origin::Kind::kFlag, o.flag, 0, 0};
    const KeySpec* spec = state.schema().Find(o.key);
    if (spec == nullptr) {
      state.Error(origin, Printable(o.key), "unknown key" + DidYouMean(o.key, paths),
                  "keys are written section.key, such as server.port");
      continue;
    }
    state.ApplyText(*spec, o.value, origin);
  }
}

// The sources above the file, then the checks across keys.
void Finish(const Environment& env, const std::vector<Override>& overrides, LoadState& state) {
  LoadEnvironment(env, state);
  LoadOverrides(overrides, state);
  // Cross-key checks need every value to be of its type; after a type error they would only
  // repeat the first problem in other words.
  if (state.Errors() != 0) return;
  ResolveAliases(state);
  if (state.Errors() == 0) CheckCrossKeys(state);
}

}  // namespace

size_t LoadResult::Errors() const {
  return static_cast<size_t>(
      std::count_if(diagnostics.begin(), diagnostics.end(),
                    [](const auto& d) { return d.severity == Severity::kError; }));
}

size_t LoadResult::Warnings() const { return diagnostics.size() - Errors(); }

bool LoadResult::Ok(bool strict) const { return Errors() == 0 && (!strict || Warnings() == 0); }

Environment ProcessEnvironment() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

LoadResult Load(const Schema& schema, const LoadOptions& options) {
  std::optional<std::string> path = options.path;
  if (!path && options.search) path = FindConfigFile(options.env);
  LoadResult result;
  LoadState state(schema, result);
  if (path) {
    result.config.set_file(*path);
    if (auto text = ReadConfigFile(*path, state); text && CheckText(*text, *path, state)) {
      WalkYaml(*text, *path, state);
    }
  }
  Finish(options.env, options.overrides, state);
  return result;
}

LoadResult LoadText(const Schema& schema, std::string_view text, const std::string& name,
                    const Environment& env, const std::vector<Override>& overrides) {
  LoadResult result;
  LoadState state(schema, result);
  result.config.set_file(name);
  if (CheckText(text, name, state)) WalkYaml(text, name, state);
  Finish(env, overrides, state);
  return result;
}

std::string Summary(const LoadResult& result, bool strict) {
  const std::string name =
      result.config.file().empty() ? std::string("built-in defaults") : result.config.file();
  const size_t errors = result.Errors();
  const size_t warnings = result.Warnings();
  const auto plural = [](size_t n, const char* word) {
    return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
  };
  if (result.Ok(strict)) {
    return fmt::format("{}: configuration is valid ({}, {})", name, plural(errors, "error"),
                       plural(warnings, "warning"));
  }
  return fmt::format("{}: configuration is invalid: {}, {}{}", name, plural(errors, "error"),
                     plural(warnings, "warning"),
                     errors == 0 ? " (warnings fail with --strict)" : "");
}

}  // namespace sg::config
