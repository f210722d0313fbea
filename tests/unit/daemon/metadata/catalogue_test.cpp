// The catalogue on every SQL backend of tests/support/sql_backends.h: one suite, the same cases on
// SQLite and (where the PostgreSQL helper adds it) on a real PostgreSQL server.
#include "daemon/plugin_api/catalogue.h"

#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "common/strings.h"
#include "daemon/plugins/metadata/sql_catalogue.h"
#include "tests/support/sql_backends.h"

namespace sg {
namespace {

using plugins::MakeSqlCatalogue;
using plugins::MetadataMigrations;

struct Fixture {
  std::shared_ptr<SqlDatabase> db;
  std::shared_ptr<Catalogue> catalogue;
};

Fixture Open(const test::SqlBackend& backend, plugins::CatalogueClock clock = {}) {
  Fixture f;
  f.db = backend.open_fresh();
  REQUIRE(f.db);
  auto migrated = f.db->Migrate("metadata", MetadataMigrations());
  if (!migrated) FAIL(migrated.error().message);
  f.catalogue = MakeSqlCatalogue(f.db, std::move(clock));
  return f;
}

NewVideo Sample(const std::string& title, const std::string& owner = "ann") {
  NewVideo v;
  v.title = title;
  v.owner = owner;
  v.source_type = "video/mp4";
  v.source_key = "uploads/" + title;
  v.source_size = 1234;
  return v;
}

Video MustCreate(Catalogue& c, const NewVideo& v) {
  auto made = c.Create(v);
  if (!made) FAIL(made.error().message);
  return *made;
}

// The legal path from uploading to `state`, to put a new video there.
std::vector<VideoState> PathTo(VideoState state) {
  using S = VideoState;
  switch (state) {
    case S::kUploading:
      return {};
    case S::kUploaded:
      return {S::kUploaded};
    case S::kQueued:
      return {S::kUploaded, S::kQueued};
    case S::kProcessing:
      return {S::kUploaded, S::kQueued, S::kProcessing};
    case S::kReady:
      return {S::kUploaded, S::kQueued, S::kProcessing, S::kReady};
    case S::kFailed:
      return {S::kFailed};
    case S::kDeleted:
      return {S::kDeleted};
  }
  return {};
}

VideoTransition To(VideoState state) {
  VideoTransition t;
  t.to = state;
  return t;
}

const std::vector<VideoState> kStates = {
    VideoState::kUploading, VideoState::kUploaded, VideoState::kQueued, VideoState::kProcessing,
    VideoState::kReady,     VideoState::kFailed,   VideoState::kDeleted};

TEST_CASE("a created video reads back whole, with a ULID id and times", "[catalogue]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto f = Open(backend);
      NewVideo n = Sample("first");
      n.description = "line one\nline two";
      n.visibility = Visibility::kUnlisted;

      auto made = f.catalogue->Create(n);
      REQUIRE(made);
      auto got = f.catalogue->Get(made->id);
      auto missing = f.catalogue->Get(plugins::NewVideoId(1));
      auto garbage = f.catalogue->Get("'; DROP TABLE videos; --");

      CHECK(plugins::IsVideoId(made->id));
      CHECK(made->state == VideoState::kUploading);
      CHECK(made->created_at > 0);
      CHECK(made->updated_at == made->created_at);
      REQUIRE(got);
      CHECK(*got == *made);
      CHECK(got->description == "line one\nline two");
      CHECK(got->visibility == Visibility::kUnlisted);
      REQUIRE_FALSE(missing);
      CHECK(missing.error().code == ErrorCode::kNotFound);
      REQUIRE_FALSE(garbage);
      CHECK(garbage.error().code == ErrorCode::kNotFound);
    }
  }
}

TEST_CASE("a given id is used when well formed, refused otherwise and when taken", "[catalogue]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto f = Open(backend);
      NewVideo n = Sample("mine");
      n.id = plugins::NewVideoId(1700000000000);
      NewVideo bad = Sample("bad");
      bad.id = "not-a-ulid";
      NewVideo lower = Sample("lower");
      lower.id = ToLower(n.id);

      auto made = f.catalogue->Create(n);
      auto again = f.catalogue->Create(n);
      auto refused = f.catalogue->Create(bad);
      auto refused_lower = f.catalogue->Create(lower);

      REQUIRE(made);
      CHECK(made->id == n.id);
      REQUIRE_FALSE(again);
      CHECK(again.error().code == ErrorCode::kFailedPrecondition);
      REQUIRE_FALSE(refused);
      CHECK(refused.error().code == ErrorCode::kInvalidArgument);
      CHECK_THAT(refused.error().message, Catch::StartsWith("id:"));
      REQUIRE_FALSE(refused_lower);
    }
  }
}

TEST_CASE("ids are ULIDs that sort by time", "[catalogue]") {
  const std::string early = plugins::NewVideoId(1000);
  const std::string late = plugins::NewVideoId(1001);
  const std::string max = plugins::NewVideoId(0xFFFFFFFFFFFF);

  CHECK(plugins::IsVideoId(early));
  CHECK(early < late);
  CHECK(early.substr(0, 10) == "00000000Z8");  // 1000 ms in Crockford base32
  CHECK(max.substr(0, 10) == "7ZZZZZZZZZ");
  CHECK_FALSE(plugins::IsVideoId("8ZZZZZZZZZZZZZZZZZZZZZZZZZ"));  // past 128 bits
  CHECK_FALSE(plugins::IsVideoId("01ARZ3NDEKTSV4RRFFQ69G5FAU"));  // U is not Crockford
  CHECK_FALSE(plugins::IsVideoId(""));
}

TEST_CASE("list pages through 250 videos newest first, with no duplicates or gaps", "[catalogue]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      // A clock that ticks every third call: many videos share a created_at, so the order must
      // fall back on the id to stay stable.
      auto ticks = std::make_shared<std::atomic<int64_t>>(0);
      auto f = Open(backend, [ticks] { return 1700000000000 + (ticks->fetch_add(1) / 3); });
      std::set<std::string> made;
      for (int i = 0; i < 250; ++i)
        made.insert(MustCreate(*f.catalogue, Sample("v" + std::to_string(i))).id);

      std::vector<Video> seen;
      std::string cursor;
      int pages = 0;
      do {
        VideoQuery q;
        q.limit = 37;
        q.cursor = cursor;
        auto page = f.catalogue->List(q);
        REQUIRE(page);
        REQUIRE(page->videos.size() <= 37);
        seen.insert(seen.end(), page->videos.begin(), page->videos.end());
        cursor = page->next_cursor;
        ++pages;
        REQUIRE(pages <= 10);
      } while (!cursor.empty());

      std::set<std::string> ids;
      for (const Video& v : seen) ids.insert(v.id);
      CHECK(seen.size() == 250);
      CHECK(ids == made);
      CHECK(pages == 7);
      for (size_t i = 1; i < seen.size(); ++i) {
        const Video& a = seen[i - 1];
        const Video& b = seen[i];
        const bool ordered =
            a.created_at > b.created_at || (a.created_at == b.created_at && a.id > b.id);
        CHECK(ordered);
      }
    }
  }
}

TEST_CASE("list stays stable when every video has the same created_at", "[catalogue]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto f = Open(backend, [] { return int64_t{1700000000000}; });
      for (int i = 0; i < 30; ++i) MustCreate(*f.catalogue, Sample("same" + std::to_string(i)));

      VideoQuery all;
      all.limit = 200;
      auto whole = f.catalogue->List(all);
      std::vector<std::string> paged;
      std::string cursor;
      do {
        VideoQuery q;
        q.limit = 4;
        q.cursor = cursor;
        auto page = f.catalogue->List(q);
        REQUIRE(page);
        for (const Video& v : page->videos) paged.push_back(v.id);
        cursor = page->next_cursor;
      } while (!cursor.empty());

      REQUIRE(whole);
      CHECK(whole->next_cursor.empty());
      std::vector<std::string> once;
      for (const Video& v : whole->videos) once.push_back(v.id);
      CHECK(once.size() == 30);
      CHECK(paged == once);
      CHECK(std::is_sorted(once.rbegin(), once.rend()));
    }
  }
}

TEST_CASE("list filters by state and owner, and leaves deleted videos out unless asked",
          "[catalogue]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto f = Open(backend);
      const Video a1 = MustCreate(*f.catalogue, Sample("a1", "ann"));
      const Video a2 = MustCreate(*f.catalogue, Sample("a2", "ann"));
      const Video b1 = MustCreate(*f.catalogue, Sample("b1", "bob"));
      const Video pct = MustCreate(*f.catalogue, Sample("p", "%"));
      REQUIRE(f.catalogue->Transition(a2.id, To(VideoState::kUploaded)));
      REQUIRE(f.catalogue->Transition(b1.id, To(VideoState::kDeleted)));
      auto list = [&](auto&& tweak) {
        VideoQuery q;
        q.limit = 200;
        tweak(q);
        auto page = f.catalogue->List(q);
        REQUIRE(page);
        std::set<std::string> ids;
        for (const Video& v : page->videos) ids.insert(v.id);
        return ids;
      };

      auto everything = list([](VideoQuery&) {});
      auto with_deleted = list([](VideoQuery& q) { q.include_deleted = true; });
      auto anns = list([](VideoQuery& q) { q.owner = "ann"; });
      auto percent = list([](VideoQuery& q) { q.owner = "%"; });
      auto underscore = list([](VideoQuery& q) { q.owner = "_nn"; });
      auto uploaded = list([](VideoQuery& q) { q.state = VideoState::kUploaded; });
      auto anns_uploading = list([](VideoQuery& q) {
        q.owner = "ann";
        q.state = VideoState::kUploading;
      });
      auto deleted = list([](VideoQuery& q) { q.state = VideoState::kDeleted; });

      CHECK(everything == std::set<std::string>{a1.id, a2.id, pct.id});
      CHECK(with_deleted == std::set<std::string>{a1.id, a2.id, b1.id, pct.id});
      CHECK(anns == std::set<std::string>{a1.id, a2.id});
      CHECK(percent == std::set<std::string>{pct.id});  // data, not a LIKE pattern
      CHECK(underscore.empty());
      CHECK(uploaded == std::set<std::string>{a2.id});
      CHECK(anns_uploading == std::set<std::string>{a1.id});
      CHECK(deleted == std::set<std::string>{b1.id});  // asking for the state by name shows it
    }
  }
}

TEST_CASE("a cursor from elsewhere, garbage or edited is refused", "[catalogue]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto f = Open(backend);
      auto other = Open(backend);  // another database: another cursor key
      for (int i = 0; i < 3; ++i) {
        MustCreate(*f.catalogue, Sample("x" + std::to_string(i)));
        MustCreate(*other.catalogue, Sample("y" + std::to_string(i)));
      }
      VideoQuery q;
      q.limit = 1;
      auto mine = f.catalogue->List(q);
      auto theirs = other.catalogue->List(q);
      REQUIRE(mine);
      REQUIRE(theirs);
      REQUIRE_FALSE(mine->next_cursor.empty());
      std::string edited = mine->next_cursor;
      edited[edited.size() / 2] = edited[edited.size() / 2] == 'A' ? 'B' : 'A';

      for (const std::string& cursor :
           {theirs->next_cursor, edited, std::string("garbage"), std::string("!!!!"),
            std::string(5000, 'A'), mine->next_cursor.substr(1),
            std::string("'; DROP TABLE videos; --")}) {
        VideoQuery bad;
        bad.cursor = cursor;
        auto page = f.catalogue->List(bad);
        INFO("cursor " << cursor.substr(0, 80));
        REQUIRE_FALSE(page);
        CHECK(page.error().code == ErrorCode::kInvalidArgument);
        CHECK(page.error().message ==
              "cursor: not a cursor of this catalogue; start again without one");
      }
      VideoQuery good;
      good.cursor = mine->next_cursor;
      auto next = f.catalogue->List(good);
      REQUIRE(next);
      CHECK(next->videos.size() == 2);
    }
  }
}

TEST_CASE("list limits outside 1..kMaxPageSize are refused, naming limit", "[catalogue]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto f = Open(backend);
      for (int limit : {0, -1, kMaxPageSize + 1, 1000}) {
        VideoQuery q;
        q.limit = limit;
        auto page = f.catalogue->List(q);
        REQUIRE_FALSE(page);
        CHECK(page.error().code == ErrorCode::kInvalidArgument);
        CHECK_THAT(page.error().message, Catch::StartsWith("limit:"));
      }
      VideoQuery max;
      max.limit = kMaxPageSize;
      CHECK(f.catalogue->List(max));
    }
  }
}

TEST_CASE(
    "every transition is legal exactly when CheckTransition says, and an illegal one writes "
    "nothing",
    "[catalogue]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto f = Open(backend);
      int legal_count = 0;
      for (VideoState from : kStates) {
        for (VideoState to : kStates) {
          INFO(VideoStateName(from) << " -> " << VideoStateName(to));
          const Video v = MustCreate(*f.catalogue, Sample("t"));
          for (VideoState step : PathTo(from)) REQUIRE(f.catalogue->Transition(v.id, To(step)));
          auto before = f.catalogue->Get(v.id);
          REQUIRE(before);
          REQUIRE(before->state == from);
          VideoTransition t = To(to);
          t.duration = 12.5;
          t.poster = "posters/p.jpg";

          auto changed = f.catalogue->Transition(v.id, t);
          auto after = f.catalogue->Get(v.id);

          REQUIRE(after);
          if (CheckTransition(from, to)) {
            ++legal_count;
            REQUIRE(changed);
            CHECK(changed->state == to);
            CHECK(changed->duration == 12.5);
            CHECK(*after == *changed);
          } else {
            REQUIRE_FALSE(changed);
            CHECK(changed.error().code == ErrorCode::kFailedPrecondition);
            CHECK_THAT(changed.error().message,
                       Catch::Contains(std::string(VideoStateName(from)) + " cannot become " +
                                       std::string(VideoStateName(to))));
            CHECK(*after == *before);
          }
        }
      }
      CHECK(legal_count == 17);
      auto unknown = f.catalogue->Transition(plugins::NewVideoId(5), To(VideoState::kUploaded));
      REQUIRE_FALSE(unknown);
      CHECK(unknown.error().code == ErrorCode::kNotFound);
    }
  }
}

TEST_CASE("a failure keeps its reason until a retry clears it", "[catalogue]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto f = Open(backend);
      const Video v = MustCreate(*f.catalogue, Sample("f"));
      VideoTransition fail = To(VideoState::kFailed);
      fail.failure_reason = std::string("ffmpeg: bad \x01 byte \xff and\nmore");

      auto failed = f.catalogue->Transition(v.id, fail);
      auto retried = f.catalogue->Transition(v.id, To(VideoState::kQueued));

      REQUIRE(failed);
      CHECK(failed->failure_reason == "ffmpeg: bad ? byte ? and\nmore");
      REQUIRE(retried);
      CHECK(retried->failure_reason.empty());
    }
  }
}

TEST_CASE("SQL metacharacters and unicode in every string field are stored as data",
          "[catalogue]") {
  const std::vector<std::string> nasty = {"'; DROP TABLE videos; --",
                                          "%",
                                          "_",
                                          "\\",
                                          "\"quoted\" $1 ?",
                                          "日本語 🎬 é ñ",
                                          "a'b''c",
                                          "Robert'); DELETE FROM videos WHERE ('1'='1"};
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto f = Open(backend);
      for (const std::string& s : nasty) {
        INFO(s);
        NewVideo n;
        n.title = s;
        n.description = s + "\n" + s;
        n.owner = s;
        n.source_type = s;
        n.source_key = s;
        const Video v = MustCreate(*f.catalogue, n);
        REQUIRE(f.catalogue->Transition(v.id, To(VideoState::kUploaded)));
        REQUIRE(f.catalogue->Transition(v.id, To(VideoState::kQueued)));
        REQUIRE(f.catalogue->Transition(v.id, To(VideoState::kProcessing)));
        VideoTransition ready = To(VideoState::kReady);
        ready.poster = s;
        ready.renditions = std::vector<Rendition>{{s, 1280, 720, 3000000, s, s}};
        REQUIRE(f.catalogue->Transition(v.id, ready));
        VideoEdit edit;
        edit.title = s + s;
        REQUIRE(f.catalogue->Edit(v.id, edit));

        auto got = f.catalogue->Get(v.id);
        VideoQuery by_owner;
        by_owner.owner = s;
        auto listed = f.catalogue->List(by_owner);

        REQUIRE(got);
        CHECK(got->title == s + s);
        CHECK(got->description == s + "\n" + s);
        CHECK(got->owner == s);
        CHECK(got->source_type == s);
        CHECK(got->source_key == s);
        CHECK(got->poster == s);
        REQUIRE(got->renditions.size() == 1);
        CHECK(got->renditions[0] == Rendition{s, 1280, 720, 3000000, s, s});
        REQUIRE(listed);
        REQUIRE(listed->videos.size() == 1);
        CHECK(listed->videos[0].id == v.id);
      }
      VideoQuery all;
      all.limit = 200;
      auto everything = f.catalogue->List(all);
      REQUIRE(everything);  // the table is still there, with every row
      CHECK(everything->videos.size() == nasty.size());
    }
  }
}

TEST_CASE("edits are validated field by field", "[catalogue]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto f = Open(backend);
      const Video v = MustCreate(*f.catalogue, Sample("edit me"));
      struct Case {
        VideoEdit edit;
        std::string field;
      };
      std::vector<Case> cases;
      cases.push_back({VideoEdit{std::string(""), {}, {}}, "title:"});
      cases.push_back({VideoEdit{std::string(201, 'x'), {}, {}}, "title:"});
      cases.push_back({VideoEdit{std::string("bad \xc3\x28 utf8"), {}, {}}, "title:"});
      cases.push_back({VideoEdit{std::string("line\nbreak"), {}, {}}, "title:"});
      cases.push_back({VideoEdit{std::string("nul\0byte", 8), {}, {}}, "title:"});
      cases.push_back({VideoEdit{{}, std::string(5001, 'd'), {}}, "description:"});
      cases.push_back({VideoEdit{{}, {}, static_cast<Visibility>(42)}, "visibility:"});
      cases.push_back({VideoEdit{{}, std::string("\xed\xa0\x80 surrogate"), {}}, "description:"});
      cases.push_back({VideoEdit{{}, {}, {}, std::string("erc20:0x12")}, "gate:"});
      cases.push_back(
          {VideoEdit{{}, {}, {}, "erc1155:0x" + std::string(40, 'a') + ":-1"}, "gate:"});

      for (const Case& c : cases) {
        auto r = f.catalogue->Edit(v.id, c.edit);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::kInvalidArgument);
        CHECK_THAT(r.error().message, Catch::StartsWith(c.field));
      }
      // 200 characters of three bytes each: the limit counts characters, not bytes.
      std::string wide;
      for (int i = 0; i < 200; ++i) wide += "語";
      VideoEdit ok{wide, std::string(5000, 'd'), Visibility::kGated};
      auto edited = f.catalogue->Edit(v.id, ok);
      auto got = f.catalogue->Get(v.id);
      auto missing = f.catalogue->Edit(plugins::NewVideoId(3), ok);

      REQUIRE(edited);
      CHECK(edited->title == wide);
      CHECK(edited->visibility == Visibility::kGated);
      REQUIRE(got);
      CHECK(*got == *edited);
      CHECK(got->state == VideoState::kUploading);
      REQUIRE_FALSE(missing);
      CHECK(missing.error().code == ErrorCode::kNotFound);
      NewVideo no_title = Sample("");
      auto refused = f.catalogue->Create(no_title);
      REQUIRE_FALSE(refused);
      CHECK_THAT(refused.error().message, Catch::StartsWith("title:"));
    }
  }
}

TEST_CASE("two threads racing a transition from the same state: exactly one wins", "[catalogue]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto f = Open(backend);
      for (int round = 0; round < 20; ++round) {
        const Video v = MustCreate(*f.catalogue, Sample("race"));
        for (VideoState step : PathTo(VideoState::kProcessing)) {
          REQUIRE(f.catalogue->Transition(v.id, To(step)));
        }
        std::atomic<int> ready{0};
        std::atomic<int> wins{0};
        std::atomic<int> refusals{0};
        auto racer = [&](VideoState to) {
          ++ready;
          while (ready.load() < 2) {
          }
          auto r = f.catalogue->Transition(v.id, To(to));
          if (r) {
            ++wins;
          } else if (r.error().code == ErrorCode::kFailedPrecondition) {
            ++refusals;
          }
        };

        std::thread a(racer, VideoState::kReady);
        std::thread b(racer, VideoState::kFailed);
        a.join();
        b.join();
        auto after = f.catalogue->Get(v.id);

        CHECK(wins == 1);
        CHECK(refusals == 1);
        REQUIRE(after);
        CHECK((after->state == VideoState::kReady || after->state == VideoState::kFailed));
      }
    }
  }
}

TEST_CASE("renditions round trip in order with every field", "[catalogue]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto f = Open(backend);
      const Video v = MustCreate(*f.catalogue, Sample("r"));
      for (VideoState step : PathTo(VideoState::kProcessing)) {
        REQUIRE(f.catalogue->Transition(v.id, To(step)));
      }
      const std::vector<Rendition> ladder = {
          {"1080p", 1920, 1080, 6000000, "avc1.640028", "hls/1080p.m3u8"},
          {"720p", 1280, 720, 3000000, "avc1.64001f", "hls/720p.m3u8"},
          {"audio", 0, 0, 128000, "mp4a.40.2", ""},
          {"huge", 7680, 4320, int64_t{1} << 40, "hvc1", "hls/8k.m3u8"}};
      VideoTransition ready = To(VideoState::kReady);
      ready.renditions = ladder;
      ready.duration = 3600.25;
      VideoTransition bad = To(VideoState::kReady);
      bad.renditions = std::vector<Rendition>{{"", 1, 1, 1, "", ""}};

      auto refused = f.catalogue->Transition(v.id, bad);
      auto done = f.catalogue->Transition(v.id, ready);
      auto got = f.catalogue->Get(v.id);

      REQUIRE_FALSE(refused);
      CHECK_THAT(refused.error().message, Catch::StartsWith("renditions[0].name:"));
      REQUIRE(done);
      REQUIRE(got);
      CHECK(got->renditions == ladder);
      CHECK(got->duration == 3600.25);
      CHECK(got->state == VideoState::kReady);
    }
  }
}

TEST_CASE("cursors stay good across a reopen of the same database", "[catalogue]") {
  test::TempDir dir;
  SqliteOptions options;
  options.path = dir.path() + "/c.db";
  std::string cursor;
  {
    auto db = OpenSqlite(options);
    REQUIRE(db);
    REQUIRE((*db)->Migrate("metadata", MetadataMigrations()));
    auto c = MakeSqlCatalogue(*db);
    for (int i = 0; i < 3; ++i) MustCreate(*c, Sample("k" + std::to_string(i)));
    VideoQuery q;
    q.limit = 1;
    auto page = c->List(q);
    REQUIRE(page);
    cursor = page->next_cursor;
  }
  auto db = OpenSqlite(options);
  REQUIRE(db);
  REQUIRE((*db)->Migrate("metadata", MetadataMigrations()));
  VideoQuery q;
  q.cursor = cursor;

  auto page = MakeSqlCatalogue(*db)->List(q);

  REQUIRE(page);
  CHECK(page->videos.size() == 2);
}

Video MustMoveTo(Catalogue& c, const Video& v, VideoState state) {
  Video out = v;
  for (VideoState s : PathTo(state)) {
    auto moved = c.Transition(v.id, To(s));
    if (!moved) FAIL(moved.error().message);
    out = *moved;
  }
  return out;
}

TEST_CASE("progress is kept on a processing video, cleared by a retry and 100 once ready",
          "[catalogue]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto f = Open(backend);
      const Video v =
          MustMoveTo(*f.catalogue, MustCreate(*f.catalogue, Sample("p")), VideoState::kProcessing);
      CHECK(v.progress.empty());

      auto set = f.catalogue->SetProgress(
          v.id, R"({"percent":42.5,"stage":"encoding","eta_seconds":12.3})");
      REQUIRE(set);
      CHECK(set->progress == R"({"eta_seconds":12.3,"percent":42.5,"stage":"encoding"})");
      CHECK(set->updated_at == v.updated_at);
      auto got = f.catalogue->Get(v.id);
      REQUIRE(got);
      CHECK(got->progress == set->progress);

      auto not_object = f.catalogue->SetProgress(v.id, "[1,2]");
      REQUIRE_FALSE(not_object);
      CHECK(not_object.error().code == ErrorCode::kInvalidArgument);
      auto too_big = f.catalogue->SetProgress(
          v.id, R"({"x":")" + std::string(kMaxProgressSize, 'a') + R"("})");
      REQUIRE_FALSE(too_big);
      CHECK(too_big.error().code == ErrorCode::kInvalidArgument);
      auto unknown = f.catalogue->SetProgress(plugins::NewVideoId(1), R"({"percent":1})");
      REQUIRE_FALSE(unknown);
      CHECK(unknown.error().code == ErrorCode::kNotFound);

      // Failed keeps the last progress; a late event is refused; the retry starts clean.
      VideoTransition fail = To(VideoState::kFailed);
      fail.failure_reason = "boom";
      auto failed = f.catalogue->Transition(v.id, fail);
      REQUIRE(failed);
      CHECK(failed->progress == set->progress);
      auto late = f.catalogue->SetProgress(v.id, R"({"percent":50})");
      REQUIRE_FALSE(late);
      CHECK(late.error().code == ErrorCode::kFailedPrecondition);
      REQUIRE(f.catalogue->Transition(v.id, To(VideoState::kQueued)));
      auto again = f.catalogue->Transition(v.id, To(VideoState::kProcessing));
      REQUIRE(again);
      CHECK(again->progress.empty());

      REQUIRE(
          f.catalogue->SetProgress(v.id, R"({"percent":90,"stage":"storing","eta_seconds":1})"));
      auto ready = f.catalogue->Transition(v.id, To(VideoState::kReady));
      REQUIRE(ready);
      CHECK(ready->progress == R"({"percent":100,"stage":"storing"})");
      auto stale = f.catalogue->SetProgress(v.id, R"({"percent":10})");
      REQUIRE_FALSE(stale);
      CHECK(stale.error().code == ErrorCode::kFailedPrecondition);
      CHECK(f.catalogue->Get(v.id)->progress == ready->progress);

      // Ready without any progress event: percent 100 all the same.
      const Video quick =
          MustMoveTo(*f.catalogue, MustCreate(*f.catalogue, Sample("q")), VideoState::kReady);
      CHECK(quick.progress == R"({"percent":100})");
    }
  }
}

TEST_CASE("migration 2 adds progress to the videos of a version 1 database", "[catalogue]") {
  for (const auto& backend : test::SqlBackends()) {
    DYNAMIC_SECTION(backend.name) {
      auto db = backend.open_fresh();
      REQUIRE(db);
      const std::vector<SqlMigration> v1 = {MetadataMigrations().front()};
      REQUIRE(v1.front().version == 1);
      auto first = db->Migrate("metadata", v1);
      REQUIRE(first);
      CHECK(*first == 1);
      const std::string id = plugins::NewVideoId(1000);
      REQUIRE(db->Exec(
          "INSERT INTO videos (id, title, description, owner, visibility, state, source_size, "
          "source_type, source_key, duration, renditions, poster, created_at, updated_at, "
          "failure_reason) VALUES ($1, 'old', '', 'ann', 'public', 'processing', 1, "
          "'video/mp4', 'k', 0, '[]', '', 1000, 1000, '')",
          {id}));

      auto second = db->Migrate("metadata", MetadataMigrations());
      REQUIRE(second);
      CHECK(*second == MetadataMigrations().back().version);
      auto catalogue = MakeSqlCatalogue(db);
      auto old = catalogue->Get(id);
      REQUIRE(old);
      CHECK(old->title == "old");
      CHECK(old->progress.empty());
      auto set = catalogue->SetProgress(id, R"({"percent":5})");
      REQUIRE(set);
      CHECK(set->progress == R"({"percent":5})");
      // Once more changes nothing.
      auto third = db->Migrate("metadata", MetadataMigrations());
      REQUIRE(third);
      CHECK(*third == *second);
    }
  }
}

}  // namespace
}  // namespace sg
