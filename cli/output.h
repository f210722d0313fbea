// Human output: systemctl-style glyphs, durations, and aligned tables.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace sg::cli {

/// "●" running, "○" stopped or not started, "×" failed, "◌" in between.
std::string StateGlyph(const std::string& state);
/// "3d 4h", "1h 2m", "5m 3s", "42s".
std::string HumanDuration(int64_t seconds);
/// Prints rows with columns padded to the widest cell (UTF-8 aware for the glyphs).
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows,
                const std::string& indent = "");

}  // namespace sg::cli
