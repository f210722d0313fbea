// The transcoder's decisions, apart from running anything: what ffprobe said of a source and
// whether it can be transcoded, which rungs of the ladder it gets, the one ffmpeg command that
// makes them all (one decode, scaled in a cascade, keyframes aligned, CMAF segments with a DASH
// manifest and HLS playlists over them), ffmpeg's -progress output, and the finished playlists.
// Pure functions, so that tests and the benchmark use exactly what the plugin runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sg::plugins::transcoder {

/// A rung of transcoder.ladder: "720p:2800k".
struct Rung {
  std::string name;  // "720p"
  int height = 0;
  int64_t bitrate = 0;  // bits a second
};

/// Parses transcoder.ladder; kConfig names the bad item and the form expected.
Result<std::vector<Rung>> ParseLadder(const std::vector<std::string>& items);

/// What ffprobe said of a source, as it will be displayed (rotation applied).
struct Probe {
  double duration = 0;  // seconds
  int width = 0;
  int height = 0;
  double fps = 0;
  bool has_audio = false;
  std::string video_codec;  // "h264"
  std::string format;       // "mov,mp4,m4a,3gp,3g2,mj2"
};

/// Parses `ffprobe -print_format json -show_format -show_streams`. kInvalidArgument, with a
/// reason a person can read, for a source that cannot be transcoded: not media, no video stream,
/// no duration, absurd dimensions (over `max_dimension` or under 16 pixels).
Result<Probe> ParseProbe(std::string_view json, int max_dimension);

/// One output of the ladder for one source.
struct Output {
  std::string name;  // "720p"
  int width = 0;     // even
  int height = 0;    // even
  int64_t bitrate = 0;
};

/// The rungs up to the source's height (never upscaled); a source below the lowest rung gets one
/// output at its own size, at the lowest rung's bitrate. Widths keep the aspect, rounded to even.
std::vector<Output> PlanLadder(const std::vector<Rung>& ladder, const Probe& probe);

struct EncodeSettings {
  std::string ffmpeg = "ffmpeg";
  std::string encoder = "libx264";
  std::string preset = "veryfast";
  int64_t audio_bitrate = 128000;
  double segment_seconds = 4;
};

/// The names ffmpeg writes in the output folder.
inline constexpr std::string_view kManifest = "manifest.mpd";
inline constexpr std::string_view kMaster = "master.m3u8";
/// The media playlist of representation `index` (video outputs first, then audio).
std::string MediaPlaylistName(size_t index);

/// The filter graph of the one ffmpeg run: the source decoded once and scaled in a cascade, the
/// largest rendition from the source and each smaller one from the next larger; `[vN]` is output N.
std::string ScaleGraph(const std::vector<Output>& outputs);

/// The ffmpeg command (argv) for the whole ladder, writing into `out_dir`; with `progress` it
/// writes -progress key=value lines to its standard output.
std::vector<std::string> FfmpegArgs(const std::string& input, const std::string& out_dir,
                                    const std::vector<Output>& outputs, const Probe& probe,
                                    const EncodeSettings& settings, bool progress);

/// The ffmpeg command for the poster: one frame, 10% in (at most 5 s), at most 720 pixels high.
std::vector<std::string> PosterArgs(const std::string& input, const std::string& poster_path,
                                    const Probe& probe, const EncodeSettings& settings);

/// ffprobe's command for a source.
std::vector<std::string> ProbeArgs(const std::string& ffprobe, const std::string& input);

/// One report of ffmpeg's -progress output.
struct FfmpegProgress {
  double out_seconds = 0;
  std::optional<double> fps;
  std::optional<double> speed;  // 4.5 for "4.5x"
  bool end = false;
};

/// Gathers -progress lines; Feed returns a report at each "progress=" line that ends a block.
class ProgressParser {
 public:
  std::optional<FfmpegProgress> Feed(std::string_view line);

 private:
  FfmpegProgress current_;
};

/// A rendition as packaged: what the catalogue and the master playlist say of it.
struct Packaged {
  std::string name;  // "720p", or "audio"
  int width = 0;
  int height = 0;
  int64_t bitrate = 0;         // the configured target
  int64_t peak_bandwidth = 0;  // the largest segment's bits a second
  int64_t average_bandwidth = 0;
  std::string codec;     // "avc1.64001f"
  std::string playlist;  // its media playlist's file name
  bool audio = false;
};

/// After ffmpeg: reads the manifest and the media playlists in `out_dir`, measures segment sizes,
/// rewrites the media playlists as VOD (EXT-X-PLAYLIST-TYPE, no wall-clock dates) and writes the
/// master playlist with BANDWIDTH, AVERAGE-BANDWIDTH, RESOLUTION, CODECS and FRAME-RATE.
/// Returns the video renditions then the audio one. kInternal when ffmpeg's output is not whole.
Result<std::vector<Packaged>> FinishPackage(const std::string& out_dir,
                                            const std::vector<Output>& outputs, const Probe& probe);

/// The files of a finished package in the order they must reach storage: segments and init
/// segments, then media playlists, the manifest, and the master playlist last.
std::vector<std::string> UploadOrder(std::vector<std::string> files);

}  // namespace sg::plugins::transcoder
