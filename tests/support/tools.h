// Programs a test runs (ffmpeg, ffprobe, curl, node): their paths on PATH, as Run wants them.
#pragma once

#include <cstdlib>
#include <iostream>
#include <string>

#include "common/child_process.h"

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

}  // namespace sg::test
