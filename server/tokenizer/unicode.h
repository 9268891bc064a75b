// UTF-8 and Unicode helpers for the tokenizer: decoding, character properties, NFC, and
// lossy UTF-8 repair. Pure functions over immutable tables; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/tokenizer/unicode_tables.h"

namespace strata::server::unicode {

// A byte that is not part of a well-formed UTF-8 sequence decodes to kInvalidByteBase + byte.
// Such values have no properties (they are "other" characters) and re-encode as that byte, so
// text with invalid UTF-8 survives a decode/encode round trip byte for byte.
inline constexpr uint32_t kInvalidByteBase = 0x110000;
inline constexpr uint32_t kReplacementCharacter = 0xFFFD;

struct DecodedChar {
  uint32_t code_point;  // or kInvalidByteBase + byte
  int length;           // bytes consumed, 1..4
};

// Decodes the character starting at text[pos] (pos < text.size()).
inline DecodedChar DecodeUtf8(std::string_view text, size_t pos);

// Appends the UTF-8 encoding of code_point (or the raw byte for an invalid-byte value).
void AppendUtf8(uint32_t code_point, std::string* out);

// The flag byte (unicode_tables::kLetter, ...) for a code point; 0 for invalid-byte values.
inline uint8_t Properties(uint32_t code_point) {
  if (code_point >= 0x110000) return 0;
  const int block =
      unicode_tables::kPropertyStage1[code_point / unicode_tables::kPropertyBlockSize];
  return unicode_tables::kPropertyStage2[block * unicode_tables::kPropertyBlockSize +
                                         code_point % unicode_tables::kPropertyBlockSize];
}
inline bool IsLetter(uint32_t cp) { return Properties(cp) & unicode_tables::kLetter; }
inline bool IsNumber(uint32_t cp) { return Properties(cp) & unicode_tables::kNumber; }
inline bool IsWhiteSpace(uint32_t cp) { return Properties(cp) & unicode_tables::kWhiteSpace; }
inline bool IsWordChar(uint32_t cp) { return Properties(cp) & unicode_tables::kWord; }

// Canonical combining class (0 for starters and invalid-byte values).
int CombiningClass(uint32_t code_point);

// Unicode Normalization Form C. Invalid bytes pass through unchanged (and block composition).
std::string NfcNormalize(std::string_view text);
// True when `text` is certainly in NFC already (NFC_Quick_Check=Yes for every character).
bool IsNfcQuickYes(std::string_view text);

// Converts bytes to valid UTF-8, replacing each maximal ill-formed subsequence with U+FFFD
// (the Unicode "best practice", as Python's errors="replace" and Rust's from_utf8_lossy do).
std::string Utf8Lossy(std::string_view bytes);
// Length of the longest suffix of `bytes` that is a proper prefix of a well-formed UTF-8
// sequence, i.e. bytes that may still become a character when more bytes arrive (0..3).
size_t IncompleteUtf8Suffix(std::string_view bytes);

// --- implementation ---

// Number of continuation bytes needed after a lead byte, or -1 if `b` cannot start a sequence.
inline int Utf8TrailCount(uint8_t b) {
  if (b < 0x80) return 0;
  if (b < 0xC2) return -1;
  if (b < 0xE0) return 1;
  if (b < 0xF0) return 2;
  if (b < 0xF5) return 3;
  return -1;
}

// Valid range of the first continuation byte after lead byte `b` (Unicode Table 3-7).
inline void Utf8SecondByteRange(uint8_t b, uint8_t* lo, uint8_t* hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (b == 0xE0) *lo = 0xA0;
  if (b == 0xED) *hi = 0x9F;
  if (b == 0xF0) *lo = 0x90;
  if (b == 0xF4) *hi = 0x8F;
}

// Length of the well-formed prefix of a sequence starting at text[pos]: the number of bytes
// (1 + valid continuation bytes) that could belong to one character. `*complete` tells
// whether they form a whole character.
inline int Utf8ValidPrefix(std::string_view text, size_t pos, bool* complete) {
  const uint8_t b = static_cast<uint8_t>(text[pos]);
  const int trail = Utf8TrailCount(b);
  if (trail <= 0) {
    *complete = trail == 0;
    return 1;
  }
  uint8_t lo, hi;
  Utf8SecondByteRange(b, &lo, &hi);
  int n = 1;
  while (n <= trail && pos + n < text.size()) {
    const uint8_t c = static_cast<uint8_t>(text[pos + n]);
    if (c < lo || c > hi) break;
    lo = 0x80;
    hi = 0xBF;
    ++n;
  }
  *complete = n == trail + 1;
  return n;
}

inline DecodedChar DecodeUtf8(std::string_view text, size_t pos) {
  const uint8_t b = static_cast<uint8_t>(text[pos]);
  if (b < 0x80) return {b, 1};
  bool complete;
  const int n = Utf8ValidPrefix(text, pos, &complete);
  if (!complete) return {kInvalidByteBase + b, 1};
  uint32_t cp = b & (0x3F >> (n - 1));
  for (int i = 1; i < n; ++i) cp = (cp << 6) | (static_cast<uint8_t>(text[pos + i]) & 0x3F);
  return {cp, n};
}

}  // namespace strata::server::unicode
