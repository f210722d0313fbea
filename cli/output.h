// Human output: systemctl-style glyphs, durations, and aligned tables.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sg::cli {

/// "●" running, "○" stopped or not started, "×" failed, "◌" in between.
std::string StateGlyph(const std::string& state);
/// "3d 4h", "1h 2m", "5m 3s", "42s".
std::string HumanDuration(int64_t seconds);
/// Prints rows with columns padded to the widest cell (UTF-8 aware for the glyphs).
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows,
                const std::string& indent = "");

/// A field of a reply object as table text, whatever its type: a string as it is (control
/// characters shown as '?', so that a record cannot move the cursor), a number or boolean as
/// JSON writes it, "-" when missing, null or empty.
std::string FieldText(const nlohmann::ordered_json& object, const char* key);
/// `text` cut to `max` code points, with "…" when cut.
std::string Shorten(const std::string& text, size_t max);
/// Prints `object`'s fields as an aligned "key: value" list, in its order; arrays and objects
/// as compact JSON.
void PrintFields(std::ostream& out, const nlohmann::ordered_json& object);

}  // namespace sg::cli
