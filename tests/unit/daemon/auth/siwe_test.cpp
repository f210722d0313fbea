// Sign-In with Ethereum messages: the EIP's example, each line's faults, RFC 3339 times, and the
// server's checks, each naming its field.
#include "daemon/plugins/auth/siwe.h"

#include <catch2/catch.hpp>

namespace sg::plugins::siwe {
namespace {

// The example message of EIP-4361.
const std::string kExample =
    "example.com wants you to sign in with your Ethereum account:\n"
    "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n"
    "\n"
    "I accept the ExampleOrg Terms of Service: https://example.com/tos\n"
    "\n"
    "URI: https://example.com/login\n"
    "Version: 1\n"
    "Chain ID: 1\n"
    "Nonce: 32891756\n"
    "Issued At: 2021-09-30T16:25:24Z\n"
    "Resources:\n"
    "- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/\n"
    "- https://example.com/my-web2-claim.json";

constexpr int64_t kIssuedMs = 1633019124000;

// Every field, without a statement (two empty lines after the address).
const std::string kFull =
    "https://localhost:8443 wants you to sign in with your Ethereum account:\n"
    "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23\n"
    "\n"
    "\n"
    "URI: https://localhost:8443/api/v1/auth/siwe\n"
    "Version: 1\n"
    "Chain ID: 137\n"
    "Nonce: AbCdEf0123456789\n"
    "Issued At: 2021-09-30T18:25:24.123+02:00\n"
    "Expiration Time: 2021-09-30T16:35:24Z\n"
    "Not Before: 2021-09-30T16:25:00Z\n"
    "Request ID: req-1:a@b%20c\n"
    "Resources:";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

std::string ParseError(const std::string& text) {
  const auto r = Parse(text);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kInvalidArgument);
  return r.error().message;
}

Expect ExampleExpect() {
  Expect e;
  e.domain = "example.com";
  e.uri_prefixes = {"https://example.com"};
  e.chain_id = 1;
  e.now_ms = kIssuedMs + 5000;
  return e;
}

std::string CheckError(const Message& m, const Expect& e) {
  const auto r = Check(m, e);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kPermissionDenied);
  return r.error().message;
}

}  // namespace

TEST_CASE("the EIP's example message parses into its fields", "[siwe]") {
  const auto m = Parse(kExample);
  REQUIRE(m);
  CHECK(m->scheme.empty());
  CHECK(m->domain == "example.com");
  CHECK(m->address == "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2");
  CHECK(m->statement == "I accept the ExampleOrg Terms of Service: https://example.com/tos");
  CHECK(m->uri == "https://example.com/login");
  CHECK(m->version == "1");
  CHECK(m->chain_id == 1);
  CHECK(m->nonce == "32891756");
  CHECK(m->issued_at == "2021-09-30T16:25:24Z");
  CHECK(m->issued_at_ms == kIssuedMs);
  CHECK_FALSE(m->expiration_time);
  CHECK_FALSE(m->not_before);
  CHECK_FALSE(m->request_id);
  CHECK(m->resources == std::vector<std::string>{
                            "ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
                            "https://example.com/my-web2-claim.json"});
  CHECK(Check(*m, ExampleExpect()));

  // The EIP's variant with a scheme.
  const auto with_scheme = Parse("https://" + kExample);
  REQUIRE(with_scheme);
  CHECK(with_scheme->scheme == "https");
  CHECK(with_scheme->domain == "example.com");
}

TEST_CASE("every optional field parses, and a message without statement has two empty lines",
          "[siwe]") {
  const auto m = Parse(kFull);
  REQUIRE(m);
  CHECK(m->scheme == "https");
  CHECK(m->domain == "localhost:8443");
  CHECK(m->statement.empty());
  CHECK(m->chain_id == 137);
  CHECK(m->issued_at_ms == kIssuedMs + 123);
  CHECK(m->expiration_time == "2021-09-30T16:35:24Z");
  CHECK(m->expiration_ms == kIssuedMs + 600'000);
  CHECK(m->not_before == "2021-09-30T16:25:00Z");
  CHECK(m->not_before_ms == kIssuedMs - 24'000);
  CHECK(m->request_id == "req-1:a@b%20c");
  CHECK(m->resources.empty());

  // One empty line only, or three, are not the ABNF's.
  CHECK_THAT(ParseError(Replace(kFull, "\n\n\nURI", "\n\nURI")),
             Catch::Contains("line 5: expected an empty line after the statement"));
  CHECK_THAT(ParseError(Replace(kFull, "\n\n\nURI", "\n\n\n\nURI")), Catch::Contains("line 5"));
  // Without the optional fields.
  const std::string minimal = kFull.substr(0, kFull.find("\nExpiration Time"));
  const auto bare = Parse(minimal);
  REQUIRE(bare);
  CHECK_FALSE(bare->expiration_time);
  CHECK(bare->expiration_ms == 0);
}

TEST_CASE("each malformed line is refused, naming the line", "[siwe]") {
  struct Case {
    std::string from, to, words;
  };
  const std::vector<Case> cases = {
      {"example.com wants", "example.com  wants", "line 1"},
      {"example.com wants", "exa mple.com wants", "line 1"},
      {"example.com wants", " wants", "line 1"},
      {"example.com wants", "ht~tp://example.com wants", "not a URI scheme"},
      {"sign in with your", "sign into your", "line 1"},
      {"0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2",
       "EIP-55 form 0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"},
      {"0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756CC2",
       "checksum"},
      {"0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756C",
       "line 2"},
      {"Cc2\n\nI", "Cc2\nI", "line 3"},
      {"Terms of Service", "Terms of \"Service\"", "statement"},
      {"/tos\n\nURI", "/tos\nURI", "line 5"},
      {"URI: https://example.com/login", "URI: example dot com", "not an RFC 3986 URI"},
      {"URI: https://example.com/login", "Uri: https://example.com/login", "expected 'URI: '"},
      {"Version: 1", "Version: 2", "version '2' is not 1"},
      {"Version: 1\n", "", "expected 'Version: '"},
      {"Chain ID: 1", "Chain ID: one", "chain id"},
      {"Chain ID: 1", "Chain ID: ", "chain id"},
      {"Chain ID: 1", "Chain ID: 99999999999999999999", "chain id"},
      {"Chain ID: 1", "Chain ID: -1", "chain id"},
      {"Nonce: 32891756", "Nonce: 3289175", "nonce"},
      {"Nonce: 32891756", "Nonce: 32891756!", "nonce"},
      {"Nonce: 32891756\n", "", "expected 'Nonce: '"},
      {"Issued At: 2021-09-30T16:25:24Z", "Issued At: 2021-09-30 16:25:24Z", "RFC 3339"},
      {"Issued At: 2021-09-30T16:25:24Z", "Issued At: 2021-09-31T16:25:24Z", "no such date"},
      {"Issued At: 2021-09-30T16:25:24Z", "Issued At: 2021-09-30T16:25:24", "no time zone"},
      {"Issued At: 2021-09-30T16:25:24Z", "Issued At: 1633019124", "RFC 3339"},
      {"Resources:\n", "Resources:\n-  \n", "line 12"},
      {"Resources:\n", "Resources:\nipfs://x\n", "resource"},
      {"Resources:\n", "Resource:\n", "unexpected 'Resource:'"},
      {"Issued At: 2021-09-30T16:25:24Z",
       "Issued At: 2021-09-30T16:25:24Z\nNot Before: 2021-09-30T16:25:24Z\nExpiration Time: "
       "2021-09-30T16:25:24Z",
       "in that order"},
  };
  for (const Case& c : cases) {
    INFO(c.from << " -> " << c.to);
    CHECK_THAT(ParseError(Replace(kExample, c.from, c.to)), Catch::Contains(c.words));
  }
  CHECK_THAT(ParseError(kExample + "\n"), Catch::Contains("ends with a line break"));
  CHECK_THAT(ParseError(kExample + "\nhello"), Catch::Contains("line 14: expected a resource"));
  const std::string no_resources = kExample.substr(0, kExample.find("\nResources:"));
  CHECK(Parse(no_resources));
  CHECK_THAT(ParseError(no_resources + "\n"), Catch::Contains("ends with a line break"));
  CHECK_THAT(ParseError(no_resources + "\nhello"), Catch::Contains("line 11: unexpected 'hello'"));
  CHECK_THAT(ParseError(Replace(kExample, "Version: 1\n", "Version: 1\r\n")),
             Catch::Contains("\\r"));
  CHECK_THAT(ParseError(""), Catch::Contains("line 1"));
  CHECK_THAT(ParseError(kExample.substr(0, kExample.find('\n'))), Catch::Contains("line 2"));
  CHECK_THAT(ParseError(kExample.substr(0, kExample.find("Issued At"))),
             Catch::Contains("Issued At"));
  CHECK_THAT(ParseError(Replace(kFull, "Request ID: req-1:a@b%20c", "Request ID: a/b")),
             Catch::Contains("request id"));
  CHECK_THAT(
      ParseError(Replace(kFull, "Expiration Time: 2021-09-30T16:35:24Z", "Expiration Time: soon")),
      Catch::Contains("line 10"));
}

TEST_CASE("RFC 3339 date-times parse strictly to epoch milliseconds", "[siwe]") {
  CHECK(*ParseRfc3339("2021-09-30T16:25:24Z") == kIssuedMs);
  CHECK(*ParseRfc3339("2021-09-30t16:25:24z") == kIssuedMs);
  CHECK(*ParseRfc3339("2021-09-30T18:25:24.123+02:00") == kIssuedMs + 123);
  CHECK(*ParseRfc3339("2021-09-30T16:25:24.1Z") == kIssuedMs + 100);
  CHECK(*ParseRfc3339("2021-09-30T16:25:24.123456789Z") == kIssuedMs + 123);
  CHECK(*ParseRfc3339("1969-12-31T23:59:59.5+00:00") == -500);
  CHECK(*ParseRfc3339("1970-01-01T00:00:00Z") == 0);
  CHECK(*ParseRfc3339("2024-02-29T00:00:00-05:30") == 1709184600000);
  for (const char* bad :
       {"", "2021-09-30", "2021-09-30T16:25Z", "2021-9-30T16:25:24Z", "2021-09-30T16:25:24.Z",
        "2021-09-30T16:25:24+0200", "2021-09-30T16:25:24+02", "2021-09-30T24:00:00Z",
        "2021-09-30T23:60:00Z", "2021-09-30T23:59:61Z", "2021-13-01T00:00:00Z",
        "2021-00-01T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
        "2021-09-30T16:25:24Z ", " 2021-09-30T16:25:24Z", "2021-09-30T16:25:24+24:00",
        "2021-09-30T16:25:24+02:60", "２021-09-30T16:25:24Z"}) {
    INFO(bad);
    const auto r = ParseRfc3339(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
  }
  CHECK(ParseRfc3339("2000-02-29T00:00:00Z"));
  CHECK(ParseRfc3339("2016-12-31T23:59:60Z"));
}

TEST_CASE("Check refuses each field that does not match, naming it", "[siwe]") {
  const Message good = *Parse(kExample);
  CHECK(Check(good, ExampleExpect()));
  Expect e = ExampleExpect();
  e.domain = "EXAMPLE.com";
  CHECK(Check(good, e));

  e = ExampleExpect();
  e.domain = "example.org";
  CHECK_THAT(CheckError(good, e), Catch::StartsWith("domain:"));

  e = ExampleExpect();
  e.uri_prefixes = {"https://example.org/", "http://example.com"};
  CHECK_THAT(CheckError(good, e), Catch::StartsWith("uri:"));
  e.uri_prefixes = {"https://example.com/log"};
  CHECK_THAT(CheckError(good, e), Catch::StartsWith("uri:"));
  e.uri_prefixes = {"https://example.com/"};
  CHECK(Check(good, e));
  e.uri_prefixes = {"https://example.com/login"};
  CHECK(Check(good, e));

  Message m = good;
  m.version = "2";
  CHECK_THAT(CheckError(m, ExampleExpect()), Catch::StartsWith("version:"));

  e = ExampleExpect();
  e.chain_id = 137;
  CHECK_THAT(CheckError(good, e), Catch::StartsWith("chain id:"));

  e = ExampleExpect();
  e.now_ms = kIssuedMs + e.max_age_ms + 1;
  CHECK_THAT(CheckError(good, e), Catch::StartsWith("issued at:") && Catch::Contains("ago"));
  e.now_ms = kIssuedMs + e.max_age_ms;
  CHECK(Check(good, e));
  e.now_ms = kIssuedMs - 60'001;
  CHECK_THAT(CheckError(good, e), Catch::StartsWith("issued at:") && Catch::Contains("future"));
  e.now_ms = kIssuedMs - 60'000;
  CHECK(Check(good, e));

  const Message full = *Parse(kFull);
  e = ExampleExpect();
  e.domain = "localhost:8443";
  e.uri_prefixes = {"https://localhost:8443/api/"};
  e.chain_id = 137;
  CHECK(Check(full, e));
  e.now_ms = full.expiration_ms;
  CHECK_THAT(CheckError(full, e), Catch::StartsWith("expiration time:"));
  e.now_ms = full.expiration_ms - 1;
  CHECK(Check(full, e));

  Message later = full;
  later.not_before = "2021-09-30T16:30:00Z";
  later.not_before_ms = kIssuedMs + 276'000;
  e.now_ms = kIssuedMs + 5000;
  CHECK_THAT(CheckError(later, e), Catch::StartsWith("not before:"));
  e.now_ms = later.not_before_ms - 60'000;
  CHECK(Check(later, e));
}

}  // namespace sg::plugins::siwe
