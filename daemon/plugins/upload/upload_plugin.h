// The upload plugin: resumable uploads with the tus 1.0.0 protocol at /api/v1/uploads (core,
// creation, creation-with-upload, creation-defer-length, termination, checksum, expiration,
// concatenation). An upload's bytes are staged in storage (Storage::Stage) and count only once
// synced; a finished upload becomes its video's source object (videos/ID/source), the video
// (created in the catalogue with the upload, under the same id) moves to "uploaded", and
// video.uploaded is published on the bus.
#pragma once

#include <memory>

#include "daemon/plugin_api/plugin.h"

namespace sg::plugins {

std::unique_ptr<Plugin> MakeUpload();

}  // namespace sg::plugins
