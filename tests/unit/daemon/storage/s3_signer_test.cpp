#include "daemon/storage/s3_signer.h"

#include <catch2/catch.hpp>

#include "daemon/storage/s3_xml.h"

namespace sg::storage::s3 {

namespace {

const Credentials kExample{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                           "us-east-1"};
const std::string kEmptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

}  // namespace

// AWS's worked examples for Signature Version 4 in the S3 API reference
// ("Signature Calculations for the Authorization Header: Transferring Payload in a Single Chunk").
TEST_CASE("the signature of AWS's GET object example matches AWS's", "[storage][s3]") {
  SigningRequest request{.method = "GET",
                         .path = "/test.txt",
                         .query = {},
                         .headers = {{"host", "examplebucket.s3.amazonaws.com"},
                                     {"range", "bytes=0-9"},
                                     {"x-amz-content-sha256", kEmptyHash},
                                     {"x-amz-date", "20130524T000000Z"}},
                         .payload_hash = kEmptyHash};

  const std::string authorization = Authorization(request, kExample, "20130524T000000Z");

  CHECK(authorization ==
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST_CASE("the signature of AWS's list objects example matches AWS's", "[storage][s3]") {
  SigningRequest request{.method = "GET",
                         .path = "/",
                         .query = {{"max-keys", "2"}, {"prefix", "J"}},
                         .headers = {{"host", "examplebucket.s3.amazonaws.com"},
                                     {"x-amz-content-sha256", kEmptyHash},
                                     {"x-amz-date", "20130524T000000Z"}},
                         .payload_hash = kEmptyHash};

  const std::string authorization = Authorization(request, kExample, "20130524T000000Z");

  CHECK_THAT(authorization,
             Catch::EndsWith(
                 "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));
}

TEST_CASE("keys and query values are percent-encoded as SigV4 wants", "[storage][s3]") {
  CHECK(UriEncode("videos/a b/seg+1~.m4s", true) == "videos/a%20b/seg%2B1~.m4s");
  CHECK(UriEncode("a/b", false) == "a%2Fb");
  CHECK(CanonicalQuery({{"uploads", ""}}) == "uploads=");
  CHECK(CanonicalQuery({{"prefix", "videos/"}, {"list-type", "2"}}) ==
        "list-type=2&prefix=videos%2F");
}

TEST_CASE("S3's XML answers are read by element, entities decoded", "[storage][s3]") {
  const std::string xml =
      "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<KeyCount>2</KeyCount><IsTruncated>false</IsTruncated><Prefix/>"
      "<Contents><Key>a&amp;b&#x2F;c</Key><Size>3</Size><ETag>&quot;x&quot;</ETag></Contents>"
      "<Contents>\n<Key>caf&#233;</Key><Size>0</Size></Contents></ListBucketResult>";

  const auto contents = XmlElements(xml, "Contents");

  REQUIRE(contents.size() == 2);
  CHECK(XmlText(contents[0], "Key") == "a&b/c");
  CHECK(XmlText(contents[0], "ETag") == "\"x\"");
  CHECK(XmlText(contents[1], "Key") == "caf\xc3\xa9");
  CHECK(XmlText(xml, "KeyCount") == "2");
  CHECK(XmlText(xml, "Prefix") == "");
  CHECK(XmlText(xml, "NextContinuationToken") == std::nullopt);
  CHECK(XmlDecode("&bogus; & &#xZZ;") == "&bogus; & &#xZZ;");
  CHECK(XmlEscape("\"a\"<&>") == "&quot;a&quot;&lt;&amp;&gt;");
}

}  // namespace sg::storage::s3
