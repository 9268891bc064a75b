#include "server/tokenizer/pre_tokenizer.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/tokenizer/unicode.h"

namespace strata::server {
namespace {

// Character classes the pattern distinguishes.
enum Class : uint8_t {
  kOther = 0,   // [^\s\p{L}\p{N}]
  kLetter = 1,  // \p{L}
  kNumber = 2,  // \p{N}
  kSpace = 3,   // \s other than \r and \n
  kNewline = 4  // \r or \n
};

Class Classify(uint32_t cp) {
  if (cp == '\r' || cp == '\n') return kNewline;
  const uint8_t p = unicode::Properties(cp);
  if (p & unicode_tables::kLetter) return kLetter;
  if (p & unicode_tables::kNumber) return kNumber;
  if (p & unicode_tables::kWhiteSpace) return kSpace;
  return kOther;
}

// Lower-cases a code point for the (?i:...) contraction group: ASCII letters and U+017F LATIN
// SMALL LETTER LONG S, whose simple case folding is 's'. No other character folds to one of
// the letters s, t, r, e, v, m, l, d.
uint32_t FoldForContraction(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + ('a' - 'A');
  if (cp == 0x17F) return 's';
  return cp;
}

bool IsSpaceClass(Class c) { return c == kSpace || c == kNewline; }

}  // namespace

const char PreTokenizer::kLlama3Pattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char PreTokenizer::kQwen2Pattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

absl::StatusOr<PreTokenizer> PreTokenizer::FromRegex(std::string_view pattern) {
  if (pattern == kLlama3Pattern) return PreTokenizer(3);
  if (pattern == kQwen2Pattern) return PreTokenizer(1);
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported pre-tokenizer split regex: ", std::string(pattern),
                   " (supported: the Llama-3 and Qwen2/Qwen3 patterns)"));
}

void PreTokenizer::Split(std::string_view text, std::vector<std::string_view>* pieces) const {
  // Decode once: character i spans bytes [chars[i].offset, chars[i + 1].offset).
  struct Char {
    uint32_t cp;
    uint32_t offset;
    Class cls;
  };
  std::vector<Char> chars;
  chars.reserve(text.size() + 1);
  for (size_t pos = 0; pos < text.size();) {
    const unicode::DecodedChar c = unicode::DecodeUtf8(text, pos);
    chars.push_back({c.code_point, static_cast<uint32_t>(pos), Classify(c.code_point)});
    pos += c.length;
  }
  const size_t n = chars.size();
  chars.push_back({0, static_cast<uint32_t>(text.size()), kOther});
  auto cp = [&](size_t k) { return chars[k].cp; };
  auto cls = [&](size_t k) { return chars[k].cls; };
  auto emit = [&](size_t begin, size_t end) {
    pieces->push_back(text.substr(chars[begin].offset, chars[end].offset - chars[begin].offset));
  };

  size_t i = 0;
  while (i < n) {
    const Class c = cls(i);
    // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if (cp(i) == '\'' && i + 1 < n) {
      const uint32_t a = FoldForContraction(cp(i + 1));
      const uint32_t b = i + 2 < n ? FoldForContraction(cp(i + 2)) : 0;
      size_t len = 0;
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        len = 2;
      } else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
        len = 3;
      }
      if (len != 0) {
        emit(i, i + len);
        i += len;
        continue;
      }
    }
    // 2. [^\r\n\p{L}\p{N}]?\p{L}+
    if (c == kLetter || (c != kNumber && c != kNewline && i + 1 < n && cls(i + 1) == kLetter)) {
      size_t j = i + 1;
      while (j < n && cls(j) == kLetter) ++j;
      emit(i, j);
      i = j;
      continue;
    }
    // 3. \p{N}{1,max_digits}
    if (c == kNumber) {
      size_t j = i + 1;
      while (j < n && cls(j) == kNumber && j - i < static_cast<size_t>(max_digits_)) ++j;
      emit(i, j);
      i = j;
      continue;
    }
    // 4.  ?[^\s\p{L}\p{N}]+[\r\n]*
    if (c == kOther || (cp(i) == ' ' && i + 1 < n && cls(i + 1) == kOther)) {
      size_t j = c == kOther ? i + 1 : i + 2;
      while (j < n && cls(j) == kOther) ++j;
      while (j < n && cls(j) == kNewline) ++j;
      emit(i, j);
      i = j;
      continue;
    }
    // White space from here on: the run is [i, end).
    size_t end = i + 1;
    while (end < n && IsSpaceClass(cls(end))) ++end;
    // 5. \s*[\r\n]+ : up to and including the run's last \r or \n.
    size_t last_newline = end;
    for (size_t k = end; k > i; --k) {
      if (cls(k - 1) == kNewline) {
        last_newline = k - 1;
        break;
      }
    }
    if (last_newline != end) {
      emit(i, last_newline + 1);
      i = last_newline + 1;
      continue;
    }
    // 6. \s+(?!\S) : the whole run at the end of text, else all but its last character.
    if (end == n || end - i >= 2) {
      const size_t stop = end == n ? end : end - 1;
      emit(i, stop);
      i = stop;
      continue;
    }
    // 7. \s+
    emit(i, end);
    i = end;
  }
}

}  // namespace strata::server
