// fmt's compiled part, built into the `streamgate` executable when it links statically
// (SG_STATIC_CLI): Debian ships libfmt.so but no libfmt.a. The definitions come from Debian's
// <fmt/format-inl.h>; these are the explicit instantiations libfmt's own translation unit makes
// (fmt 9's src/format.cc), so that the CLI needs no libfmt.so, and with it no libstdc++.so, at
// start (tests/bench/README.md, "The CLI").
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {

template FMT_API auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template FMT_API auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;
template FMT_API locale_ref::locale_ref(const std::locale& loc);
template FMT_API auto locale_ref::get<std::locale>() const -> std::locale;
template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto decimal_point_impl(locale_ref) -> char;
template FMT_API void buffer<char>::append(const char*, const char*);
template FMT_API void vformat_to(buffer<char>&, string_view,
                                 basic_format_args<FMT_BUFFER_CONTEXT(char)>, locale_ref);

}  // namespace detail
FMT_END_NAMESPACE
