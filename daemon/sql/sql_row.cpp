#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "daemon/plugin_api/sql.h"

namespace sg {

// PostgreSQL hands every column back as text, so numbers are parsed here; text that is not a
// number reads as 0, like NULL, rather than failing a read the schema says cannot happen.
int64_t SqlRow::Int(size_t i) const {
  const SqlValue& v = values_.at(i);
  if (const auto* n = std::get_if<int64_t>(&v)) return *n;
  if (const auto* d = std::get_if<double>(&v)) return static_cast<int64_t>(*d);
  if (const auto* s = std::get_if<std::string>(&v)) {
    int64_t out = 0;
    auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), out);
    if (ec == std::errc() && end == s->data() + s->size()) return out;
    return static_cast<int64_t>(std::strtod(s->c_str(), nullptr));
  }
  return 0;
}

double SqlRow::Double(size_t i) const {
  const SqlValue& v = values_.at(i);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* n = std::get_if<int64_t>(&v)) return static_cast<double>(*n);
  if (const auto* s = std::get_if<std::string>(&v)) return std::strtod(s->c_str(), nullptr);
  return 0;
}

std::string SqlRow::Text(size_t i) const {
  const SqlValue& v = values_.at(i);
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* n = std::get_if<int64_t>(&v)) return std::to_string(*n);
  if (const auto* d = std::get_if<double>(&v)) {
    // %.17g round-trips a double exactly.
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", *d);
    return buf;
  }
  return "";
}

}  // namespace sg
