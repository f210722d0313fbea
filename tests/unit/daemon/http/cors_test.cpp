// CORS per route on the real HTTP server, as a browser would see it through curl: preflight,
// allowed and refused origins, exposed headers, and routes without a policy.
#include <catch2/catch.hpp>

#include "tests/support/http_test_server.h"
#include "tests/support/process.h"

namespace sg::http {

TEST_CASE("routes with a CORS policy answer preflights and mark their responses", "[http][cors]") {
  test::HttpTestServer t;
  auto& routes = t.routes;
  auto ok = [](const HttpRequest&, HttpResponse& res) {
    res.body = "{}";
    res.headers.emplace_back("Upload-Offset", "0");
  };
  REQUIRE(routes.AddRoute("GET", "/open/{id}", ok));
  routes.SetCors("/open/{id}",
                 CorsPolicy{{"*"}, {"Tus-Resumable", "Upload-Length"}, {"Upload-Offset"}, 3600});
  // Added after the policy: covered too.
  REQUIRE(routes.AddRoute("PUT", "/open/{id}", ok));
  REQUIRE(routes.AddRoute("GET", "/listed", ok));
  routes.SetCors("/listed", CorsPolicy{{"https://app.example"}, {}, {}, 60});
  REQUIRE(routes.AddRoute("GET", "/private", ok));

  t.Start();
  const std::string base = t.base();
  auto curl = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/curl", "-sS", "-D", "-", "-o", "/dev/null"});
    return test::Run(args).out;
  };

  const std::string preflight = curl({"-X", "OPTIONS", "-H", "Origin: https://player.example", "-H",
                                      "Access-Control-Request-Method: PUT", base + "/open/42"});
  INFO(preflight);
  CHECK(preflight.find("HTTP/1.1 204") != std::string::npos);
  CHECK(preflight.find("Access-Control-Allow-Origin: *") != std::string::npos);
  CHECK(preflight.find("Access-Control-Allow-Methods: GET, HEAD, PUT") != std::string::npos);
  CHECK(preflight.find("Access-Control-Allow-Headers: Tus-Resumable, Upload-Length") !=
        std::string::npos);
  CHECK(preflight.find("Access-Control-Max-Age: 3600") != std::string::npos);

  const std::string get = curl({"-H", "Origin: https://player.example", base + "/open/42"});
  CHECK(get.find("Access-Control-Allow-Origin: *") != std::string::npos);
  CHECK(get.find("Access-Control-Expose-Headers: Upload-Offset") != std::string::npos);

  const std::string listed = curl({"-H", "Origin: https://app.example", base + "/listed"});
  CHECK(listed.find("Access-Control-Allow-Origin: https://app.example") != std::string::npos);
  CHECK(listed.find("Vary: Origin") != std::string::npos);
  const std::string stranger = curl({"-H", "Origin: https://evil.example", base + "/listed"});
  CHECK(stranger.find("Access-Control-Allow-Origin") == std::string::npos);

  // No policy: same-origin only, and OPTIONS is just another method the route lacks.
  const std::string closed = curl({"-H", "Origin: https://player.example", base + "/private"});
  CHECK(closed.find("Access-Control-Allow-Origin") == std::string::npos);
  const std::string no_preflight =
      curl({"-X", "OPTIONS", "-H", "Origin: https://player.example", "-H",
            "Access-Control-Request-Method: GET", base + "/private"});
  CHECK(no_preflight.find("HTTP/1.1 405") != std::string::npos);
}

}  // namespace sg::http
