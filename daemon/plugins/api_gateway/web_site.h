// The web page the api-gateway serves: index.html at `/` and its content-hashed assets at
// /assets/NAME.HASH.EXT, from a folder laid out by web/build_web.cmake (share/streamgate/web).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sg::plugins::web {

/// The folders where the page may be, in the order they are tried: `configured` alone when it is
/// not empty; else share/streamgate/web beside the running binary's bin/ (a build tree, or an
/// installed prefix), then the folder `cmake --install` puts it in.
std::vector<std::string> Candidates(const std::string& configured);

/// What a web root holds: the assets' names, read once, and where index.html is.
struct Site {
  std::string root;                // "" when no page was found
  std::string index;               // root + "/index.html"
  std::set<std::string> assets;    // names in root/assets that pass IsAssetName
  std::vector<std::string> tried;  // the folders looked in, for the warning
};

/// The first candidate with an index.html, and its assets.
Site Find(const std::string& configured);

/// A name the server may answer for: letters, digits, '-', '_' and dots between them, ending
/// in a known extension; never a path, never "." or "..".
bool IsAssetName(std::string_view name);

/// The Content-Type of an asset by its extension; nullopt for an extension not served.
std::optional<std::string_view> ContentType(std::string_view name);

}  // namespace sg::plugins::web
