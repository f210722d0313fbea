#include "daemon/plugin_api/access_guard.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/paths.h"
#include "daemon/plugin_api/catalogue_json.h"

namespace sg {
namespace {

using json = nlohmann::json;

constexpr auto kRecheck = std::chrono::seconds(3);

int64_t NowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

int64_t NowMilliseconds() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return Fail(ErrorCode::kInternal, "the system's random source (OpenSSL RAND_bytes) failed");
  }
  return out;
}

// One key of the file, with when it was made.
struct StoredKey {
  AccessKey key;
  int64_t created_ms = 0;
  int64_t retire_ms = 0;  // after a rotation: when it stops verifying (0: never)
};

Result<StoredKey> NewKey() {
  auto secret = RandomBytes(32);
  if (!secret) return secret.error();
  auto tag = RandomBytes(4);
  if (!tag) return tag.error();
  StoredKey k;
  k.created_ms = NowMilliseconds();
  k.key.id = "k" + Base64UrlEncode(*tag);  // 7 path-safe characters
  k.key.secret = std::move(*secret);
  return k;
}

std::string Serialize(const std::vector<StoredKey>& keys) {
  json list = json::array();
  for (const auto& k : keys) {
    list.push_back({{"id", k.key.id},
                    {"secret", Base64UrlEncode(k.key.secret)},
                    {"created_at", FormatTimeMs(k.created_ms)},
                    {"created_ms", k.created_ms},
                    {"retire_ms", k.retire_ms}});
  }
  return json({{"keys", list}}).dump(2) + "\n";
}

Result<std::vector<StoredKey>> Parse(const std::string& path, const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Fail(ErrorCode::kConfig,
                fmt::format("{}: {}; fix the file, or move it away and restart to make a new one "
                            "(tokens and playback URLs signed with the old keys then stop "
                            "working)",
                            path, why));
  };
  const json doc = json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    return bad("not a keys file (a JSON object with a \"keys\" list)");
  }
  std::vector<StoredKey> keys;
  for (const auto& k : doc["keys"]) {
    if (!k.is_object() || !k.value("id", json()).is_string() ||
        !k.value("secret", json()).is_string()) {
      return bad("a key without a string \"id\" and \"secret\"");
    }
    StoredKey s;
    s.key.id = k["id"].get<std::string>();
    auto secret = Base64UrlDecode(k["secret"].get<std::string>());
    if (!secret || secret->size() < 32) {
      return bad("key '" + s.key.id + "' has a secret that is not 32 or more base64url bytes");
    }
    s.key.secret = std::move(*secret);
    for (const auto& [field, into] :
         {std::pair{"created_ms", &s.created_ms}, std::pair{"retire_ms", &s.retire_ms}}) {
      if (!k.contains(field)) continue;
      if (!k[field].is_number_integer()) {
        return bad(
            fmt::format("key '{}' has a \"{}\" that is not a whole number", s.key.id, field));
      }
      *into = k[field].get<int64_t>();
    }
    keys.push_back(std::move(s));
  }
  if (keys.empty()) return bad("the file holds no key");
  return keys;
}

// Writes the file under a temporary name and renames it over, mode 0600: readers see the old
// keys or the new ones, never half a file. With `exclusive`, a file made meanwhile by another
// process wins (link(2) refuses to replace), and the caller reads that one.
Result<void> WriteKeys(const std::string& path, const std::vector<StoredKey>& keys,
                       bool exclusive) {
  const std::filesystem::path p(path);
  if (p.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(p.parent_path(), ec);
  }
  const std::string tmp = fmt::format("{}.{}.tmp", path, ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Fail(ErrorCode::kConfig, fmt::format("cannot write the auth keys file {}: {}; make its "
                                                "folder writable by the daemon's user, or set "
                                                "auth.keys_file",
                                                tmp, std::strerror(errno)));
  }
  const std::string text = Serialize(keys);
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written) {
    ::unlink(tmp.c_str());
    return Fail(ErrorCode::kIo, "cannot write the auth keys file " + tmp);
  }
  const int done =
      exclusive ? ::link(tmp.c_str(), path.c_str()) : ::rename(tmp.c_str(), path.c_str());
  const int err = errno;
  ::unlink(tmp.c_str());
  if (done != 0 && !(exclusive && err == EEXIST)) {
    return Fail(ErrorCode::kIo,
                fmt::format("cannot put the auth keys file at {}: {}", path, std::strerror(err)));
  }
  return {};
}

struct Loaded {
  std::vector<StoredKey> keys;
  int64_t mtime_ns = 0;
};

Result<Loaded> ReadKeys(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Fail(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kConfig,
                fmt::format("cannot read the auth keys file {}: {}", path, std::strerror(errno)));
  }
  if ((st.st_mode & 077) != 0) {
    return Fail(ErrorCode::kConfig,
                fmt::format("the auth keys file {} may be read by other users (mode {:o}); anyone "
                            "with it can sign tokens. Run: chmod 600 {}",
                            path, st.st_mode & 0777, path));
  }
  std::ifstream in(path);
  if (!in) {
    return Fail(ErrorCode::kConfig,
                fmt::format("cannot read the auth keys file {}: {}; it must be readable by the "
                            "daemon's user",
                            path, std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  auto keys = Parse(path, text.str());
  if (!keys) return keys.error();
  return Loaded{std::move(*keys),
                static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

// The keys that verify now: the first (it signs) always, the others until they retire.
KeyRing Ring(const std::vector<StoredKey>& keys, int64_t now_ms) {
  std::vector<AccessKey> out;
  out.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i == 0 || keys[i].retire_ms == 0 || keys[i].retire_ms > now_ms) out.push_back(keys[i].key);
  }
  return KeyRing(std::move(out));
}

}  // namespace

std::string BearerToken(const HttpRequest& req) {
  std::string_view h = req.Header("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (h.size() <= kBearer.size()) return {};
  for (size_t i = 0; i < kBearer.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(h[i])) !=
        std::tolower(static_cast<unsigned char>(kBearer[i]))) {
      return {};
    }
  }
  h.remove_prefix(kBearer.size());
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  return std::string(h);
}

HttpResponse AccessProblem(unsigned status, std::string_view code, std::string_view message,
                           std::string_view hint) {
  HttpResponse res;
  res.status = status;
  res.body = json({{"error", message}, {"code", code}, {"hint", hint}}).dump();
  res.headers.emplace_back("Cache-Control", "no-store");
  if (status == 401) {
    res.headers.emplace_back(
        "WWW-Authenticate",
        fmt::format(
            "Bearer realm=\"streamgate\", error=\"invalid_token\", error_description=\"{}\"",
            code));
  }
  return res;
}

std::string AccessGuard::KeysFile(const config::Config& config) {
  std::string configured = config.String("auth.keys_file");
  if (!configured.empty()) return configured;
  // Beside the SQLite catalogue: a deployment's state in one folder.
  const std::filesystem::path db(SqliteFile(config.String("metadata.sqlite_path")));
  return (db.parent_path() / "auth-keys.json").string();
}

Result<std::shared_ptr<AccessGuard>> AccessGuard::Open(const config::Config& config) {
  const std::string path = KeysFile(config);
  auto loaded = ReadKeys(path);
  if (!loaded && loaded.error().code == ErrorCode::kNotFound) {
    auto fresh = NewKey();
    if (!fresh) return fresh.error();
    if (auto written = WriteKeys(path, {*fresh}, true); !written) return written.error();
    loaded = ReadKeys(path);
  }
  if (!loaded) return loaded.error();
  auto guard = std::make_shared<AccessGuard>(
      path, Ring(loaded->keys, NowMilliseconds()), config.Bool("auth.required"),
      std::chrono::duration_cast<std::chrono::seconds>(config.Duration("auth.capability_ttl")));
  guard->mtime_ns_ = loaded->mtime_ns;
  return guard;
}

AccessGuard::AccessGuard(std::string path, KeyRing keys, bool required,
                         std::chrono::seconds capability_ttl)
    : path_(std::move(path)),
      required_(required),
      capability_ttl_(capability_ttl),
      keys_(std::make_shared<const KeyRing>(std::move(keys))),
      next_check_(std::chrono::steady_clock::now() + kRecheck) {}

void AccessGuard::Refresh() const {
  // At most one stat(2) every few seconds; a new file is read and swapped in whole.
  const auto now = std::chrono::steady_clock::now();
  if (now < next_check_ || path_.empty()) return;
  next_check_ = now + kRecheck;
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return;
  const int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  // Read again when the file changed, and every check anyway while a key waits to retire.
  if (mtime == mtime_ns_ && keys_->keys().size() < 2) return;
  auto loaded = ReadKeys(path_);
  if (!loaded) return;  // keep the keys we have; the daemon's next start says what is wrong
  keys_ = std::make_shared<const KeyRing>(Ring(loaded->keys, NowMilliseconds()));
  mtime_ns_ = loaded->mtime_ns;
}

std::shared_ptr<const KeyRing> AccessGuard::Keys() const {
  std::lock_guard lock(mu_);
  Refresh();
  return keys_;
}

std::variant<Principal, HttpResponse> AccessGuard::Require(const HttpRequest& req,
                                                           std::string_view scope) const {
  const std::string token = BearerToken(req);
  if (token.empty()) {
    if (!required_) return Principal{};
    return AccessProblem(401, "unauthenticated", "this needs a token (Authorization: Bearer TOKEN)",
                         "get one with 'streamgate auth token' on the daemon's machine, or "
                         "POST /api/v1/auth/token with an API key ('streamgate auth keys "
                         "create')");
  }
  auto claims = VerifyJwt(*Keys(), token, NowSeconds());
  if (!claims) {
    return AccessProblem(401, "invalid_token", claims.error().message,
                         "get a new token: POST /api/v1/auth/token, or 'streamgate auth token'");
  }
  if (!claims->HasScope(scope)) {
    return AccessProblem(
        403, "insufficient_scope",
        fmt::format("the token does not carry the scope '{}' (it has '{}')", scope, claims->scope),
        fmt::format("ask for a token with scope {}", scope));
  }
  return Principal{claims->subject, claims->scope, false};
}

Principal AccessGuard::Identify(const HttpRequest& req) const {
  const std::string token = BearerToken(req);
  if (token.empty()) return {};
  auto claims = VerifyJwt(*Keys(), token, NowSeconds());
  if (!claims) return {};
  return Principal{claims->subject, claims->scope, false};
}

Result<std::string> AccessGuard::Capability(const std::string& video, const std::string& subject,
                                            std::optional<std::chrono::seconds> ttl) const {
  sg::Capability cap;
  cap.video = video;
  cap.scope = "play";
  // The subject is for the log only: characters a capability cannot carry become '_'.
  cap.subject = subject.substr(0, 128);
  for (char& c : cap.subject) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != ':' && c != '_' && c != '-') c = '_';
  }
  cap.expires = NowSeconds() + ttl.value_or(capability_ttl_).count();
  return SignCapability(*Keys(), cap);
}

Result<std::string> AccessGuard::Rotate(std::chrono::seconds overlap) {
  std::lock_guard lock(mu_);
  auto loaded = ReadKeys(path_);
  if (!loaded) return loaded.error();
  auto fresh = NewKey();
  if (!fresh) return fresh.error();
  std::vector<StoredKey> keys = {*fresh};
  // The previous signing key keeps verifying for the overlap (its tokens and playback URLs
  // keep working), then retires; keys retired before go now.
  if (!loaded->keys.empty() && overlap.count() > 0) {
    StoredKey previous = loaded->keys.front();
    previous.retire_ms = NowMilliseconds() + overlap.count() * 1000;
    keys.push_back(std::move(previous));
  }
  if (auto written = WriteKeys(path_, keys, false); !written) return written.error();
  keys_ = std::make_shared<const KeyRing>(Ring(keys, NowMilliseconds()));
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) {
    mtime_ns_ = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  }
  return fresh->key.id;
}

}  // namespace sg
