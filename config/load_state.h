// What the loader's stages share while one configuration loads: the schema, the values merged so
// far and the diagnostics. Internal to config/: the YAML walk, the file reader and the validator
// each take a LoadState.
#pragma once

#include <string>
#include <string_view>

#include "config/loader.h"
#include "config/schema.h"

namespace sg::config {

/// One load in progress. Starts with every key at its default; not thread-safe.
class LoadState {
 public:
  LoadState(const Schema& schema, LoadResult& result);
  LoadState(const LoadState&) = delete;
  LoadState& operator=(const LoadState&) = delete;

  const Schema& schema() const { return schema_; }
  const Config& config() const { return result_.config; }
  Config& config() { return result_.config; }
  size_t Errors() const { return result_.Errors(); }

  /// Adds a diagnostic; past the 200th, one "too many problems" error and then nothing.
  void Report(Severity severity, Origin where, std::string key, std::string message,
              std::string hint = {});
  void Error(const Origin& where, std::string key, std::string message, std::string hint = {});
  void Warn(const Origin& where, std::string key, std::string message, std::string hint = {});

  /// Sets a key's value, replacing what a lower source set.
  void Set(const KeySpec& spec, Value value, const Origin& origin);
  /// Parses text from the environment, a flag or a YAML scalar and sets it; an error otherwise.
  void ApplyText(const KeySpec& spec, std::string_view text, const Origin& origin);

 private:
  const Schema& schema_;
  LoadResult& result_;
};

}  // namespace sg::config
