// Tokenizer for Jinja template source, with the whitespace rules of Jinja2 as Hugging Face
// transformers configures it: trim_blocks and lstrip_blocks on, `-`/`+` whitespace control on
// tags, comments dropped, `{% raw %}` kept verbatim, newlines normalized to "\n" and one
// trailing newline of the source removed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace strata::server::jinja {

enum class TokenKind {
  kText,           // literal template data
  kVariableBegin,  // {{
  kVariableEnd,    // }}
  kBlockBegin,     // {%
  kBlockEnd,       // %}
  kName,
  kString,  // value holds the decoded literal
  kInteger,
  kFloat,
  kOperator,  // value holds the operator text, e.g. "==", "(", "|"
  kEnd,
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string value;
  int64_t int_value = 0;
  double float_value = 0;
  int line = 0;    // 1-based
  int column = 0;  // 1-based, in code points
};

// Splits `source` into tokens ending with one kEnd token. Errors (InvalidArgument) name the
// line and column.
absl::StatusOr<std::vector<Token>> Tokenize(std::string_view source);

}  // namespace strata::server::jinja
