#include "config/load_state.h"

#include <fmt/format.h>

#include "common/result.h"
#include "config/value_parser.h"

namespace sg::config {
namespace {

constexpr size_t kMaxDiagnostics = 200;

}  // namespace

LoadState::LoadState(const Schema& schema, LoadResult& result) : schema_(schema), result_(result) {
  result_.config.set_schema(&schema_);
  for (const auto& spec : schema_.keys()) {
    ParsedValue parsed = spec.type == Type::kStringList ? ParseListText(spec, spec.default_value)
                                                        : ParseScalar(spec, spec.default_value);
    SG_CHECK(parsed.value.has_value());  // a default that fails its own schema is a bug
    result_.config.entries()[std::string(spec.path)] = Entry{*parsed.value, Origin{}};
  }
}

void LoadState::Report(Severity severity, Origin where, std::string key, std::string message,
                       std::string hint) {
  auto& diagnostics = result_.diagnostics;
  if (diagnostics.size() == kMaxDiagnostics) {
    diagnostics.push_back({Severity::kError, where, "",
                           fmt::format("too many problems; stopped after {}", kMaxDiagnostics),
                           "fix these and run again"});
  }
  if (diagnostics.size() > kMaxDiagnostics) return;
  diagnostics.push_back(
      {severity, std::move(where), std::move(key), std::move(message), std::move(hint)});
}

void LoadState::Error(const Origin& where, std::string key, std::string message, std::string hint) {
  Report(Severity::kError, where, std::move(key), std::move(message), std::move(hint));
}

void LoadState::Warn(const Origin& where, std::string key, std::string message, std::string hint) {
  Report(Severity::kWarning, where, std::move(key), std::move(message), std::move(hint));
}

void LoadState::Set(const KeySpec& spec, Value value, const Origin& origin) {
  result_.config.entries()[std::string(spec.path)] = Entry{std::move(value), origin};
}

void LoadState::ApplyText(const KeySpec& spec, std::string_view text, const Origin& origin) {
  ParsedValue parsed =
      spec.type == Type::kStringList ? ParseListText(spec, text) : ParseScalar(spec, text);
  if (!parsed.value) {
    Error(origin, std::string(spec.path), parsed.message, parsed.hint);
    return;
  }
  Set(spec, std::move(*parsed.value), origin);
}

}  // namespace sg::config
