// The catalogue on a SQL database (SQLite or PostgreSQL, through sql.h): the videos table, its
// migrations, and the state machine of plugin_api/catalogue.h enforced on every write.
#pragma once

#include <memory>
#include <vector>

#include "daemon/plugin_api/catalogue.h"
#include "daemon/plugin_api/sql.h"

namespace sg::plugins {

/// The metadata component's migrations, for SqlDatabase::Migrate("metadata", ...).
const std::vector<SqlMigration>& MetadataMigrations();

/// A catalogue on `database`, whose schema Migrate has brought up to date.
std::shared_ptr<Catalogue> MakeSqlCatalogue(std::shared_ptr<SqlDatabase> database);

}  // namespace sg::plugins
