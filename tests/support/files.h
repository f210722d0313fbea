// Reading the project's own files (man pages, completions) from tests.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace sg::test {

/// The text of a file under the source tree, or "" when it cannot be read.
inline std::string ReadSourceFile(const std::string& relative) {
  std::ifstream in(std::string(SG_SOURCE_DIR) + "/" + relative, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace sg::test
