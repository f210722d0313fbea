#include "daemon/plugins/api_gateway/api_gateway.h"

#include <filesystem>

#include <catch2/catch.hpp>

#include "daemon/plugins/api_gateway/web_site.h"
#include "daemon/plugins/cache/cache_plugin.h"
#include "tests/support/fake_plugin_context.h"
#include "tests/support/process.h"

namespace sg::plugins {
namespace {

using test::FakePluginContext;

struct Gateway {
  explicit Gateway(std::vector<std::string> overrides = {"server.port=0"}) : f(overrides) {
    REQUIRE(plugin->Init(f.context).has_value());
    listener = f.listeners->Get("http");
    REQUIRE(listener != nullptr);
  }
  FakePluginContext f;
  std::unique_ptr<Plugin> plugin = MakeApiGateway();
  test::FakeListener* listener = nullptr;
};

}  // namespace

TEST_CASE("the gateway opens its listener through the plugin API and serves health",
          "[plugins][gateway]") {
  Gateway g;

  REQUIRE(g.plugin->Start().has_value());
  g.f.view->status.overall = HealthStatus::kDegraded;

  CHECK(g.listener->spec.config_key == "server.port");
  CHECK(g.listener->running());
  const HttpResponse health = g.listener->routes.Call("GET", "/health");
  CHECK(health.status == 503);
  CHECK(health.body == R"({"status":"degraded"})");
  CHECK(g.f.services.Find<Router>("http.router").has_value());
  CHECK(g.f.services.Find<HttpStats>("http.stats").has_value());

  g.plugin->Stop(Clock::now());
  CHECK_FALSE(g.listener->running());
  CHECK(g.plugin->CheckHealth().status == HealthStatus::kUnhealthy);
}

std::string HeaderOf(const HttpResponse& res, const std::string& name) {
  for (const auto& [k, v] : res.headers)
    if (k == name) return v;
  return "";
}

TEST_CASE("the gateway serves the web page's folder as it was at start, and nothing else",
          "[plugins][gateway][web]") {
  test::TempDir root;
  std::filesystem::create_directories(root.path() + "/assets");
  root.Write("index.html", "<!doctype html>");
  root.Write("assets/app.0123456789ab.js", "export {};");
  root.Write("assets/hls.min.0123456789ab.js", "");
  root.Write("assets/notes.txt", "not served");
  root.Write("assets/.hidden.js", "not served");
  Gateway g({"server.port=0", "server.web_root=" + root.path()});
  REQUIRE(g.plugin->Start().has_value());
  root.Write("assets/later.0123456789ab.js", "added after the start: not served");

  const HttpResponse page = g.listener->routes.Call("GET", "/");
  CHECK(page.status == 200);
  CHECK(page.file == root.path() + "/index.html");
  CHECK(page.content_type == "text/html; charset=utf-8");
  CHECK(HeaderOf(page, "Cache-Control") == "no-cache");
  for (const char* name : {"app.0123456789ab.js", "hls.min.0123456789ab.js"}) {
    INFO(name);
    const HttpResponse js = g.listener->routes.Call("GET", std::string("/assets/") + name);
    CHECK(js.status == 200);
    CHECK(js.file == root.path() + "/assets/" + name);
    CHECK(js.content_type == "text/javascript; charset=utf-8");
    CHECK(HeaderOf(js, "Cache-Control") == "public, max-age=31536000, immutable");
  }
  for (const char* name :
       {"notes.txt", ".hidden.js", "later.0123456789ab.js", "..", "missing.js"}) {
    INFO(name);
    const HttpResponse res = g.listener->routes.Call("GET", std::string("/assets/") + name);
    CHECK(res.status == 404);
    CHECK(res.file.empty());
  }
  g.plugin->Stop(Clock::now());
}

TEST_CASE("without a web page, / answers 404 naming server.web_root", "[plugins][gateway][web]") {
  test::TempDir empty;
  Gateway g({"server.port=0", "server.web_root=" + empty.path()});
  REQUIRE(g.plugin->Start().has_value());
  const HttpResponse page = g.listener->routes.Call("GET", "/");
  CHECK(page.status == 404);
  CHECK(page.file.empty());
  CHECK(page.body.find("server.web_root") != std::string::npos);
  g.plugin->Stop(Clock::now());
}

TEST_CASE("asset names: words and dots with a known extension, never a path", "[plugins][web]") {
  for (const char* good : {"app.0123456789ab.js", "app.css", "hls.min.a56a4f0328b1.js",
                           "favicon.svg", "icon-192_x.png", "site.ico", "data.json"}) {
    INFO(good);
    CHECK(web::IsAssetName(good));
  }
  for (const char* bad : {"", ".js", ".hidden.js", "a..js", "../etc/passwd", "a/b.js", "a%2fb.js",
                          "notes.txt", "app.js.map", "index.html ", "app.js\\0", ".."}) {
    INFO(bad);
    CHECK_FALSE(web::IsAssetName(bad));
  }
  CHECK(web::ContentType("a.css") == "text/css; charset=utf-8");
  CHECK(web::ContentType("a.svg") == "image/svg+xml");
  CHECK_FALSE(web::ContentType("a.exe").has_value());
  CHECK(web::Candidates("/srv/web") == std::vector<std::string>{"/srv/web"});
  const auto defaults = web::Candidates("");
  REQUIRE(defaults.size() == 2);
  CHECK(defaults[0].ends_with("/share/streamgate/web"));
}

TEST_CASE("the gateway's cache routes answer 503 without a cache and serve with one",
          "[plugins][gateway]") {
  Gateway g;
  REQUIRE(g.plugin->Start().has_value());

  CHECK(g.listener->routes.Call("GET", "/api/v1/cache/k").status == 503);

  auto cache = MakeCache();
  REQUIRE(cache->Init(g.f.context).has_value());
  CHECK(g.listener->routes.Call("PUT", "/api/v1/cache/k", "v").status == 204);
  const HttpResponse got = g.listener->routes.Call("GET", "/api/v1/cache/k");
  CHECK(got.status == 200);
  CHECK(got.body == "v");
  CHECK(g.listener->routes.Call("GET", "/api/v1/cache/missing").status == 404);
}

TEST_CASE("the gateway refuses a reload to a taken address, naming the key", "[plugins][gateway]") {
  Gateway g;
  g.listener->taken_port = 8089;
  FakePluginContext next({"server.port=8089"});

  auto checked = g.plugin->CheckConfig(*next.config);

  REQUIRE_FALSE(checked.has_value());
  CHECK(checked.error().message.find("server.port") != std::string::npos);
  FakePluginContext fine({"server.port=8090"});
  REQUIRE(g.plugin->Reconfigure(fine.config).has_value());
  CHECK(g.listener->settings().port == 8090);
}

TEST_CASE("the gateway's request metrics come from its listener", "[plugins][gateway]") {
  Gateway g;

  const auto families = g.f.Families();

  CHECK(std::find(families.begin(), families.end(), "streamgate_http_open_connections") !=
        families.end());
  CHECK(std::find(families.begin(), families.end(), "streamgate_http_connection_limit") !=
        families.end());
}

}  // namespace sg::plugins
