#include "config/loader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include "common/result.h"
#include "common/strings.h"
#include "config/value_parser.h"

extern char** environ;  // NOLINT: POSIX declares it so

namespace sg::config {
namespace {

constexpr size_t kMaxDiagnostics = 200;

// Names the loader reads besides the schema keys, so that they draw no "unknown variable" warning.
const std::set<std::string>& ReservedEnvironment() {
  static const std::set<std::string> names = {"STREAMGATE_CONFIG", "STREAMGATE_ENDPOINT"};
  return names;
}

class Loader {
 public:
  explicit Loader(LoadResult& result) : result_(result) {
    for (const auto& spec : Schema()) {
      ParsedValue parsed = spec.type == Type::kStringList ? ParseListText(spec, spec.default_value)
                                                          : ParseScalar(spec, spec.default_value);
      SG_CHECK(parsed.value.has_value());  // a default that fails its own schema is a bug
      result_.config.entries()[std::string(spec.path)] = Entry{*parsed.value, Origin{}};
    }
  }

  void Report(Severity severity, Origin where, std::string key, std::string message,
              std::string hint = {}) {
    if (result_.diagnostics.size() == kMaxDiagnostics) {
      result_.diagnostics.push_back(
          {Severity::kError, where, "",
           fmt::format("too many problems; stopped after {}", kMaxDiagnostics),
           "fix these and run again"});
    }
    if (result_.diagnostics.size() > kMaxDiagnostics) return;
    result_.diagnostics.push_back(
        {severity, std::move(where), std::move(key), std::move(message), std::move(hint)});
  }

  void Error(const Origin& where, std::string key, std::string message, std::string hint = {}) {
    Report(Severity::kError, where, std::move(key), std::move(message), std::move(hint));
  }

  void Warn(const Origin& where, std::string key, std::string message, std::string hint = {}) {
    Report(Severity::kWarning, where, std::move(key), std::move(message), std::move(hint));
  }

  void Set(const KeySpec& spec, Value value, const Origin& origin) {
    result_.config.entries()[std::string(spec.path)] = Entry{std::move(value), origin};
  }

  // Applies text from the environment or a flag.
  void ApplyText(const KeySpec& spec, std::string_view text, const Origin& origin) {
    ParsedValue parsed =
        spec.type == Type::kStringList ? ParseListText(spec, text) : ParseScalar(spec, text);
    if (!parsed.value) {
      Error(origin, std::string(spec.path), parsed.message, parsed.hint);
      return;
    }
    Set(spec, std::move(*parsed.value), origin);
  }

  void LoadYaml(std::string_view text, const std::string& name);
  void LoadEnvironment(const Environment& env);
  void LoadOverrides(const std::vector<Override>& overrides);
  void ResolveAliases();
  void CheckSemantics();

 private:
  Origin At(const std::string& name, const YAML::Mark& mark) const {
    Origin origin{Origin::Kind::kFile, name, 0, 0};
    if (!mark.is_null()) {
      origin.line = mark.line + 1;
      origin.column = mark.column + 1;
    }
    return origin;
  }

  void ApplyNode(const KeySpec& spec, const YAML::Node& node, const Origin& origin);
  void CheckListeners();

  LoadResult& result_;
};

std::string NodeKind(const YAML::Node& node) {
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  if (node.IsNull()) return "nothing";
  return "'" + Printable(node.Scalar()) + "'";
}

// Finds the first byte that makes the text not UTF-8 (or a NUL); npos when it is clean.
size_t FindBinary(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == 0) return i;
    size_t extra = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0 && c >= 0xc2) {
      extra = 1;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
    } else if ((c & 0xf8) == 0xf0 && c <= 0xf4) {
      extra = 3;
    } else {
      return i;
    }
    if (i + extra >= text.size()) return i;
    for (size_t k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return i;
    }
    i += extra + 1;
  }
  return std::string_view::npos;
}

Origin PositionOf(std::string_view text, size_t offset, const std::string& name) {
  Origin origin{Origin::Kind::kFile, name, 1, 1};
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++origin.line;
      origin.column = 1;
    } else {
      ++origin.column;
    }
  }
  return origin;
}

void Loader::LoadYaml(std::string_view text, const std::string& name) {
  const Origin whole{Origin::Kind::kFile, name, 0, 0};
  if (text.size() > kMaxConfigBytes) {
    Error(whole, "",
          fmt::format("the file is {} bytes; the limit is {} bytes", text.size(), kMaxConfigBytes),
          "a configuration file is small YAML text: check that this is the right file");
    return;
  }
  const size_t binary = FindBinary(text);
  if (binary != std::string_view::npos) {
    Error(PositionOf(text, binary, name), "",
          fmt::format("not a text file: byte 0x{:02x} is not UTF-8",
                      static_cast<unsigned char>(text[binary])),
          "a configuration file is YAML text: check that this is the right file");
    return;
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    Error(At(name, e.mark), "", "not valid YAML: " + e.msg,
          "check the indentation and quoting around this position");
    return;
  } catch (const std::exception& e) {
    Error(whole, "", std::string("not valid YAML: ") + e.what());
    return;
  }

  try {
    if (root.IsNull()) return;  // an empty file: the defaults apply
    if (!root.IsMap()) {
      Error(At(name, root.Mark()), "",
            "the top level is " + NodeKind(root) + ", not a mapping of sections",
            "start with a section such as 'server:'");
      return;
    }
    std::map<std::string, int> seen_sections;
    for (const auto& section_pair : root) {
      const YAML::Node& key = section_pair.first;
      const YAML::Node& body = section_pair.second;
      const Origin key_at = At(name, key.Mark());
      if (!key.IsScalar()) {
        Error(key_at, "", "a section name must be a plain word, not " + NodeKind(key));
        continue;
      }
      const std::string section = key.Scalar();
      if (auto [it, fresh] = seen_sections.emplace(section, key_at.line); !fresh) {
        Error(key_at, section, fmt::format("section appears twice (first at line {})", it->second),
              "merge the two into one");
        continue;
      }
      const auto& sections = Sections();
      if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
        // A key written at the top level ("port:") is a common slip: point to its section.
        std::vector<std::string> homes;
        for (const auto& s : sections) {
          auto keys = KeysOf(s);
          if (std::find(keys.begin(), keys.end(), section) != keys.end())
            homes.push_back(fmt::format("{}.{}", s, section));
        }
        const std::string hint =
            !homes.empty() ? fmt::format("'{}' is a key; write it under its section, as {}",
                                         section, Join(homes, " or "))
                           : "valid sections: " + Join(sections, ", ");
        Error(key_at, Printable(section), "unknown section" + DidYouMean(section, sections), hint);
        continue;
      }
      if (body.IsNull()) continue;
      if (!body.IsMap()) {
        Error(At(name, body.Mark()), section,
              "a section must be a mapping of keys, not " + NodeKind(body),
              fmt::format("write keys under it, such as '{}:' then '  {}: ...'", section,
                          KeysOf(section).front()));
        continue;
      }
      std::map<std::string, int> seen_keys;
      for (const auto& pair : body) {
        const Origin at = At(name, pair.first.Mark());
        if (!pair.first.IsScalar()) {
          Error(at, section, "a key must be a plain word, not " + NodeKind(pair.first));
          continue;
        }
        const std::string key_name = pair.first.Scalar();
        const std::string path = fmt::format("{}.{}", section, key_name);
        if (auto [it, fresh] = seen_keys.emplace(key_name, at.line); !fresh) {
          Error(at, Printable(path),
                fmt::format("key appears twice (first at line {})", it->second),
                "keep one of them");
          continue;
        }
        const KeySpec* spec = FindKey(path);
        if (spec == nullptr) {
          const auto keys = KeysOf(section);
          Error(at, Printable(path), "unknown key" + DidYouMean(key_name, keys),
                "valid keys in " + section + ": " + Join(keys, ", "));
          continue;
        }
        ApplyNode(*spec, pair.second, At(name, pair.second.Mark()));
      }
    }
  } catch (const YAML::Exception& e) {
    // yaml-cpp reports misuse of a node by throwing; no well-formed file reaches here.
    Error(At(name, e.mark), "", "unreadable YAML structure: " + e.msg);
  }
}

void Loader::ApplyNode(const KeySpec& spec, const YAML::Node& node, const Origin& origin) {
  const std::string path(spec.path);
  if (spec.type == Type::kStringList) {
    if (node.IsNull()) {
      Set(spec, std::vector<std::string>{}, origin);
      return;
    }
    if (!node.IsSequence()) {
      Error(origin, path, "expected a list, got " + NodeKind(node),
            "write a YAML list, such as [api-gateway, monitor]");
      return;
    }
    std::vector<std::string> items;
    for (const auto& item : node) {
      if (!item.IsScalar()) {
        Error(At(origin.name, item.Mark()), path, "expected a name, got " + NodeKind(item));
        return;
      }
      items.push_back(item.Scalar());
    }
    ParsedValue parsed = ParseList(spec, std::move(items));
    if (!parsed.value) {
      Error(origin, path, parsed.message, parsed.hint);
      return;
    }
    Set(spec, std::move(*parsed.value), origin);
    return;
  }
  if (node.IsNull()) {
    if (spec.type == Type::kString || spec.type == Type::kZmqEndpoint ||
        (spec.type == Type::kUrl && spec.min == 0)) {
      Set(spec, std::string(), origin);
      return;
    }
    Error(origin, path, "has no value",
          fmt::format("give it a value, or remove the key to use the default ({})",
                      spec.default_value.empty() ? "empty" : std::string(spec.default_value)));
    return;
  }
  if (!node.IsScalar()) {
    Error(origin, path, fmt::format("expected a {}, got {}", TypeName(spec.type), NodeKind(node)));
    return;
  }
  ApplyText(spec, node.Scalar(), origin);
}

void Loader::LoadEnvironment(const Environment& env) {
  std::vector<std::string> known;
  for (const auto& spec : Schema()) {
    const std::string name = EnvName(spec.path);
    known.push_back(name);
    auto it = env.find(name);
    if (it == env.end()) continue;
    ApplyText(spec, it->second, Origin{Origin::Kind::kEnvironment, name, 0, 0});
  }
  for (const auto& [name, value] : env) {
    if (!name.starts_with("STREAMGATE_") || ReservedEnvironment().contains(name)) continue;
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    Warn(Origin{Origin::Kind::kEnvironment, name, 0, 0}, "",
         "unknown environment variable" + DidYouMean(name, known),
         "variables are named STREAMGATE_<SECTION>_<KEY>, such as STREAMGATE_SERVER_PORT");
  }
}

void Loader::LoadOverrides(const std::vector<Override>& overrides) {
  std::vector<std::string> paths;
  for (const auto& spec : Schema()) paths.emplace_back(spec.path);
  for (const auto& o : overrides) {
    const Origin origin{Origin::Kind::kFlag, o.flag, 0, 0};
    const KeySpec* spec = FindKey(o.key);
    if (spec == nullptr) {
      Error(origin, Printable(o.key), "unknown key" + DidYouMean(o.key, paths),
            "keys are written section.key, such as server.port");
      continue;
    }
    ApplyText(*spec, o.value, origin);
  }
}

void Loader::ResolveAliases() {
  auto& entries = result_.config.entries();
  for (const auto& spec : Schema()) {
    if (spec.alias_of.empty()) continue;
    const Entry& alias = entries.at(std::string(spec.path));
    Entry& target = entries.at(std::string(spec.alias_of));
    if (alias.origin.kind == Origin::Kind::kDefault) continue;
    if (alias.origin.kind > target.origin.kind) {
      target = alias;
    } else if (alias.origin.kind == target.origin.kind && alias.value != target.value) {
      const KeySpec* target_spec = FindKey(spec.alias_of);
      Error(alias.origin, std::string(spec.path),
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

void Loader::CheckListeners() {
  const Config& config = result_.config;
  struct Listener {
    std::string key;
    int64_t port;
    bool opened;
    std::string why_not;
  };
  std::vector<Listener> listeners = {
      {"server.port", config.Int("server.port"), config.PluginEnabled("api-gateway"),
       "the api-gateway plugin is not enabled"},
      {"monitoring.prometheus_port", config.Int("monitoring.prometheus_port"),
       config.PluginEnabled("monitor"), "the monitor plugin is not enabled"},
      {"grpc.port", config.Int("grpc.port"), false, "this release opens no gRPC listener"},
  };
  const std::string& endpoint = config.String("control.endpoint");
  if (endpoint.starts_with("tcp://")) {
    // Validated as tcp://HOST:PORT already, so the text after the last colon is a port.
    const int64_t port = std::stoll(endpoint.substr(endpoint.rfind(':') + 1));
    listeners.push_back({"control.endpoint", port, true, ""});
  }
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
        Error(where, at.key, message + ", and both listeners open in this mode",
              "give each listener its own port");
      } else {
        Warn(where, at.key,
             message + fmt::format(" (no clash now: {})", a.opened ? b.why_not : a.why_not),
             "give each listener its own port before enabling it");
      }
    }
  }
}

void Loader::CheckSemantics() {
  const Config& config = result_.config;
  for (const auto& spec : Schema()) {
    const Entry& entry = config.Get(spec.path);
    if (entry.origin.kind == Origin::Kind::kDefault) continue;
    const auto* text = std::get_if<std::string>(&entry.value);
    if (text == nullptr) continue;
    for (std::string_view marker : {"YOUR_", "CHANGEME", "changeme", "REPLACE_ME"}) {
      if (text->find(marker) != std::string::npos) {
        Warn(entry.origin, std::string(spec.path),
             fmt::format("the value looks like a placeholder (it contains {})", marker),
             "replace it with the real value before going to production");
        break;
      }
    }
    if (std::find(spec.weak.begin(), spec.weak.end(), *text) != spec.weak.end()) {
      Warn(entry.origin, std::string(spec.path), "is a well-known default credential",
           fmt::format("set a secret of your own, for example through {}", EnvName(spec.path)));
    }
  }
  const std::string& storage = config.String("storage.type");
  if (storage != "local") {
    for (const char* key : {"storage.accesskey", "storage.secretkey"}) {
      if (config.String(key).empty()) {
        Error(config.Get("storage.type").origin, key,
              fmt::format("is empty but storage.type is {}", storage),
              fmt::format("set {} or use storage.type: local", key));
      }
    }
  }
  const auto pair_needed = [&](const char* key, const char* partner, const char* why) {
    if (!config.String(key).empty() && config.String(partner).empty()) {
      Error(config.Get(key).origin, key, fmt::format("is set but {} is empty", partner), why);
    }
  };
  for (const auto& url : config.List("nats.urls")) {
    ParsedValue parsed = ParseScalar(*FindKey("nats.url"), url);
    if (!parsed.value)
      Error(config.Get("nats.urls").origin, "nats.urls", parsed.message, parsed.hint);
  }
  pair_needed("nats.user", "nats.password", "set nats.password too, or use nats.token");
  pair_needed("nats.tls_cert", "nats.tls_key",
              "a client certificate needs its key: set nats.tls_key");
  pair_needed("nats.tls_key", "nats.tls_cert", "set nats.tls_cert too");
  if (!config.String("nats.tls_cert").empty() && config.String("nats.tls_ca").empty()) {
    Error(config.Get("nats.tls_cert").origin, "nats.tls_cert", "is set but nats.tls_ca is empty",
          "TLS needs the CA that signed the server's certificate: set nats.tls_ca");
  }
  const auto& enabled = config.List("plugins.enabled");
  std::set<std::string> seen;
  for (const auto& name : enabled) {
    if (!seen.insert(name).second) {
      Warn(config.Get("plugins.enabled").origin, "plugins.enabled",
           fmt::format("'{}' is listed twice", name), "list each plugin once");
    }
  }
  CheckListeners();
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

std::optional<std::string> FindConfigFile(const Environment& env) {
  if (auto it = env.find("STREAMGATE_CONFIG"); it != env.end() && !it->second.empty()) {
    return it->second;
  }
  std::vector<std::string> candidates = {"streamgate.yaml"};
  if (auto it = env.find("XDG_CONFIG_HOME"); it != env.end() && !it->second.empty()) {
    candidates.push_back(it->second + "/streamgate/streamgate.yaml");
  } else if (auto home = env.find("HOME"); home != env.end() && !home->second.empty()) {
    candidates.push_back(home->second + "/.config/streamgate/streamgate.yaml");
  }
  candidates.emplace_back("/etc/streamgate/streamgate.yaml");
  for (const auto& path : candidates) {
    if (access(path.c_str(), F_OK) == 0) return path;
  }
  return std::nullopt;
}

namespace {

// Reads a file with every check a hostile path deserves; the text, or an error diagnostic.
std::optional<std::string> ReadConfigFile(const std::string& path, Loader& loader) {
  const Origin whole{Origin::Kind::kFile, path, 0, 0};
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    std::string hint = "check the path";
    if (err == EACCES) hint = "make the file readable by this user, or run as its owner";
    if (err == ENOENT) hint = "check the path, or leave out --config to use the built-in defaults";
    loader.Error(whole, "", fmt::format("cannot open: {}", std::strerror(err)), hint);
    return std::nullopt;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const bool dir = S_ISDIR(st.st_mode);
    close(fd);
    loader.Error(whole, "", dir ? "is a directory, not a file" : "is not a regular file",
                 "name the YAML file itself, such as /etc/streamgate/streamgate.yaml");
    return std::nullopt;
  }
  if (static_cast<size_t>(st.st_size) > kMaxConfigBytes) {
    close(fd);
    loader.Error(
        whole, "",
        fmt::format("the file is {} bytes; the limit is {} bytes", st.st_size, kMaxConfigBytes),
        "a configuration file is small YAML text: check that this is the right file");
    return std::nullopt;
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      loader.Error(whole, "", fmt::format("cannot read: {}", std::strerror(err)));
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxConfigBytes) break;  // the file grew while we read it
  }
  close(fd);
  return text;
}

LoadResult Run(const std::optional<std::string>& text_or_path, bool is_text,
               const std::string& name, const Environment& env,
               const std::vector<Override>& overrides) {
  LoadResult result;
  Loader loader(result);
  if (is_text) {
    loader.LoadYaml(*text_or_path, name);
    result.config.set_file(name);
  } else if (text_or_path) {
    result.config.set_file(*text_or_path);
    if (auto text = ReadConfigFile(*text_or_path, loader)) loader.LoadYaml(*text, *text_or_path);
  }
  loader.LoadEnvironment(env);
  loader.LoadOverrides(overrides);
  if (result.Errors() == 0) {
    // Cross-key checks need every value to be of its type; after a type error they would only
    // repeat the first problem in other words.
    loader.ResolveAliases();
    if (result.Errors() == 0) loader.CheckSemantics();
  }
  return result;
}

}  // namespace

LoadResult Load(const LoadOptions& options) {
  std::optional<std::string> path = options.path;
  if (!path && options.search) path = FindConfigFile(options.env);
  return Run(path, false, path.value_or(""), options.env, options.overrides);
}

LoadResult LoadText(std::string_view text, const std::string& name, const Environment& env,
                    const std::vector<Override>& overrides) {
  return Run(std::string(text), true, name, env, overrides);
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
