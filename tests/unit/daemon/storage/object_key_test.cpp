#include "daemon/storage/object_key.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace sg::storage {

TEST_CASE("object keys that could leave the store's root are refused", "[storage]") {
  const std::vector<std::string> bad = {"",
                                        "/etc/passwd",
                                        "../outside",
                                        "videos/../../outside",
                                        "videos/./source",
                                        "videos//source",
                                        "videos/",
                                        std::string("videos/a\0b", 10),
                                        "videos\\..\\outside",
                                        "videos/a\nb",
                                        ".sg-tmp-1-2",
                                        std::string(1025, 'k')};
  for (const auto& key : bad) {
    const auto checked = ValidateKey(key);

    REQUIRE_FALSE(checked);
    CHECK(checked.error().code == ErrorCode::kInvalidArgument);
    CHECK_THAT(checked.error().message, Catch::StartsWith("storage key '"));
  }
}

TEST_CASE("object keys of media are accepted", "[storage]") {
  for (const char* key : {"videos/0f3a/source", "videos/0f3a/hls/720p/seg_00001.m4s",
                          "thumbs/a b+c=d.jpg", "..x", ".hidden"}) {
    CHECK(ValidateKey(key));
  }
}

TEST_CASE("a list prefix may end mid-segment but not climb", "[storage]") {
  CHECK(ValidatePrefix(""));
  CHECK(ValidatePrefix("videos/"));
  CHECK(ValidatePrefix("videos/0f"));
  CHECK_FALSE(ValidatePrefix("../"));
  CHECK_FALSE(ValidatePrefix("/videos"));
  CHECK_FALSE(ValidatePrefix("videos//a"));
}

TEST_CASE("messages show a key's control bytes escaped", "[storage]") {
  CHECK(PrintableKey(std::string("a\0b\\c", 5)) == "a\\x00b\\\\c");
}

TEST_CASE("a byte range is clipped to the object and refused past its end", "[storage]") {
  using Span = std::pair<uint64_t, uint64_t>;
  CHECK(ResolveRange({}, 10, "k").value() == Span{0, 10});
  CHECK(ResolveRange({2, 3}, 10, "k").value() == Span{2, 3});
  CHECK(ResolveRange({8, 100}, 10, "k").value() == Span{8, 2});
  CHECK(ResolveRange({0, std::nullopt}, 0, "k").value() == Span{0, 0});

  const auto past = ResolveRange({10, std::nullopt}, 10, "k");

  REQUIRE_FALSE(past);
  CHECK(past.error().code == ErrorCode::kInvalidArgument);
  CHECK_THAT(past.error().message, Catch::Contains("past its end (10 bytes)"));
}

TEST_CASE("system errors map to the codes a store's caller branches on", "[storage]") {
  CHECK(ErrnoError(ENOSPC, "w").code == ErrorCode::kNoSpace);
  CHECK(ErrnoError(EDQUOT, "w").code == ErrorCode::kNoSpace);
  CHECK(ErrnoError(EFBIG, "w").code == ErrorCode::kNoSpace);
  CHECK(ErrnoError(EACCES, "w").code == ErrorCode::kPermissionDenied);
  CHECK(ErrnoError(EROFS, "w").code == ErrorCode::kPermissionDenied);
  CHECK(ErrnoError(ENOENT, "w").code == ErrorCode::kNotFound);
  CHECK(ErrnoError(EIO, "w").code == ErrorCode::kIo);
  CHECK_THAT(ErrnoError(ENOSPC, "write 'k' in /m").message,
             Catch::StartsWith("write 'k' in /m: No space left on device"));
}

}  // namespace sg::storage
