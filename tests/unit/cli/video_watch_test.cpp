// The server-sent events parser of `streamgate videos watch`: events split across reads, comments
// (keepalives), CRLF lines and multi-line data.
#include "cli/video_watch.h"

#include <catch2/catch.hpp>

namespace sg::cli {

TEST_CASE("the SSE parser gives whole events however the bytes arrive", "[cli][watch]") {
  SseParser parser;
  CHECK(parser.Feed("id: 1\nevent: st").empty());
  CHECK(parser.Feed("ate\ndata: {\"state\":\"queued\"}\n").empty());
  auto first = parser.Feed("\n: keepalive\n\nid: 2\r\nevent: progress\r\ndata: {\"percent\":4");
  REQUIRE(first.size() == 1);
  CHECK(first[0].id == "1");
  CHECK(first[0].event == "state");
  CHECK(first[0].data == R"({"state":"queued"})");
  auto second = parser.Feed("2.5}\r\n\r\ndata: a\ndata: b\n\n");
  REQUIRE(second.size() == 2);
  CHECK(second[0].id == "2");
  CHECK(second[0].event == "progress");
  CHECK(second[0].data == R"({"percent":42.5})");
  CHECK(second[1].event.empty());
  CHECK(second[1].data == "a\nb");
  CHECK(parser.Feed(":\n\n").empty());
}

}  // namespace sg::cli
