// The catalogue on a SQL database (SQLite or PostgreSQL, through sql.h): the videos table, its
// migrations, and the state machine of plugin_api/catalogue.h enforced on every write.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/sql.h"

namespace sg::plugins {

/// The metadata component's migrations, for SqlDatabase::Migrate("metadata", ...).
const std::vector<SqlMigration>& MetadataMigrations();

/// Milliseconds since the Unix epoch; the system clock unless a test gives another.
using CatalogueClock = std::function<int64_t()>;

/// A catalogue on `database`, whose schema Migrate has brought up to date. `clock` stamps
/// created_at, updated_at and new ids (empty: the system clock). Thread-safe.
std::shared_ptr<Catalogue> MakeSqlCatalogue(std::shared_ptr<SqlDatabase> database,
                                            CatalogueClock clock = {});

/// A new video id: a ULID (48 bits of milliseconds since the epoch, then 80 random bits, in 26
/// characters of Crockford base32), so ids sort by creation time.
std::string NewVideoId(int64_t now_ms);

/// Whether `id` is a well-formed video id (26 characters of upper-case Crockford base32, the
/// first at most '7'); the catalogue refuses any other in NewVideo::id.
bool IsVideoId(std::string_view id);

}  // namespace sg::plugins
