#include "common/paths.h"

#include <cstdlib>
#include <optional>
#include <string>

#include <catch2/catch.hpp>
#include <unistd.h>

namespace sg {
namespace {

// Sets (or with nullopt unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("the runtime directory: XDG_RUNTIME_DIR, else systemd's RUNTIME_DIRECTORY", "[paths]") {
  SECTION("a user's session names it") {
    ScopedEnv xdg("XDG_RUNTIME_DIR", "/run/user/1000");
    ScopedEnv unit("RUNTIME_DIRECTORY", "/run/streamgate");
    CHECK(RuntimeDir() == "/run/user/1000/streamgate");
  }
  SECTION("a system service has no session: the unit's RuntimeDirectory=, the first of several") {
    ScopedEnv xdg("XDG_RUNTIME_DIR", std::nullopt);
    ScopedEnv unit("RUNTIME_DIRECTORY", "/run/streamgate:/run/other");
    CHECK(RuntimeDir() == "/run/streamgate");
    CHECK(ControlEndpoint("") == "ipc:///run/streamgate/control.sock");
    CHECK(ControlEndpoint("") == SystemControlEndpoint());
    CHECK(PidFileFor(ControlEndpoint("")) == "/run/streamgate/streamgated.pid");
  }
  SECTION("neither: /run/streamgate for root, /tmp/streamgate-UID for others") {
    ScopedEnv xdg("XDG_RUNTIME_DIR", std::nullopt);
    ScopedEnv unit("RUNTIME_DIRECTORY", std::nullopt);
    CHECK(RuntimeDir() == (geteuid() == 0 ? std::string(kSystemRuntimeDir)
                                          : "/tmp/streamgate-" + std::to_string(geteuid())));
  }
}

TEST_CASE("the state folder: systemd's STATE_DIRECTORY, root's /var/lib, else the user's",
          "[paths]") {
  SECTION("a system service: the unit's StateDirectory=, the first of several") {
    ScopedEnv unit("STATE_DIRECTORY", "/var/lib/streamgate:/var/lib/other");
    CHECK(StateDir() == "/var/lib/streamgate");
    CHECK(SqliteFile("") == "/var/lib/streamgate/streamgate.db");
  }
  SECTION("by hand: /var/lib/streamgate for root, the XDG state home for others") {
    ScopedEnv unit("STATE_DIRECTORY", std::nullopt);
    ScopedEnv xdg("XDG_STATE_HOME", "/home/u/.state");
    ScopedEnv home("HOME", "/home/u");
    CHECK(StateDir() == (geteuid() == 0 ? "/var/lib/streamgate" : "/home/u/.state/streamgate"));
  }
  SECTION("no XDG state home: ~/.local/state; a relative one is ignored, as the spec says") {
    ScopedEnv unit("STATE_DIRECTORY", std::nullopt);
    ScopedEnv xdg("XDG_STATE_HOME", "relative/state");
    ScopedEnv home("HOME", "/home/u");
    if (geteuid() != 0) CHECK(StateDir() == "/home/u/.local/state/streamgate");
  }
  SECTION("a file that is set is kept as it is") {
    CHECK(SqliteFile("/srv/sg/catalogue.db") == "/srv/sg/catalogue.db");
  }
}

}  // namespace sg
