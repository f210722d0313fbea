// The catalogue on sql.h. Every write that depends on what is stored (Edit, Transition) reads and
// writes in one transaction and writes with the state it read as a compare-and-set, so two racing
// callers cannot both pass CheckTransition on the same old state.
#include "daemon/plugins/metadata/sql_catalogue.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <mutex>
#include <optional>
#include <random>
#include <type_traits>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/strings.h"
#include "common/ulid.h"

namespace sg::plugins {
namespace {

constexpr std::string_view kCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

constexpr size_t kMaxTitle = 200;           // characters
constexpr size_t kMaxDescription = 5000;    // characters
constexpr size_t kMaxOwner = 200;           // characters
constexpr size_t kMaxSourceType = 255;      // characters
constexpr size_t kMaxKey = 1024;            // characters: storage keys
constexpr size_t kMaxFailureReason = 2000;  // characters, longer reasons are cut
constexpr size_t kMaxRenditions = 64;
constexpr size_t kMaxRenditionName = 64;  // characters
constexpr size_t kMaxCodec = 128;         // characters

// The cursor: a version byte, created_at (8 bytes, big-endian), the id (26 bytes) and the first
// bytes of an HMAC-SHA256 over them keyed with this database's secret.
constexpr uint8_t kCursorVersion = 1;
constexpr size_t kIdLength = 26;
constexpr size_t kCursorMacLength = 12;
constexpr size_t kCursorLength = 1 + 8 + kIdLength + kCursorMacLength;

constexpr const char* kColumns =
    "id, title, description, owner, visibility, state, source_size, source_type, source_key, "
    "duration, renditions, poster, created_at, updated_at, failure_reason, progress, gate";

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- text checks ------------------------------------------------------------------------------

// The number of code points of valid UTF-8 (no overlong forms, surrogates or values past
// U+10FFFF), or nullopt.
std::optional<size_t> Utf8Length(std::string_view s) {
  size_t count = 0;
  for (size_t i = 0; i < s.size(); ++count) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + n >= s.size()) return std::nullopt;  // cut short
    for (size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr std::array<uint32_t, 4> kMin = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    i += n + 1;
  }
  return count;
}

// Checks one text field: valid UTF-8, at most `max` characters (at least `min`), and no control
// characters but, where `multiline`, tab and line breaks. The message names the field.
Result<void> CheckText(const std::string& field, const std::string& value, size_t min, size_t max,
                       bool multiline = false) {
  auto length = Utf8Length(value);
  if (!length) return Fail(ErrorCode::kInvalidArgument, field + ": not valid UTF-8");
  if (*length < min || *length > max) {
    return Fail(ErrorCode::kInvalidArgument,
                field + ": must be " + (min > 0 ? std::to_string(min) + " to " : "at most ") +
                    std::to_string(max) + " characters, not " + std::to_string(*length));
  }
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    const bool allowed = multiline && (c == '\n' || c == '\r' || c == '\t');
    if ((c < 0x20 || c == 0x7F) && !allowed) {
      return Fail(
          ErrorCode::kInvalidArgument,
          field + ": control characters are not allowed (found byte " + std::to_string(c) + ")");
    }
  }
  return {};
}

// A failure reason is recorded whatever it holds (ffmpeg's stderr, say): a failure that cannot be
// written would leave the video stuck. Invalid bytes and controls become '?', and it is cut.
std::string CleanReason(const std::string& reason) {
  std::string out;
  size_t chars = 0;
  for (size_t i = 0; i < reason.size() && chars < kMaxFailureReason; ++chars) {
    size_t n = 1;
    const auto c = static_cast<unsigned char>(reason[i]);
    if (c >= 0xC0) n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    const std::string_view piece = std::string_view(reason).substr(i, n);
    if (piece.size() == n && Utf8Length(piece) == 1 && (c >= 0x20 || c == '\n' || c == '\t') &&
        c != 0x7F) {
      out += piece;
      i += n;
    } else {
      out += '?';
      i += 1;
    }
  }
  return out;
}

// An enum value cast from a bad integer would be stored as "unknown" and never read back.
Result<void> CheckVisibility(Visibility visibility) {
  if (ParseVisibility(VisibilityName(visibility))) return {};
  return Fail(ErrorCode::kInvalidArgument,
              "visibility: must be one of public, unlisted, private, gated");
}

// ---- ids ----------------------------------------------------------------------------------------

Result<void> CheckNewId(const std::string& id) {
  if (IsVideoId(id)) return {};
  return Fail(ErrorCode::kInvalidArgument,
              "id: '" + Printable(id, 40) +
                  "' is not a video id (26 characters of upper-case Crockford base32, a ULID)");
}

// ---- renditions as JSON -------------------------------------------------------------------------

std::string RenditionsJson(const std::vector<Rendition>& renditions) {
  nlohmann::json out = nlohmann::json::array();
  for (const Rendition& r : renditions) {
    out.push_back({{"name", r.name},
                   {"width", r.width},
                   {"height", r.height},
                   {"bitrate", r.bitrate},
                   {"codec", r.codec},
                   {"playlist", r.playlist}});
  }
  // Replace, not throw, on bytes that are not UTF-8 (CheckRenditions refuses them before).
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::vector<Rendition>> ParseRenditions(const std::string& id, const std::string& text) {
  std::vector<Rendition> out;
  if (text.empty()) return out;
  auto bad = [&] {
    return Fail(ErrorCode::kInternal,
                "video " + id + ": its renditions in the database are not the JSON we write");
  };
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_array()) return bad();
  for (const auto& item : json) {
    if (!item.is_object()) return bad();
    Rendition r;
    auto str = [&](const char* key, std::string& into) {
      auto it = item.find(key);
      if (it != item.end() && it->is_string()) into = it->get<std::string>();
    };
    auto num = [&](const char* key, auto& into) {
      auto it = item.find(key);
      if (it != item.end() && it->is_number_integer()) {
        into = it->get<std::remove_reference_t<decltype(into)>>();
      }
    };
    str("name", r.name);
    num("width", r.width);
    num("height", r.height);
    num("bitrate", r.bitrate);
    str("codec", r.codec);
    str("playlist", r.playlist);
    out.push_back(std::move(r));
  }
  return out;
}

Result<void> CheckRenditions(const std::vector<Rendition>& renditions) {
  if (renditions.size() > kMaxRenditions) {
    return Fail(ErrorCode::kInvalidArgument, "renditions: at most " +
                                                 std::to_string(kMaxRenditions) + ", not " +
                                                 std::to_string(renditions.size()));
  }
  for (size_t i = 0; i < renditions.size(); ++i) {
    const Rendition& r = renditions[i];
    const std::string at = "renditions[" + std::to_string(i) + "].";
    if (auto ok = CheckText(at + "name", r.name, 1, kMaxRenditionName); !ok) return ok;
    if (auto ok = CheckText(at + "codec", r.codec, 0, kMaxCodec); !ok) return ok;
    if (auto ok = CheckText(at + "playlist", r.playlist, 0, kMaxKey); !ok) return ok;
    if (r.width < 0 || r.height < 0 || r.bitrate < 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  at + "width, height and bitrate must not be negative");
    }
  }
  return {};
}

// The progress of a video that became ready: percent 100 and no time left, the rest as it was.
std::string Finished(const std::string& progress) {
  auto json = nlohmann::json::parse(progress.empty() ? "{}" : progress, nullptr, false);
  if (!json.is_object()) json = nlohmann::json::object();
  json["percent"] = 100;
  json.erase("eta_seconds");
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// ---- rows ---------------------------------------------------------------------------------------

Result<Video> VideoFromRow(const SqlRow& row) {
  Video v;
  v.id = row.Text(0);
  v.title = row.Text(1);
  v.description = row.Text(2);
  v.owner = row.Text(3);
  auto visibility = ParseVisibility(row.Text(4));
  auto state = ParseVideoState(row.Text(5));
  if (!visibility || !state) {
    return Fail(ErrorCode::kInternal, "video " + v.id + ": unknown visibility '" +
                                          Printable(row.Text(4)) + "' or state '" +
                                          Printable(row.Text(5)) + "' in the database");
  }
  v.visibility = *visibility;
  v.state = *state;
  v.source_size = row.Int(6);
  v.source_type = row.Text(7);
  v.source_key = row.Text(8);
  v.duration = row.Double(9);
  auto renditions = ParseRenditions(v.id, row.Text(10));
  if (!renditions) return renditions.error();
  v.renditions = std::move(renditions).value();
  v.poster = row.Text(11);
  v.created_at = row.Int(12);
  v.updated_at = row.Int(13);
  v.failure_reason = row.Text(14);
  v.progress = row.Text(15);
  v.gate = row.Text(16);
  return v;
}

Error NotFound(const std::string& id) {
  return Fail(ErrorCode::kNotFound, "no video with id '" + Printable(id, 40) + "'");
}

Result<Video> ReadVideo(SqlSession& session, const std::string& id) {
  auto r = session.Exec(std::string("SELECT ") + kColumns + " FROM videos WHERE id = $1", {id});
  if (!r) return r.error();
  if (r->rows.empty()) return NotFound(id);
  return VideoFromRow(r->rows[0]);
}

// ---- cursors ------------------------------------------------------------------------------------

std::string Base64UrlEncode(const std::string& bytes) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : bytes) {
    acc = (acc << 8) | static_cast<unsigned char>(ch);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 0x3F];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3F];
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : text) {
    int v = -1;
    if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
    if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
    if (ch == '-') v = 62;
    if (ch == '_') v = 63;
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

struct CursorPosition {
  int64_t created_at = 0;
  std::string id;
};

Error BadCursor() {
  return Fail(ErrorCode::kInvalidArgument,
              "cursor: not a cursor of this catalogue; start again without one");
}

class SqlCatalogue : public Catalogue {
 public:
  SqlCatalogue(std::shared_ptr<SqlDatabase> db, CatalogueClock clock)
      : db_(std::move(db)), clock_(clock ? std::move(clock) : CatalogueClock(SystemNowMs)) {}

  Result<Video> Create(const NewVideo& video) override;
  Result<Video> Get(const std::string& id) override;
  Result<VideoPage> List(const VideoQuery& query) override;
  Result<Video> Edit(const std::string& id, const VideoEdit& edit) override;
  Result<Video> Transition(const std::string& id, const VideoTransition& transition) override;
  Result<Video> SetProgress(const std::string& id, const std::string& progress) override;

 private:
  Result<std::string> Secret();
  std::string Mac(const std::string& secret, const std::string& payload) const;
  Result<std::string> EncodeCursor(const Video& last);
  Result<CursorPosition> DecodeCursor(const std::string& cursor);

  const std::shared_ptr<SqlDatabase> db_;
  const CatalogueClock clock_;
  std::mutex secret_mu_;
  std::string secret_;  // guarded by secret_mu_; loaded at first use
};

// The key of the cursors' checks, made once per database and kept in it, so cursors stay good
// across restarts and across every process that shares a PostgreSQL database.
Result<std::string> SqlCatalogue::Secret() {
  std::lock_guard lock(secret_mu_);
  if (!secret_.empty()) return secret_;
  std::array<unsigned char, 32> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return Fail(ErrorCode::kInternal, "the random number generator failed");
  }
  static constexpr std::string_view kHex = "0123456789abcdef";
  std::string fresh;
  for (unsigned char b : random) {
    fresh += kHex[b >> 4];
    fresh += kHex[b & 0xF];
  }
  auto put = db_->Exec(
      "INSERT INTO metadata_meta (name, value) VALUES ('cursor_secret', $1) "
      "ON CONFLICT (name) DO NOTHING",
      {fresh});
  if (!put) return put.error().Wrap("catalogue: store the cursor key");
  auto got = db_->Exec("SELECT value FROM metadata_meta WHERE name = 'cursor_secret'");
  if (!got) return got.error().Wrap("catalogue: read the cursor key");
  if (got->rows.empty() || got->rows[0].Text(0).empty()) {
    return Fail(ErrorCode::kInternal, "catalogue: the cursor key vanished from metadata_meta");
  }
  secret_ = got->rows[0].Text(0);
  return secret_;
}

std::string SqlCatalogue::Mac(const std::string& secret, const std::string& payload) const {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), out.data(), &length);
  return std::string(reinterpret_cast<const char*>(out.data()), kCursorMacLength);
}

Result<std::string> SqlCatalogue::EncodeCursor(const Video& last) {
  auto secret = Secret();
  if (!secret) return secret.error();
  std::string payload(1, static_cast<char>(kCursorVersion));
  const auto at = static_cast<uint64_t>(last.created_at);
  for (int shift = 56; shift >= 0; shift -= 8) payload += static_cast<char>((at >> shift) & 0xFF);
  payload += last.id;
  return Base64UrlEncode(payload + Mac(*secret, payload));
}

Result<CursorPosition> SqlCatalogue::DecodeCursor(const std::string& cursor) {
  if (cursor.size() > 2 * kCursorLength) return BadCursor();
  auto bytes = Base64UrlDecode(cursor);
  if (!bytes || bytes->size() != kCursorLength ||
      (*bytes)[0] != static_cast<char>(kCursorVersion)) {
    return BadCursor();
  }
  auto secret = Secret();
  if (!secret) return secret.error();
  const std::string payload = bytes->substr(0, kCursorLength - kCursorMacLength);
  const std::string mac = Mac(*secret, payload);
  if (CRYPTO_memcmp(mac.data(), bytes->data() + payload.size(), kCursorMacLength) != 0) {
    return BadCursor();
  }
  CursorPosition position;
  uint64_t at = 0;
  for (size_t i = 1; i <= 8; ++i) at = (at << 8) | static_cast<unsigned char>((*bytes)[i]);
  position.created_at = static_cast<int64_t>(at);
  position.id = payload.substr(9);
  if (!IsVideoId(position.id)) return BadCursor();
  return position;
}

Result<Video> SqlCatalogue::Create(const NewVideo& video) {
  if (auto ok = CheckText("title", video.title, 1, kMaxTitle); !ok) return ok.error();
  if (auto ok = CheckText("description", video.description, 0, kMaxDescription, true); !ok) {
    return ok.error();
  }
  if (auto ok = CheckText("owner", video.owner, 0, kMaxOwner); !ok) return ok.error();
  if (auto ok = CheckText("source_type", video.source_type, 0, kMaxSourceType); !ok) {
    return ok.error();
  }
  if (auto ok = CheckText("source_key", video.source_key, 0, kMaxKey); !ok) return ok.error();
  if (auto ok = CheckVisibility(video.visibility); !ok) return ok.error();
  if (video.source_size < 0) {
    return Fail(ErrorCode::kInvalidArgument, "source_size: must not be negative");
  }
  if (!video.id.empty()) {
    if (auto ok = CheckNewId(video.id); !ok) return ok.error();
  }

  Video v;
  const int64_t now = clock_();
  v.id = video.id.empty() ? NewVideoId(now) : video.id;
  v.title = video.title;
  v.description = video.description;
  v.owner = video.owner;
  v.visibility = video.visibility;
  v.state = VideoState::kUploading;
  v.source_size = video.source_size;
  v.source_type = video.source_type;
  v.source_key = video.source_key;
  v.created_at = now;
  v.updated_at = now;
  auto inserted = db_->Exec(
      std::string("INSERT INTO videos (") + kColumns +
          ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
      {v.id, v.title, v.description, v.owner, std::string(VisibilityName(v.visibility)),
       std::string(VideoStateName(v.state)), v.source_size, v.source_type, v.source_key, v.duration,
       RenditionsJson(v.renditions), v.poster, v.created_at, v.updated_at, v.failure_reason,
       v.progress, v.gate});
  if (!inserted) {
    if (inserted.error().code == ErrorCode::kFailedPrecondition) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "id: a video with id " + v.id + " exists already");
    }
    return inserted.error().Wrap("create video");
  }
  return v;
}

Result<Video> SqlCatalogue::Get(const std::string& id) {
  auto r = db_->Exec(std::string("SELECT ") + kColumns + " FROM videos WHERE id = $1", {id});
  if (!r) return r.error().Wrap("get video");
  if (r->rows.empty()) return NotFound(id);
  return VideoFromRow(r->rows[0]);
}

Result<VideoPage> SqlCatalogue::List(const VideoQuery& query) {
  if (query.limit < 1 || query.limit > kMaxPageSize) {
    return Fail(ErrorCode::kInvalidArgument, "limit: must be 1 to " + std::to_string(kMaxPageSize) +
                                                 ", not " + std::to_string(query.limit));
  }
  std::optional<CursorPosition> after;
  if (!query.cursor.empty()) {
    auto position = DecodeCursor(query.cursor);
    if (!position) return position.error();
    after = std::move(position).value();
  }

  std::string sql = std::string("SELECT ") + kColumns + " FROM videos WHERE 1 = 1";
  std::vector<SqlValue> params;
  auto param = [&](SqlValue value) {
    params.push_back(std::move(value));
    return "$" + std::to_string(params.size());
  };
  if (query.state) {
    // Asking for a state by name shows it, deleted included.
    sql += " AND state = " + param(std::string(VideoStateName(*query.state)));
  } else if (!query.include_deleted) {
    sql += " AND state <> " + param(std::string(VideoStateName(VideoState::kDeleted)));
  }
  if (query.owner) sql += " AND owner = " + param(*query.owner);
  if (after) {
    const std::string at = param(after->created_at);
    // The same as (created_at, id) < (at, id), written so both engines see a range on the index.
    sql += " AND created_at <= " + at + " AND (created_at < " + at + " OR id < " +
           param(after->id) + ")";
  }
  // One row more than the page tells whether there is a next page.
  sql += " ORDER BY created_at DESC, id DESC LIMIT " + param(int64_t{query.limit} + 1);

  auto r = db_->Exec(sql, params);
  if (!r) return r.error().Wrap("list videos");
  VideoPage page;
  for (const SqlRow& row : r->rows) {
    if (page.videos.size() == static_cast<size_t>(query.limit)) {
      auto cursor = EncodeCursor(page.videos.back());
      if (!cursor) return cursor.error();
      page.next_cursor = *cursor;
      break;
    }
    auto video = VideoFromRow(row);
    if (!video) return video.error();
    page.videos.push_back(std::move(video).value());
  }
  return page;
}

Result<Video> SqlCatalogue::Edit(const std::string& id, const VideoEdit& edit) {
  if (edit.title) {
    if (auto ok = CheckText("title", *edit.title, 1, kMaxTitle); !ok) return ok.error();
  }
  if (edit.description) {
    if (auto ok = CheckText("description", *edit.description, 0, kMaxDescription, true); !ok) {
      return ok.error();
    }
  }
  if (edit.visibility) {
    if (auto ok = CheckVisibility(*edit.visibility); !ok) return ok.error();
  }
  std::optional<std::string> gate;
  if (edit.gate) {
    auto normal = NormalizeGate(*edit.gate);
    if (!normal) return normal.error();
    gate = std::move(*normal);
  }
  Video result;
  auto done = db_->Transaction([&](SqlSession& session) -> Result<void> {
    auto current = ReadVideo(session, id);
    if (!current) return current.error();
    if (current->state == VideoState::kDeleted) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "video " + id + " is deleted: it cannot be edited");
    }
    // Only the fields given are written (NULL keeps the stored one), so two edits of different
    // fields at once both stand, on engines whose transactions do not lock what they read.
    auto optional = [](const auto& value) -> SqlValue {
      if (!value) return std::monostate{};
      return SqlValue(std::string(*value));
    };
    std::optional<std::string> visibility;
    if (edit.visibility) visibility = std::string(VisibilityName(*edit.visibility));
    auto written =
        session.Exec(std::string("UPDATE videos SET title = COALESCE($1, title), "
                                 "description = COALESCE($2, description), "
                                 "visibility = COALESCE($3, visibility), updated_at = $4, "
                                 "gate = COALESCE($7, gate) "
                                 "WHERE id = $5 AND state <> $6 RETURNING ") +
                         kColumns,
                     {optional(edit.title), optional(edit.description), optional(visibility),
                      std::max(clock_(), current->updated_at), id,
                      std::string(VideoStateName(VideoState::kDeleted)), optional(gate)});
    if (!written) return written.error();
    if (written->rows.empty()) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "video " + id + " was deleted while being edited");
    }
    auto v = VideoFromRow(written->rows[0]);
    if (!v) return v.error();
    result = std::move(v).value();
    return {};
  });
  if (!done) {
    if (done.error().code == ErrorCode::kNotFound ||
        done.error().code == ErrorCode::kFailedPrecondition) {
      return done.error();
    }
    return done.error().Wrap("edit video " + Printable(id, 40));
  }
  return result;
}

Result<Video> SqlCatalogue::Transition(const std::string& id, const VideoTransition& t) {
  if (t.duration && (!std::isfinite(*t.duration) || *t.duration < 0)) {
    return Fail(ErrorCode::kInvalidArgument, "duration: must be a finite number of seconds >= 0");
  }
  if (t.renditions) {
    if (auto ok = CheckRenditions(*t.renditions); !ok) return ok.error();
  }
  if (t.poster) {
    if (auto ok = CheckText("poster", *t.poster, 0, kMaxKey); !ok) return ok.error();
  }
  if (t.source_size && *t.source_size < 0) {
    return Fail(ErrorCode::kInvalidArgument, "source_size: must not be negative");
  }
  if (t.source_type) {
    if (auto ok = CheckText("source_type", *t.source_type, 0, kMaxSourceType); !ok) {
      return ok.error();
    }
  }
  if (t.source_key) {
    if (auto ok = CheckText("source_key", *t.source_key, 0, kMaxKey); !ok) return ok.error();
  }

  Video result;
  auto done = db_->Transaction([&](SqlSession& session) -> Result<void> {
    auto current = ReadVideo(session, id);
    if (!current) return current.error();
    Video v = std::move(current).value();
    const VideoState from = v.state;
    if (auto legal = CheckTransition(from, t.to); !legal) {
      return legal.error().Wrap("video " + id);
    }
    std::string reason = v.failure_reason;
    if (t.to == VideoState::kFailed) {
      reason = CleanReason(t.failure_reason.value_or(""));
    } else if (t.to != VideoState::kDeleted) {
      reason.clear();  // the reason of an earlier failure no longer holds
    }
    // A new attempt starts without the last one's progress; a ready video is done, whatever the
    // transcoder said last.
    std::string progress = v.progress;
    if (t.to == VideoState::kProcessing) progress.clear();
    if (t.to == VideoState::kReady) progress = Finished(progress);
    auto text = [](const std::optional<std::string>& value) -> SqlValue {
      if (!value) return std::monostate{};
      return *value;
    };
    SqlValue duration = std::monostate{};
    if (t.duration) duration = *t.duration;
    SqlValue size = std::monostate{};
    if (t.source_size) size = *t.source_size;
    SqlValue renditions = std::monostate{};
    if (t.renditions) renditions = RenditionsJson(*t.renditions);
    // The state read above is the condition of the write: if another caller changed it since
    // (possible on PostgreSQL, whose transactions do not lock what they read), nothing is
    // written. Fields not given keep what is stored (NULL), not what was read.
    auto written = session.Exec(
        std::string("UPDATE videos SET state = $1, failure_reason = $2, "
                    "duration = COALESCE($3, duration), renditions = COALESCE($4, renditions), "
                    "poster = COALESCE($5, poster), source_size = COALESCE($6, source_size), "
                    "source_type = COALESCE($7, source_type), "
                    "source_key = COALESCE($8, source_key), updated_at = $9, progress = $12 "
                    "WHERE id = $10 AND state = $11 RETURNING ") +
            kColumns,
        {std::string(VideoStateName(t.to)), reason, duration, renditions, text(t.poster), size,
         text(t.source_type), text(t.source_key), std::max(clock_(), v.updated_at), id,
         std::string(VideoStateName(from)), progress});
    if (!written) return written.error();
    if (written->rows.empty()) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "video " + id + " changed state from " + std::string(VideoStateName(from)) +
                      " while becoming " + std::string(VideoStateName(t.to)) +
                      "; read it again and retry");
    }
    auto after = VideoFromRow(written->rows[0]);
    if (!after) return after.error();
    result = std::move(after).value();
    return {};
  });
  if (!done) {
    if (done.error().code == ErrorCode::kNotFound ||
        done.error().code == ErrorCode::kFailedPrecondition) {
      return done.error();
    }
    return done.error().Wrap("transition video " + Printable(id, 40));
  }
  return result;
}

Result<Video> SqlCatalogue::SetProgress(const std::string& id, const std::string& progress) {
  if (progress.size() > kMaxProgressSize) {
    return Fail(ErrorCode::kInvalidArgument, "progress: at most " +
                                                 std::to_string(kMaxProgressSize) + " bytes, not " +
                                                 std::to_string(progress.size()));
  }
  const auto parsed = nlohmann::json::parse(progress, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) {
    return Fail(ErrorCode::kInvalidArgument, "progress: must be a JSON object");
  }
  const std::string stored = parsed.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // Only a video that is processing takes it: the state is the condition of the write, so a late
  // event of an attempt that ended (ready, failed, or retried since) changes nothing.
  auto written = db_->Exec(std::string("UPDATE videos SET progress = $1 WHERE id = $2 AND "
                                       "state = $3 RETURNING ") +
                               kColumns,
                           {stored, id, std::string(VideoStateName(VideoState::kProcessing))});
  if (!written) return written.error().Wrap("record the progress of video " + Printable(id, 40));
  if (written->rows.empty()) {
    auto current = Get(id);
    if (!current) return current.error();
    return Fail(ErrorCode::kFailedPrecondition,
                "video " + id + " is " + std::string(VideoStateName(current->state)) +
                    ", not processing: its progress is not recorded");
  }
  return VideoFromRow(written->rows[0]);
}

}  // namespace

const std::vector<SqlMigration>& MetadataMigrations() {
  static const std::vector<SqlMigration> kMigrations = {
      {1,
       "videos, and the catalogue's own settings",
       {
           "CREATE TABLE videos ("
           "id TEXT PRIMARY KEY, "
           "title TEXT NOT NULL, "
           "description TEXT NOT NULL, "
           "owner TEXT NOT NULL, "
           "visibility TEXT NOT NULL, "
           "state TEXT NOT NULL, "
           "source_size BIGINT NOT NULL, "
           "source_type TEXT NOT NULL, "
           "source_key TEXT NOT NULL, "
           "duration DOUBLE PRECISION NOT NULL, "
           "renditions TEXT NOT NULL, "
           "poster TEXT NOT NULL, "
           "created_at BIGINT NOT NULL, "
           "updated_at BIGINT NOT NULL, "
           "failure_reason TEXT NOT NULL)",
           "CREATE INDEX videos_by_time ON videos (created_at DESC, id DESC)",
           "CREATE INDEX videos_by_owner ON videos (owner, created_at, id)",
           "CREATE INDEX videos_by_state ON videos (state, created_at, id)",
           "CREATE TABLE metadata_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
       }},
      {2,
       "the transcoder's latest progress on each video",
       {
           "ALTER TABLE videos ADD COLUMN progress TEXT NOT NULL DEFAULT ''",
       }},
      {3,
       "a gate of its own for a gated video (a token contract, and an id for ERC-1155)",
       {
           "ALTER TABLE videos ADD COLUMN gate TEXT NOT NULL DEFAULT ''",
       }},
  };
  return kMigrations;
}

std::shared_ptr<Catalogue> MakeSqlCatalogue(std::shared_ptr<SqlDatabase> database,
                                            CatalogueClock clock) {
  return std::make_shared<SqlCatalogue>(std::move(database), std::move(clock));
}

std::string NewVideoId(int64_t now_ms) { return NewUlid(now_ms); }

bool IsVideoId(std::string_view id) { return IsUlid(id); }

}  // namespace sg::plugins
