// Programs a test runs (ffmpeg, ffprobe, curl, node): their paths on PATH, as Run wants them.
#pragma once

#include <cstdlib>
#include <iostream>
#include <string>

#include "common/child_process.h"
#include "tests/support/process.h"

namespace sg::test {

/// The program's path; a missing one skips the test (exit 77, ctest's SKIP_RETURN_CODE) and says
/// how to install it.
inline std::string Tool(const std::string& name) {
  auto found = FindProgram(name);
  if (!found) {
    std::cerr << "skipped: " << name << " is missing; scripts/install-deps.sh --test installs it\n";
    std::exit(77);
  }
  return *found;
}

/// A test clip made by ffmpeg from lavfi sources (nothing downloaded): testsrc2 at `size`
/// ("640x360") and 25 fps with a 440 Hz sine, `seconds` long, H.264 (ultrafast, yuv420p) and AAC.
/// True when ffmpeg made it.
inline bool LavfiClip(const std::string& path, const std::string& size, double seconds) {
  const std::string length = std::to_string(seconds);
  const auto made = Run({Tool("ffmpeg"),
                         "-v",
                         "error",
                         "-y",
                         "-f",
                         "lavfi",
                         "-i",
                         "testsrc2=size=" + size + ":rate=25:duration=" + length,
                         "-f",
                         "lavfi",
                         "-i",
                         "sine=frequency=440:duration=" + length,
                         "-c:v",
                         "libx264",
                         "-preset",
                         "ultrafast",
                         "-pix_fmt",
                         "yuv420p",
                         "-c:a",
                         "aac",
                         path},
                        {}, std::chrono::seconds(120));
  if (made.exit_code != 0) std::cerr << "ffmpeg could not make " << path << ":\n" << made.err;
  return made.exit_code == 0;
}

}  // namespace sg::test
