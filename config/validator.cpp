#include "config/validator.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <fmt/format.h>

#include "config/value_parser.h"

namespace sg::config {
namespace {

// A TCP port that the configuration has something listen on.
struct Listener {
  std::string key;
  int64_t port;
  bool opened;          // in this configuration
  std::string why_not;  // when not opened
};

// The listeners the declarations mark (KeySpec::listener), and a tcp:// control endpoint.
std::vector<Listener> Listeners(const Schema& schema, const Config& config) {
  std::vector<Listener> out;
  for (const auto& spec : schema.keys()) {
    if (!spec.listener) continue;
    const std::string key(spec.path);
    if (spec.owner.empty()) {
      out.push_back(
          {key, config.Int(key), false, fmt::format("this release opens no listener on {}", key)});
    } else {
      out.push_back({key, config.Int(key), config.PluginEnabled(spec.owner),
                     fmt::format("the {} plugin is not enabled", spec.owner)});
    }
  }
  const std::string& endpoint = config.String("control.endpoint");
  if (endpoint.starts_with("tcp://")) {
    // Validated as tcp://HOST:PORT already, so the text after the last colon is a port.
    const int64_t port = std::stoll(endpoint.substr(endpoint.rfind(':') + 1));
    out.push_back({"control.endpoint", port, true, ""});
  }
  return out;
}

void CheckListeners(LoadState& state) {
  const Config& config = state.config();
  const std::vector<Listener> listeners = Listeners(state.schema(), config);
  for (size_t i = 0; i < listeners.size(); ++i) {
    for (size_t j = i + 1; j < listeners.size(); ++j) {
      const Listener& a = listeners[i];
      const Listener& b = listeners[j];
      if (a.port == 0 || a.port != b.port) continue;
      // Report at the one that was set last: the higher source, or the later line of a file.
      const Entry& ea = config.Get(a.key);
      const Entry& eb = config.Get(b.key);
      const bool report_b = eb.origin.kind > ea.origin.kind ||
                            (eb.origin.kind == ea.origin.kind && eb.origin.line >= ea.origin.line);
      const Listener& at = report_b ? b : a;
      const Listener& other = report_b ? a : b;
      const Origin& where = report_b ? eb.origin : ea.origin;
      const std::string message = fmt::format("port {} is also {}", at.port, other.key);
      if (a.opened && b.opened) {
        state.Error(where, at.key, message + ", and both listeners open in this mode",
                    "give each listener its own port");
      } else {
        state.Warn(where, at.key,
                   message + fmt::format(" (no clash now: {})", a.opened ? b.why_not : a.why_not),
                   "give each listener its own port before enabling it");
      }
    }
  }
}

void CheckPlaceholders(LoadState& state) {
  const Config& config = state.config();
  for (const auto& spec : state.schema().keys()) {
    const Entry& entry = config.Get(spec.path);
    if (entry.origin.kind == Origin::Kind::kDefault) continue;
    const auto* text = std::get_if<std::string>(&entry.value);
    if (text == nullptr) continue;
    for (std::string_view marker : {"YOUR_", "CHANGEME", "changeme", "REPLACE_ME"}) {
      if (text->find(marker) != std::string::npos) {
        state.Warn(entry.origin, std::string(spec.path),
                   fmt::format("the value looks like a placeholder (it contains {})", marker),
                   "replace it with the real value before going to production");
        break;
      }
    }
    if (std::find(spec.weak.begin(), spec.weak.end(), *text) != spec.weak.end()) {
      state.Warn(
          entry.origin, std::string(spec.path), "is a well-known default credential",
          fmt::format("set a secret of your own, for example through {}", EnvName(spec.path)));
    }
  }
}

// web3.gate_contract is an address, web3.gate_token_id a decimal uint256.
void CheckGate(LoadState& state) {
  const Config& config = state.config();
  const std::string& contract = config.String("web3.gate_contract");
  const bool address = contract.size() == 42 && contract.starts_with("0x") &&
                       std::all_of(contract.begin() + 2, contract.end(), [](char c) {
                         return std::isxdigit(static_cast<unsigned char>(c));
                       });
  if (!contract.empty() && !address) {
    state.Error(config.Get("web3.gate_contract").origin, "web3.gate_contract",
                "is not a contract address", "write 0x and the contract's 40 hex digits, or \"\"");
  }
  const std::string& id = config.String("web3.gate_token_id");
  const bool decimal =
      !id.empty() && id.size() <= 78 &&
      std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!decimal) {
    state.Error(config.Get("web3.gate_token_id").origin, "web3.gate_token_id",
                "is not a decimal token id", "write the ERC-1155 token id in decimal, such as 7");
  }
}

}  // namespace

void ResolveAliases(LoadState& state) {
  auto& entries = state.config().entries();
  for (const auto& spec : state.schema().keys()) {
    if (spec.alias_of.empty()) continue;
    const Entry& alias = entries.at(std::string(spec.path));
    Entry& target = entries.at(std::string(spec.alias_of));
    if (alias.origin.kind == Origin::Kind::kDefault) continue;
    if (alias.origin.kind > target.origin.kind) {
      target = alias;
    } else if (alias.origin.kind == target.origin.kind && alias.value != target.value) {
      const KeySpec* target_spec = state.schema().Find(spec.alias_of);
      state.Error(alias.origin, std::string(spec.path),
                  fmt::format("{} conflicts with {} ({}, at {})", FormatValue(spec, alias.value),
                              spec.alias_of, FormatValue(*target_spec, target.value),
                              target.origin.Describe()),
                  fmt::format("{} is an old name for {}: keep only {}", spec.path, spec.alias_of,
                              spec.alias_of));
    }
  }
  // app.debug lowers the log level only where the level was not chosen explicitly.
  const Entry& debug = entries.at("app.debug");
  Entry& level = entries.at("logging.level");
  if (std::get<bool>(debug.value) && level.origin.kind == Origin::Kind::kDefault) {
    level = Entry{std::string("debug"), debug.origin};
  }
}

// Microservice mode on a backend that one process or host keeps to itself: it works on one host
// (every service reaches the same file or folder), not across hosts. A warning, not an error:
// `config validate --strict` fails on it.
void CheckSharedState(LoadState& state) {
  const Config& config = state.config();
  if (config.String("app.mode") != "microservice") return;
  const auto warn = [&](const char* key, const std::string& message, const char* hint) {
    state.Warn(config.Get(key).origin, key, message, hint);
  };
  // The plugins' keys are in the schema only when the plugins are built in.
  const auto is = [&](const char* key, const char* value) {
    return state.schema().Find(key) != nullptr && config.String(key) == value;
  };
  if (is("metadata.engine", "sqlite")) {
    warn("metadata.engine",
         "is sqlite in microservice mode: the catalogue is a file of the metadata process's "
         "host, so only one metadata instance, on one host, can serve it",
         "set metadata.engine: postgres (and the database.* keys) to run metadata instances on "
         "more than one host");
  }
  if (is("storage.type", "local")) {
    warn("storage.type",
         "is local in microservice mode: upload, transcoder and streaming must all reach the "
         "same folder, so they run on one host (or share a network filesystem)",
         "set storage.type: s3 (and storage.endpoint, storage.bucket and the keys) to spread "
         "them over hosts");
  }
  if (is("cache.backend", "memory")) {
    warn("cache.backend",
         "is memory in microservice mode: the entries live in one cache process, so a second "
         "cache instance would have entries of its own",
         "set cache.backend: redis (and redis.host, redis.port) to run more than one cache "
         "instance");
  }
}

void CheckCrossKeys(LoadState& state) {
  const Config& config = state.config();
  CheckPlaceholders(state);
  const std::string& storage = config.String("storage.type");
  if (storage != "local") {
    for (const char* key : {"storage.accesskey", "storage.secretkey"}) {
      if (config.String(key).empty()) {
        state.Error(config.Get("storage.type").origin, key,
                    fmt::format("is empty but storage.type is {}", storage),
                    fmt::format("set {} or use storage.type: local", key));
      }
    }
  }
  const auto pair_needed = [&](const char* key, const char* partner, const char* why) {
    if (!config.String(key).empty() && config.String(partner).empty()) {
      state.Error(config.Get(key).origin, key, fmt::format("is set but {} is empty", partner), why);
    }
  };
  for (const auto& url : config.List("nats.urls")) {
    ParsedValue parsed = ParseScalar(*state.schema().Find("nats.url"), url);
    if (!parsed.value)
      state.Error(config.Get("nats.urls").origin, "nats.urls", parsed.message, parsed.hint);
  }
  for (const auto& url : config.List("web3.rpc_fallbacks")) {
    ParsedValue parsed = ParseScalar(*state.schema().Find("web3.ethereum_rpc"), url);
    if (!parsed.value) {
      state.Error(config.Get("web3.rpc_fallbacks").origin, "web3.rpc_fallbacks", parsed.message,
                  parsed.hint);
    }
  }
  CheckGate(state);
  pair_needed("nats.user", "nats.password", "set nats.password too, or use nats.token");
  pair_needed("nats.tls_cert", "nats.tls_key",
              "a client certificate needs its key: set nats.tls_key");
  pair_needed("nats.tls_key", "nats.tls_cert", "set nats.tls_cert too");
  if (!config.String("nats.tls_cert").empty() && config.String("nats.tls_ca").empty()) {
    state.Error(config.Get("nats.tls_cert").origin, "nats.tls_cert",
                "is set but nats.tls_ca is empty",
                "TLS needs the CA that signed the server's certificate: set nats.tls_ca");
  }
  std::set<std::string> seen;
  for (const auto& name : config.List("plugins.enabled")) {
    if (!seen.insert(name).second) {
      state.Warn(config.Get("plugins.enabled").origin, "plugins.enabled",
                 fmt::format("'{}' is listed twice", name), "list each plugin once");
    }
  }
  CheckListeners(state);
  CheckSharedState(state);
}

}  // namespace sg::config
