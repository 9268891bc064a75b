// Unicode case data for Python's str.lower/upper/title and islower/isupper, generated into
// case_table.cc by gen_case_table.py.
#pragma once

#include <cstddef>
#include <cstdint>

namespace strata::server::jinja::case_table {

// Maps first, first + stride, ... (count code points) to code point + delta.
struct CaseRun {
  char32_t first;
  uint16_t count;
  uint8_t stride;
  int32_t delta;
};

// A code point whose mapping is several code points (UTF-8).
struct CaseSpecial {
  char32_t code_point;
  const char* utf8;
};

extern const CaseRun kLowerRuns[];
extern const size_t kLowerRunsSize;
extern const CaseRun kUpperRuns[];
extern const size_t kUpperRunsSize;
extern const CaseSpecial kLowerSpecial[];
extern const size_t kLowerSpecialSize;
extern const CaseSpecial kUpperSpecial[];
extern const size_t kUpperSpecialSize;
// Code points whose str.title() differs from str.upper().
extern const CaseSpecial kTitleSpecial[];
extern const size_t kTitleSpecialSize;
// Code points Python's islower() / isupper() count as lowercase / uppercase, and the titlecase
// letters (category Lt), as runs with delta 0.
extern const CaseRun kLowercase[];
extern const size_t kLowercaseSize;
extern const CaseRun kUppercase[];
extern const size_t kUppercaseSize;
extern const CaseRun kTitlecase[];
extern const size_t kTitlecaseSize;

}  // namespace strata::server::jinja::case_table
