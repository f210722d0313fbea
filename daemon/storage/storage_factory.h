// The store storage.* configures: local disk (storage.type: local) or S3 (s3, minio).
#pragma once

#include <memory>

#include "config/config.h"
#include "daemon/plugin_api/storage.h"

namespace sg::storage {

/// Builds the configured store without touching it (no folder made, no connection), so that a
/// daemon starts while its store is away; operations report what is wrong. kConfig for settings
/// the store cannot use.
Result<std::unique_ptr<Storage>> MakeStorage(const config::Config& config);

}  // namespace sg::storage
