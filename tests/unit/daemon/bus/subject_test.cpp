#include "daemon/bus/subject.h"

#include <map>
#include <string>

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

TEST_CASE("counts go by the subject's first token, and past the cap new prefixes count as other",
          "[bus]") {
  std::map<std::string, int> by_prefix;

  ++PrefixEntry(by_prefix, "video.uploaded");
  ++PrefixEntry(by_prefix, "video.ready");
  ++PrefixEntry(by_prefix, "health");
  for (size_t i = by_prefix.size(); i < kMaxPrefixes; ++i) {
    ++PrefixEntry(by_prefix, "p" + std::to_string(i) + ".x");
  }
  ++PrefixEntry(by_prefix, "late.one");
  ++PrefixEntry(by_prefix, "later");
  ++PrefixEntry(by_prefix, "video.deleted");

  CHECK(by_prefix.at("video") == 3);
  CHECK(by_prefix.at("health") == 1);
  CHECK(by_prefix.at("other") == 2);
  CHECK_FALSE(by_prefix.contains("late"));
  CHECK(by_prefix.size() == kMaxPrefixes + 1);
}

}  // namespace sg::bus
