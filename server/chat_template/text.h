// Text helpers with Python semantics for the chat-template interpreter: UTF-8 code points,
// Python's notion of whitespace, float repr, string repr and json.dumps string escaping.
// Pure functions; inputs are assumed to be valid UTF-8 (invalid bytes decode as U+FFFD).
#pragma once

#include <string>
#include <string_view>

namespace strata::server::jinja {

std::u32string DecodeUtf8(std::string_view s);
void AppendUtf8(char32_t c, std::string* out);
std::string EncodeUtf8(std::u32string_view s);
bool IsAscii(std::string_view s);
// Number of code points (Python len()).
size_t CodePointCount(std::string_view s);

// Python str.isspace() for one code point.
bool IsPySpace(char32_t c);

// Python str.strip / lstrip / rstrip. With `chars` == nullptr strips whitespace, otherwise
// strips any code point contained in *chars.
std::string PyStrip(std::string_view s, const std::string* chars, bool left, bool right);

// Python repr(float) (also what json.dumps writes for finite floats).
std::string PyFloatRepr(double v);
// Python repr(str): quoted, with Python's escaping rules.
std::string PyStrRepr(std::string_view s);
// json.dumps of a string, quotes included.
void AppendJsonString(std::string_view s, bool ensure_ascii, std::string* out);

// markupsafe.escape: & < > " ' as HTML entities.
std::string HtmlEscape(std::string_view s);

// Python's Unicode case operations (casing.cc): str.lower() (with the final sigma rule),
// str.upper(), str.title(), str.capitalize(), str.islower(), str.isupper(); JinjaTitle is the
// `title` filter (first letter of each word upper-cased, the rest lower-cased).
std::string PyLower(std::string_view s);
std::string PyUpper(std::string_view s);
std::string PyTitle(std::string_view s);
std::string PyCapitalize(std::string_view s);
std::string PySwapcase(std::string_view s);
bool PyIsLower(std::string_view s);
bool PyIsUpper(std::string_view s);
std::string JinjaTitle(std::string_view s);

std::string AsciiLower(std::string_view s);
std::string AsciiUpper(std::string_view s);

}  // namespace strata::server::jinja
