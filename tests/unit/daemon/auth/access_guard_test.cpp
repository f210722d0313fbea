// The "access" guard's keys file: made private at first start, refused when others may read it,
// rotated with an overlap; and the checks it makes of a request's token.
#include "daemon/plugin_api/access_guard.h"

#include <ctime>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <sys/stat.h>

#include "config/loader.h"
#include "daemon/plugins/builtin_config.h"

namespace sg {
namespace {

struct Dir {
  Dir() {
    path = std::filesystem::temp_directory_path() /
           ("sg-guard-" + std::to_string(::getpid()) + "-" + std::to_string(++count));
    std::filesystem::create_directories(path);
  }
  ~Dir() { std::filesystem::remove_all(path); }
  std::filesystem::path path;
  static inline int count = 0;
};

config::LoadResult ConfigFor(const std::string& keys_file, bool required = true) {
  config::LoadOptions options;
  options.search = false;
  options.overrides = {{"auth.keys_file", keys_file, "--set"},
                       {"auth.required", required ? "true" : "false", "--set"}};
  return config::Load(plugins::BuiltinSchema(), options);
}

HttpRequest WithHeader(const std::string* authorization) {
  HttpRequest req;
  req.header_ctx = authorization;
  req.header_fn = [](const void* ctx, std::string_view name) -> std::string_view {
    const auto* value = static_cast<const std::string*>(ctx);
    if (value == nullptr || name != "Authorization") return {};
    return *value;
  };
  return req;
}

std::string TokenFor(const AccessGuard& guard, const std::string& scope) {
  Claims c;
  c.subject = "alice";
  c.scope = scope;
  c.issued_at = static_cast<int64_t>(std::time(nullptr));
  c.expires = c.issued_at + 600;
  auto t = SignJwt(*guard.Keys(), c);
  REQUIRE(t);
  return *t;
}

}  // namespace

TEST_CASE("the keys file is made mode 0600 at first open, and read again after", "[auth]") {
  Dir dir;
  const std::string file = (dir.path / "sub" / "keys.json").string();
  auto loaded = ConfigFor(file);
  REQUIRE(loaded.Ok());
  auto first = AccessGuard::Open(loaded.config);
  REQUIRE(first);
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto second = AccessGuard::Open(loaded.config);
  REQUIRE(second);
  REQUIRE((*first)->Keys()->keys().size() == 1);
  CHECK((*first)->Keys()->keys()[0].secret == (*second)->Keys()->keys()[0].secret);
}

TEST_CASE("a keys file others may read, or that is not one, is refused with what to do", "[auth]") {
  Dir dir;
  const std::string file = (dir.path / "keys.json").string();
  auto loaded = ConfigFor(file);
  REQUIRE(AccessGuard::Open(loaded.config));
  ::chmod(file.c_str(), 0644);
  auto open = AccessGuard::Open(loaded.config);
  REQUIRE_FALSE(open);
  CHECK_THAT(open.error().message, Catch::Contains("chmod 600"));
  std::ofstream(file, std::ios::trunc) << "{\"keys\": [{\"id\": 1}]";
  ::chmod(file.c_str(), 0600);
  open = AccessGuard::Open(loaded.config);
  REQUIRE_FALSE(open);
  CHECK(open.error().code == ErrorCode::kConfig);
  CHECK_THAT(open.error().message, Catch::Contains(file));
  // A field of the wrong type, as a hand edit leaves it, is named; nothing throws.
  std::ofstream(file, std::ios::trunc) << R"({"keys": [{"id": "k1", "secret": ")"
                                       << std::string(43, 'A') << R"(", "retire_ms": "soon"}]})";
  open = AccessGuard::Open(loaded.config);
  REQUIRE_FALSE(open);
  CHECK(open.error().code == ErrorCode::kConfig);
  CHECK_THAT(open.error().message, Catch::Contains("\"retire_ms\" that is not a whole number"));
}

TEST_CASE("the guard answers 401, 403, or the principal", "[auth]") {
  Dir dir;
  auto loaded = ConfigFor((dir.path / "keys.json").string());
  auto guard = AccessGuard::Open(loaded.config);
  REQUIRE(guard);
  const AccessGuard& g = **guard;

  auto none = g.Require(WithHeader(nullptr), kScopeWrite);
  REQUIRE(std::holds_alternative<HttpResponse>(none));
  CHECK(std::get<HttpResponse>(none).status == 401);

  const std::string reader = "Bearer " + TokenFor(g, "videos:read");
  auto narrow = g.Require(WithHeader(&reader), kScopeWrite);
  REQUIRE(std::holds_alternative<HttpResponse>(narrow));
  CHECK(std::get<HttpResponse>(narrow).status == 403);

  const std::string writer = "bearer  " + TokenFor(g, "videos:write videos:read");
  auto ok = g.Require(WithHeader(&writer), kScopeWrite);
  REQUIRE(std::holds_alternative<Principal>(ok));
  CHECK(std::get<Principal>(ok).subject == "alice");
  CHECK_FALSE(std::get<Principal>(ok).anonymous);

  const std::string junk = "Bearer a.b.c";
  CHECK(g.Identify(WithHeader(&junk)).anonymous);
}

TEST_CASE("with auth.required false a request without a token passes; a bad token does not",
          "[auth]") {
  Dir dir;
  auto loaded = ConfigFor((dir.path / "keys.json").string(), false);
  auto guard = AccessGuard::Open(loaded.config);
  REQUIRE(guard);
  auto open = (*guard)->Require(WithHeader(nullptr), kScopeWrite);
  REQUIRE(std::holds_alternative<Principal>(open));
  CHECK(std::get<Principal>(open).anonymous);
  const std::string bad = "Bearer nope";
  auto refused = (*guard)->Require(WithHeader(&bad), kScopeWrite);
  REQUIRE(std::holds_alternative<HttpResponse>(refused));
  CHECK(std::get<HttpResponse>(refused).status == 401);
}

TEST_CASE("rotation: a new key signs, the previous one verifies for the overlap only", "[auth]") {
  Dir dir;
  auto loaded = ConfigFor((dir.path / "keys.json").string());
  auto guard = AccessGuard::Open(loaded.config);
  REQUIRE(guard);
  AccessGuard& g = **guard;
  const std::string before = "Bearer " + TokenFor(g, "videos:write");
  auto cap = g.Capability("vid1", "alice.smith@example");  // a subject it must clean up
  REQUIRE(cap);

  auto kid = g.Rotate(std::chrono::hours(1));
  REQUIRE(kid);
  CHECK(g.Keys()->Signing()->id == *kid);
  CHECK(g.Keys()->keys().size() == 2);
  CHECK(std::holds_alternative<Principal>(g.Require(WithHeader(&before), kScopeWrite)));
  CHECK(VerifyCapability(*g.Keys(), *cap, "vid1", static_cast<int64_t>(std::time(nullptr))));

  // No overlap: the old key goes at once.
  REQUIRE(g.Rotate(std::chrono::seconds(0)));
  CHECK(g.Keys()->keys().size() == 1);
  CHECK(std::holds_alternative<HttpResponse>(g.Require(WithHeader(&before), kScopeWrite)));
}

}  // namespace sg
