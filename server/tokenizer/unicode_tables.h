// Unicode character data for the tokenizer, generated into unicode_tables.cc by
// tools/unicode/gen_unicode_tables.py (Unicode version in kUnicodeVersion). Read-only data;
// use the lookups in unicode.h rather than these arrays directly.
#pragma once

#include <cstdint>

namespace strata::server::unicode_tables {

extern const char kUnicodeVersion[];

// Property flags, one byte per code point.
inline constexpr uint8_t kLetter = 1;       // \p{L}
inline constexpr uint8_t kNumber = 2;       // \p{N}
inline constexpr uint8_t kWhiteSpace = 4;   // White_Space (regex \s)
inline constexpr uint8_t kWord = 8;         // Unicode regex \w
inline constexpr uint8_t kNfcMaybeNo = 16;  // NFC_Quick_Check != Yes, or ccc != 0

// Two-stage table: flags(cp) = kPropertyStage2[kPropertyStage1[cp / 128] * 128 + cp % 128].
inline constexpr int kPropertyBlockSize = 128;
extern const uint8_t kPropertyStage1[0x110000 / kPropertyBlockSize];
extern const int kPropertyBlockCount;
extern const uint8_t kPropertyStage2[];

// Sorted by code point; only non-zero classes are listed.
struct CombiningClass {
  uint32_t code_point;
  uint8_t ccc;
};
extern const int kCombiningClassCount;
extern const CombiningClass kCombiningClasses[];

// Full canonical decomposition of code_point: kDecompositionPool[offset, offset + length).
// Sorted by code point; Hangul syllables are decomposed algorithmically and not listed.
struct Decomposition {
  uint32_t code_point;
  uint16_t offset;
  uint16_t length;
};
extern const int kDecompositionCount;
extern const Decomposition kDecompositions[];
extern const uint32_t kDecompositionPool[];

// Canonical composition: (first, second) -> composite, sorted by (first, second). Hangul
// compositions are algorithmic and not listed.
struct Composition {
  uint32_t first;
  uint32_t second;
  uint32_t composite;
};
extern const int kCompositionCount;
extern const Composition kCompositions[];

}  // namespace strata::server::unicode_tables
