// The transcoder plugin: turns an uploaded video into adaptive streams. It handles the worker's
// "transcode" jobs (at most transcoder.concurrency at once), which it enqueues itself when
// video.uploaded arrives on the bus and, at start, for every video still waiting. A job probes
// the source with ffprobe, runs one ffmpeg for the whole ladder (CMAF segments, a DASH manifest
// and HLS playlists over the same segments, keyframes aligned), makes a poster, writes it all
// to storage under videos/ID/ (the playlists last) and makes the video ready. Progress goes out
// as video.transcode.progress events, at most two a second.
#pragma once

#include <memory>

#include "daemon/plugin_api/plugin.h"

namespace sg::plugins {

std::unique_ptr<Plugin> MakeTranscoder();

}  // namespace sg::plugins
