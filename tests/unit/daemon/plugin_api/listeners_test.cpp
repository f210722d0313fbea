#include "daemon/plugin_api/listeners.h"

#include <catch2/catch.hpp>

namespace sg {

TEST_CASE("listeners give each a URL a local client can use", "[listeners]") {
  Listeners listeners;
  listeners.Set("http", "0.0.0.0", 8080);
  listeners.Set("metrics", "::", 9100, "/metrics");
  listeners.Set("v6", "fd00::1", 81);
  listeners.Set("named", "localhost", 82);

  const auto all = listeners.All();
  CHECK(all.at("http") == "http://127.0.0.1:8080");
  CHECK(all.at("metrics") == "http://[::1]:9100/metrics");
  CHECK(all.at("v6") == "http://[fd00::1]:81");
  CHECK(all.at("named") == "http://localhost:82");

  listeners.Set("http", "127.0.0.1", 8081);  // a reload to another port
  listeners.Remove("metrics");               // its plugin stopped
  CHECK(listeners.All().at("http") == "http://127.0.0.1:8081");
  CHECK(listeners.All().count("metrics") == 0);
}

}  // namespace sg
