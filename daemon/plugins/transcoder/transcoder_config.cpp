#include "daemon/plugins/transcoder/transcoder_config.h"

namespace sg::plugins {

using config::kSecond;
using config::Reload;
using config::Type;

config::ConfigDeclaration TranscoderConfig() {
  return {
      .owner = "transcoder",
      .sections =
          {
              {.name = "transcoder",
               .title = "the transcoder plugin: an ffmpeg ladder to HLS and DASH (CMAF)",
               .keys =
                   {
                       {.path = "transcoder.concurrency",
                        .type = Type::kInt,
                        .default_value = "1",
                        .doc = "Transcodes this process runs at once; each one already uses "
                               "every core, so raise it only on a large machine",
                        .min = 1,
                        .max = 64,
                        .reload = Reload::kRestartPlugin},
                       {.path = "transcoder.ladder",
                        .type = Type::kStringList,
                        .default_value =
                            "[\"240p:400k\", \"360p:800k\", \"480p:1400k\", \"720p:2800k\", "
                            "\"1080p:5000k\"]",
                        .doc = "The renditions, each HEIGHTp:BITRATE (k or M): a source is "
                               "never upscaled, so it gets the rungs up to its own height (and "
                               "one at its own height when it is below the lowest); widths keep "
                               "the aspect, rounded to even",
                        .reload = Reload::kRestartPlugin},
                       {.path = "transcoder.encoder",
                        .type = Type::kEnum,
                        .default_value = "libx264",
                        .doc = "The H.264 encoder: libx264 (software), or a hardware one the "
                               "machine's ffmpeg has ('ffmpeg -encoders' lists them); the "
                               "plugin refuses to start with one ffmpeg lacks",
                        .choices = {"libx264", "h264_nvenc", "h264_qsv", "h264_vaapi",
                                    "h264_v4l2m2m", "h264_amf"},
                        .reload = Reload::kRestartPlugin},
                       {.path = "transcoder.preset",
                        .type = Type::kEnum,
                        .default_value = "veryfast",
                        .doc = "libx264's speed against size: slower presets make smaller "
                               "files at the same quality",
                        .choices = {"ultrafast", "superfast", "veryfast", "faster", "fast",
                                    "medium", "slow", "slower", "veryslow"},
                        .reload = Reload::kRestartPlugin},
                       {.path = "transcoder.audio_bitrate",
                        .type = Type::kInt,
                        .default_value = "128000",
                        .doc = "AAC audio bits a second (stereo), shared by every rendition",
                        .min = 32000,
                        .max = 512000,
                        .reload = Reload::kRestartPlugin},
                       {.path = "transcoder.segment_duration",
                        .type = Type::kDuration,
                        .default_value = "4s",
                        .doc = "Length of a CMAF segment, and the keyframe interval of every "
                               "rendition (aligned, so players switch at any segment)",
                        .min = 2 * kSecond,
                        .max = 4 * kSecond,
                        .reload = Reload::kRestartPlugin},
                       {.path = "transcoder.nice",
                        .type = Type::kInt,
                        .default_value = "10",
                        .doc = "Nice level of ffmpeg and ffprobe, so that serving stays quick "
                               "while they run (0: as the daemon)",
                        .min = 0,
                        .max = 19,
                        .reload = Reload::kRestartPlugin},
                       {.path = "transcoder.timeout",
                        .type = Type::kDuration,
                        .default_value = "6h",
                        .doc = "Longest one ffmpeg run may take; past it, it is killed and the "
                               "attempt fails (the worker retries it)",
                        .min = kSecond,
                        .max = int64_t{7} * 24 * 3600 * kSecond,
                        .reload = Reload::kRestartPlugin},
                       {.path = "transcoder.max_dimension",
                        .type = Type::kInt,
                        .default_value = "8192",
                        .doc = "Widest or tallest source accepted, in pixels; a larger one "
                               "fails its video at once",
                        .min = 64,
                        .max = 16384,
                        .reload = Reload::kRestartPlugin},
                       {.path = "transcoder.ffmpeg",
                        .type = Type::kString,
                        .default_value = "ffmpeg",
                        .doc = "The ffmpeg program: a name looked up on PATH, or a path",
                        .min = 1,
                        .reload = Reload::kRestartPlugin},
                       {.path = "transcoder.ffprobe",
                        .type = Type::kString,
                        .default_value = "ffprobe",
                        .doc = "The ffprobe program: a name looked up on PATH, or a path",
                        .min = 1,
                        .reload = Reload::kRestartPlugin},
                       {.path = "transcoder.work_dir",
                        .type = Type::kString,
                        .default_value = "",
                        .doc = "Local folder for a transcode's source copy and outputs before "
                               "they go to storage; it needs room for a video and its "
                               "renditions. Empty: transcode/ beside the catalogue's SQLite "
                               "file (metadata.sqlite_path; the state folder by default)",
                        .reload = Reload::kRestartPlugin},
                   }},
          },
      .also_reads = {"app.mode", "metadata.sqlite_path"},
  };
}

}  // namespace sg::plugins
