// The streaming plugin: HLS and DASH delivery of ready videos at /videos/{id}/{file} (the master
// playlist, media playlists, init and media segments, the DASH manifest, the poster), read from
// storage. Local files go out with zero-copy sendfile and the server's validators and ranges;
// objects of a remote store (S3) are held in the cache plugin when small (one fetch for many
// viewers) and streamed through by range when large, with the same validators and ranges.
// Nothing varies per viewer, so any shared cache can keep what it serves.
#pragma once

#include <memory>

#include "daemon/plugin_api/plugin.h"

namespace sg::plugins {

std::unique_ptr<Plugin> MakeStreaming();

}  // namespace sg::plugins
