// Splits normalized text into pre-tokens ("words") the way a Hugging Face `Split` pre-tokenizer
// with behavior "Isolated" does for the GPT-4-style regexes of Llama-3 and Qwen2/Qwen3. The
// regex is matched by hand code, not a regex engine: only the known patterns are accepted.
// Immutable after construction; safe to share between threads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace strata::server {

class PreTokenizer {
 public:
  // The Llama-3 pattern: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
  //   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  static const char kLlama3Pattern[];
  // The Qwen2/Qwen3 pattern: the same with \p{N} (one digit per pre-token) for \p{N}{1,3}.
  static const char kQwen2Pattern[];

  // Accepts exactly one of the patterns above; any other regex is an InvalidArgument error.
  static absl::StatusOr<PreTokenizer> FromRegex(std::string_view pattern);

  // Appends the pre-tokens of `text`, in order, to `pieces`; they cover `text` exactly.
  // Semantics are Oniguruma's (which the Hugging Face library uses): \s is White_Space,
  // \p{L}/\p{N} are general categories, and (?i:...) folds case by Unicode simple case
  // folding, so "'ſ" (U+017F) matches "'s". A byte that is not valid UTF-8 counts as one
  // character that is neither a letter, a number nor white space.
  void Split(std::string_view text, std::vector<std::string_view>* pieces) const;

  int max_digits() const { return max_digits_; }

 private:
  explicit PreTokenizer(int max_digits) : max_digits_(max_digits) {}
  int max_digits_;  // the n of \p{N}{1,n}
};

}  // namespace strata::server
