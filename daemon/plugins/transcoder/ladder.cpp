#include "daemon/plugins/transcoder/ladder.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sg::plugins::transcoder {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::optional<int64_t> ParseBitrate(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t scale = 1;
  const char last = text.back();
  if (last == 'k' || last == 'K') {
    scale = 1000;
    text.remove_suffix(1);
  } else if (last == 'm' || last == 'M') {
    scale = 1000 * 1000;
    text.remove_suffix(1);
  }
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !(value > 0)) return std::nullopt;
  return static_cast<int64_t>(std::llround(value * static_cast<double>(scale)));
}

int Even(double v) { return std::max(2, static_cast<int>(std::lround(v / 2)) * 2); }

double ParseRate(const std::string& text) {
  const auto slash = text.find('/');
  double num = 0;
  double den = 1;
  try {
    if (slash == std::string::npos) return std::stod(text);
    num = std::stod(text.substr(0, slash));
    den = std::stod(text.substr(slash + 1));
  } catch (const std::exception&) {
    return 0;
  }
  return den > 0 ? num / den : 0;
}

double NumberField(const json& object, const char* key) {
  if (!object.contains(key)) return 0;
  const auto& v = object[key];
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    try {
      return std::stod(v.get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

// The rotation a stream is displayed with (side data, or the older "rotate" tag), in degrees.
int Rotation(const json& stream) {
  if (stream.contains("side_data_list") && stream["side_data_list"].is_array()) {
    for (const auto& side : stream["side_data_list"]) {
      if (side.is_object() && side.contains("rotation"))
        return static_cast<int>(NumberField(side, "rotation"));
    }
  }
  if (stream.contains("tags") && stream["tags"].is_object()) {
    return static_cast<int>(NumberField(stream["tags"], "rotate"));
  }
  return 0;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Result<void> WriteFile(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) return Fail(ErrorCode::kIo, fmt::format("cannot write {}", tmp.string()));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Fail(ErrorCode::kIo, fmt::format("rename {}: {}", tmp.string(), ec.message()));
  return {};
}

struct MediaPlaylist {
  std::vector<std::pair<std::string, double>> segments;  // file, seconds
  std::string init;
};

MediaPlaylist ReadPlaylist(const std::string& text) {
  MediaPlaylist playlist;
  std::istringstream in(text);
  std::string line;
  double pending = 0;
  static const std::regex map_uri(R"(#EXT-X-MAP:URI="([^"]+)\")");
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::smatch m;
    if (line.rfind("#EXTINF:", 0) == 0) {
      pending = std::atof(line.c_str() + 8);
    } else if (std::regex_search(line, m, map_uri)) {
      playlist.init = m[1];
    } else if (!line.empty() && line[0] != '#') {
      playlist.segments.emplace_back(line, pending);
      pending = 0;
    }
  }
  return playlist;
}

// ffmpeg's media playlist as a VOD one: the type said, wall-clock dates (meaningless here) gone.
std::string AsVod(const std::string& text) {
  std::istringstream in(text);
  std::string out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("#EXT-X-PROGRAM-DATE-TIME", 0) == 0) continue;
    if (line.rfind("#EXT-X-PLAYLIST-TYPE", 0) == 0) continue;
    if (line.rfind("#EXT-X-INDEPENDENT-SEGMENTS", 0) == 0) continue;
    out += line;
    out += '\n';
    if (line.rfind("#EXT-X-VERSION", 0) == 0) {
      out += "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n";
    }
  }
  return out;
}

}  // namespace

Result<std::vector<Rung>> ParseLadder(const std::vector<std::string>& items) {
  std::vector<Rung> ladder;
  for (const auto& item : items) {
    const auto colon = item.find(':');
    auto bad = [&] {
      return Fail(ErrorCode::kConfig,
                  fmt::format("transcoder.ladder: '{}' is not HEIGHTp:BITRATE, such as "
                              "720p:2800k",
                              item));
    };
    if (colon == std::string::npos || colon < 2 || item[colon - 1] != 'p') return bad();
    int height = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + colon - 1, height);
    if (ec != std::errc() || end != item.data() + colon - 1) return bad();
    if (height < 16 || height > 8640 || height % 2 != 0) {
      return Fail(
          ErrorCode::kConfig,
          fmt::format("transcoder.ladder: '{}': the height must be even, from 16 to 8640", item));
    }
    auto bitrate = ParseBitrate(std::string_view(item).substr(colon + 1));
    if (!bitrate || *bitrate < 50000 || *bitrate > 200000000) {
      return Fail(
          ErrorCode::kConfig,
          fmt::format("transcoder.ladder: '{}': the bitrate must be from 50k to 200M", item));
    }
    ladder.push_back({item.substr(0, colon), height, *bitrate});
  }
  if (ladder.empty()) {
    return Fail(ErrorCode::kConfig, "transcoder.ladder is empty: give at least one rung");
  }
  std::sort(ladder.begin(), ladder.end(),
            [](const Rung& a, const Rung& b) { return a.height < b.height; });
  for (size_t i = 1; i < ladder.size(); ++i) {
    if (ladder[i].height == ladder[i - 1].height) {
      return Fail(ErrorCode::kConfig,
                  fmt::format("transcoder.ladder: two rungs are {}p; give each height once",
                              ladder[i].height));
    }
  }
  return ladder;
}

Result<Probe> ParseProbe(std::string_view text, int max_dimension) {
  const json j = json::parse(text, nullptr, false);
  if (!j.is_object()) {
    return Fail(ErrorCode::kInvalidArgument, "ffprobe's report is not JSON");
  }
  Probe probe;
  if (j.contains("format") && j["format"].is_object()) {
    probe.duration = NumberField(j["format"], "duration");
    probe.format = j["format"].value("format_name", "");
  }
  const json* video = nullptr;
  if (j.contains("streams") && j["streams"].is_array()) {
    for (const auto& stream : j["streams"]) {
      if (!stream.is_object()) continue;
      const std::string type = stream.value("codec_type", "");
      const bool picture = stream.contains("disposition") && stream["disposition"].is_object() &&
                           stream["disposition"].value("attached_pic", 0) == 1;
      if (type == "video" && video == nullptr && !picture) video = &stream;
      if (type == "audio") probe.has_audio = true;
    }
  }
  if (video == nullptr) {
    return Fail(ErrorCode::kInvalidArgument,
                probe.has_audio
                    ? "the file has sound but no video stream; upload a video"
                    : "the file has no video stream: it is not a video ffmpeg can read");
  }
  probe.video_codec = video->value("codec_name", "");
  probe.width = static_cast<int>(NumberField(*video, "width"));
  probe.height = static_cast<int>(NumberField(*video, "height"));
  const int rotation = ((Rotation(*video) % 360) + 360) % 360;
  if (rotation == 90 || rotation == 270) std::swap(probe.width, probe.height);
  probe.fps = ParseRate(video->value("avg_frame_rate", ""));
  if (!(probe.fps > 0) || probe.fps > 1000) probe.fps = ParseRate(video->value("r_frame_rate", ""));
  if (!(probe.fps > 0) || probe.fps > 1000) probe.fps = 30;
  if (!(probe.duration > 0)) probe.duration = NumberField(*video, "duration");
  if (probe.width < 16 || probe.height < 16) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("the video is {}x{} pixels: too small to transcode (at least 16x16)",
                            probe.width, probe.height));
  }
  if (probe.width > max_dimension || probe.height > max_dimension) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("the video is {}x{} pixels, larger than transcoder.max_dimension "
                            "({}); scale it down before uploading, or raise the limit",
                            probe.width, probe.height, max_dimension));
  }
  if (!(probe.duration > 0)) {
    return Fail(ErrorCode::kInvalidArgument,
                "the video has no duration: the file is truncated or broken; upload it again");
  }
  return probe;
}

std::vector<Output> PlanLadder(const std::vector<Rung>& ladder, const Probe& probe) {
  std::vector<Output> outputs;
  const double aspect = static_cast<double>(probe.width) / probe.height;
  for (const auto& rung : ladder) {
    if (rung.height > probe.height) break;
    outputs.push_back({rung.name, Even(rung.height * aspect), rung.height, rung.bitrate});
  }
  if (outputs.empty() && !ladder.empty()) {
    const int height = std::max(2, probe.height / 2 * 2);  // even, never above the source
    outputs.push_back(
        {fmt::format("{}p", height), Even(height * aspect), height, ladder.front().bitrate});
  }
  return outputs;
}

std::string MediaPlaylistName(size_t index) { return fmt::format("media_{}.m3u8", index); }

std::string ScaleGraph(const std::vector<Output>& outputs) {
  // One decode, then a cascade: the largest rendition is scaled from the source and each smaller
  // one from the next larger. Scaling 1080p five times cost a fifth of the job; the cascade's
  // 240p differs from a direct scale by an SSIM of 0.9996, far below what the encoder loses.
  std::vector<size_t> order(outputs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return outputs[x].height * int64_t{outputs[x].width} >
           outputs[y].height * int64_t{outputs[y].width};
  });
  std::string graph;
  std::string from = "[0:v:0]";
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t i = order[k];
    if (!graph.empty()) graph += ';';
    graph +=
        fmt::format("{}scale=w={}:h={},format=yuv420p", from, outputs[i].width, outputs[i].height);
    if (k + 1 == order.size()) {
      graph += fmt::format("[v{}]", i);
    } else {
      graph += fmt::format(",split=2[v{}][c{}]", i, i);
      from = fmt::format("[c{}]", i);
    }
  }
  return graph;
}

std::vector<std::string> FfmpegArgs(const std::string& input, const std::string& out_dir,
                                    const std::vector<Output>& outputs, const Probe& probe,
                                    const EncodeSettings& settings, bool progress) {
  std::vector<std::string> a = {settings.ffmpeg, "-hide_banner", "-nostdin", "-y", "-v", "warning"};
  if (progress) {
    a.insert(a.end(), {"-progress", "pipe:1", "-nostats"});
  }
  a.insert(a.end(), {"-i", input});
  a.insert(a.end(), {"-filter_complex", ScaleGraph(outputs)});
  for (size_t i = 0; i < outputs.size(); ++i) a.insert(a.end(), {"-map", fmt::format("[v{}]", i)});
  if (probe.has_audio) a.insert(a.end(), {"-map", "0:a:0"});
  const double seg = settings.segment_seconds;
  const int gop = std::max(1, static_cast<int>(std::lround(probe.fps * seg)));
  a.insert(a.end(), {"-c:v", settings.encoder});
  if (settings.encoder == "libx264") a.insert(a.end(), {"-preset", settings.preset});
  for (size_t i = 0; i < outputs.size(); ++i) {
    const auto& o = outputs[i];
    a.insert(a.end(), {fmt::format("-b:v:{}", i), std::to_string(o.bitrate),
                       fmt::format("-maxrate:v:{}", i), std::to_string(o.bitrate * 11 / 10),
                       fmt::format("-bufsize:v:{}", i), std::to_string(o.bitrate * 2)});
  }
  // Keyframes at every segment boundary, by time, in every rendition: players switch anywhere.
  a.insert(a.end(), {"-g", std::to_string(gop), "-keyint_min", std::to_string(gop), "-sc_threshold",
                     "0", "-force_key_frames", fmt::format("expr:gte(t,n_forced*{})", seg)});
  if (probe.has_audio) {
    a.insert(a.end(), {"-c:a", "aac", "-b:a", std::to_string(settings.audio_bitrate), "-ac", "2"});
  }
  a.insert(a.end(),
           {"-f", "dash", "-seg_duration", fmt::format("{}", seg), "-use_template", "1",
            "-use_timeline", "1", "-hls_playlist", "1", "-adaptation_sets",
            probe.has_audio ? "id=0,streams=v id=1,streams=a" : "id=0,streams=v", "-init_seg_name",
            "init-$RepresentationID$.$ext$", "-media_seg_name",
            "seg-$RepresentationID$-$Number%05d$.$ext$", (fs::path(out_dir) / kManifest).string()});
  return a;
}

std::vector<std::string> PosterArgs(const std::string& input, const std::string& poster_path,
                                    const Probe& probe, const EncodeSettings& settings) {
  const double at = std::min(5.0, probe.duration * 0.1);
  return {settings.ffmpeg,
          "-hide_banner",
          "-nostdin",
          "-y",
          "-v",
          "error",
          "-ss",
          fmt::format("{:.3f}", at),
          "-i",
          input,
          "-frames:v",
          "1",
          "-vf",
          "scale=-2:'min(720,ih)',format=yuvj420p",
          "-q:v",
          "3",
          poster_path};
}

std::vector<std::string> ProbeArgs(const std::string& ffprobe, const std::string& input) {
  return {ffprobe,        "-hide_banner",  "-v", "error", "-print_format", "json",
          "-show_format", "-show_streams", input};
}

std::optional<FfmpegProgress> ProgressParser::Feed(std::string_view line) {
  const auto eq = line.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  const std::string_view key = line.substr(0, eq);
  std::string value(line.substr(eq + 1));
  while (!value.empty() && value.front() == ' ') value.erase(0, 1);
  auto number = [&]() -> std::optional<double> {
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || !std::isfinite(v)) return std::nullopt;
    return v;
  };
  if (key == "out_time_us" || key == "out_time_ms") {  // both are microseconds in ffmpeg 5
    if (auto v = number(); v && *v >= 0) current_.out_seconds = *v / 1e6;
  } else if (key == "fps") {
    current_.fps = number();
  } else if (key == "speed") {
    current_.speed = number();  // "4.77x" parses as 4.77; "N/A" as nothing
  } else if (key == "progress") {
    current_.end = value == "end";
    FfmpegProgress report = current_;
    current_ = {};
    current_.out_seconds = report.out_seconds;
    return report;
  }
  return std::nullopt;
}

Result<std::vector<Packaged>> FinishPackage(const std::string& out_dir,
                                            const std::vector<Output>& outputs,
                                            const Probe& probe) {
  const fs::path dir(out_dir);
  const std::string mpd = ReadFile(dir / kManifest);
  if (mpd.find("</MPD>") == std::string::npos) {
    return Fail(ErrorCode::kInternal, "ffmpeg wrote no whole DASH manifest");
  }
  std::map<int, std::string> codecs;
  static const std::regex representation(R"re(<Representation id="(\d+)"[^>]*codecs="([^"]+)")re");
  for (std::sregex_iterator it(mpd.begin(), mpd.end(), representation), end; it != end; ++it) {
    codecs[std::stoi((*it)[1])] = (*it)[2];
  }
  const size_t count = outputs.size() + (probe.has_audio ? 1 : 0);
  std::vector<Packaged> packaged;
  for (size_t i = 0; i < count; ++i) {
    Packaged p;
    const bool audio = i >= outputs.size();
    p.audio = audio;
    p.playlist = MediaPlaylistName(i);
    const fs::path playlist_path = dir / p.playlist;
    std::error_code ec;
    if (!fs::exists(playlist_path, ec)) {
      return Fail(ErrorCode::kInternal, fmt::format("ffmpeg wrote no {}", p.playlist));
    }
    const std::string text = ReadFile(playlist_path);
    const MediaPlaylist media = ReadPlaylist(text);
    if (media.segments.empty() || text.find("#EXT-X-ENDLIST") == std::string::npos) {
      return Fail(ErrorCode::kInternal, fmt::format("{} is not a finished playlist", p.playlist));
    }
    double seconds = 0;
    uint64_t bytes = 0;
    for (const auto& [file, duration] : media.segments) {
      const auto size = fs::file_size(dir / file, ec);
      if (ec)
        return Fail(ErrorCode::kInternal,
                    fmt::format("{} lists {}, which is missing", p.playlist, file));
      bytes += size;
      seconds += duration;
      if (duration > 0.5) {
        p.peak_bandwidth = std::max(p.peak_bandwidth,
                                    static_cast<int64_t>(static_cast<double>(size) * 8 / duration));
      }
    }
    p.average_bandwidth =
        seconds > 0 ? static_cast<int64_t>(static_cast<double>(bytes) * 8 / seconds) : 0;
    if (p.peak_bandwidth == 0) p.peak_bandwidth = p.average_bandwidth;
    p.codec = codecs.count(static_cast<int>(i)) != 0 ? codecs[static_cast<int>(i)]
                                                     : (audio ? "mp4a.40.2" : "avc1.640028");
    if (audio) {
      p.name = "audio";
    } else {
      p.name = outputs[i].name;
      p.width = outputs[i].width;
      p.height = outputs[i].height;
      p.bitrate = outputs[i].bitrate;
    }
    if (auto w = WriteFile(playlist_path, AsVod(text)); !w) return w.error();
    packaged.push_back(std::move(p));
  }

  std::string master = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n";
  const Packaged* audio = probe.has_audio ? &packaged.back() : nullptr;
  if (audio != nullptr) {
    master += fmt::format(
        "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"default\",DEFAULT=YES,AUTOSELECT=YES,"
        "CHANNELS=\"2\",URI=\"{}\"\n",
        audio->playlist);
  }
  for (const auto& p : packaged) {
    if (p.audio) continue;
    const int64_t peak = p.peak_bandwidth + (audio ? audio->peak_bandwidth : 0);
    const int64_t average = p.average_bandwidth + (audio ? audio->average_bandwidth : 0);
    master += fmt::format(
        "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},RESOLUTION={}x{},CODECS=\"{}{}\","
        "FRAME-RATE={:.3f}{}\n{}\n",
        peak, average, p.width, p.height, p.codec, audio ? "," + audio->codec : "", probe.fps,
        audio ? ",AUDIO=\"audio\"" : "", p.playlist);
  }
  if (auto w = WriteFile(dir / kMaster, master); !w) return w.error();
  return packaged;
}

std::vector<std::string> UploadOrder(std::vector<std::string> files) {
  auto rank = [](const std::string& name) {
    if (name == kMaster) return 4;
    if (name == kManifest) return 3;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".m3u8") == 0) return 2;
    if (name.rfind("init-", 0) == 0) return 1;  // before nothing that names it is there
    return 0;
  };
  std::stable_sort(files.begin(), files.end(), [&](const std::string& a, const std::string& b) {
    const int ra = rank(a);
    const int rb = rank(b);
    return ra != rb ? ra < rb : a < b;
  });
  return files;
}

}  // namespace sg::plugins::transcoder
