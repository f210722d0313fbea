#include "daemon/bus/subject.h"

#include <catch2/catch.hpp>

namespace sg::bus {

TEST_CASE("subjects are dot-separated tokens without wildcards", "[bus]") {
  CHECK(ValidSubject("video.uploaded"));
  CHECK(ValidSubject("a"));
  CHECK_FALSE(ValidSubject(""));
  CHECK_FALSE(ValidSubject("a..b"));
  CHECK_FALSE(ValidSubject(".a"));
  CHECK_FALSE(ValidSubject("a."));
  CHECK_FALSE(ValidSubject("a.*"));
  CHECK_FALSE(ValidSubject("a b"));
}

TEST_CASE("patterns allow * anywhere and > only last", "[bus]") {
  CHECK(ValidPattern("video.*"));
  CHECK(ValidPattern("*.uploaded"));
  CHECK(ValidPattern("video.>"));
  CHECK(ValidPattern(">"));
  CHECK_FALSE(ValidPattern("video.>.x"));
  CHECK_FALSE(ValidPattern("vid*"));
}

TEST_CASE("wildcards match as NATS does", "[bus]") {
  CHECK(Matches("video.uploaded", "video.uploaded"));
  CHECK_FALSE(Matches("video.uploaded", "video.ready"));
  CHECK(Matches("video.*", "video.ready"));
  CHECK_FALSE(Matches("video.*", "video.ready.hd"));
  CHECK_FALSE(Matches("video.*", "video"));
  CHECK(Matches("*.ready", "video.ready"));
  CHECK(Matches("video.>", "video.ready"));
  CHECK(Matches("video.>", "video.ready.hd"));
  CHECK_FALSE(Matches("video.>", "video"));
  CHECK(Matches(">", "anything.at.all"));
  CHECK_FALSE(Matches("video.ready", "video"));
  CHECK_FALSE(Matches("video", "video.ready"));
}

}  // namespace sg::bus
