// Just enough XML for S3's answers (ListObjectsV2, InitiateMultipartUpload, Error): elements found
// by name, text with the five entities and character references decoded. S3's answers are flat,
// generated and small, so a scanner does; a full parser (libxml2) would add a dependency for no
// gain in what is read.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sg::storage::s3 {

/// The contents of each <name ...>...</name> (or "" for <name/>) at any depth, in order.
std::vector<std::string_view> XmlElements(std::string_view xml, std::string_view name);
/// The decoded text of the first such element, if any.
std::optional<std::string> XmlText(std::string_view xml, std::string_view name);
/// Decodes &amp; &lt; &gt; &quot; &apos; &#N; &#xN; (UTF-8); leaves anything else as is.
std::string XmlDecode(std::string_view text);
/// Escapes & < > " ' for element text.
std::string XmlEscape(std::string_view text);

}  // namespace sg::storage::s3
