// Added (and special) tokens of a Hugging Face tokenizer, found in text before BPE: the
// leftmost-longest occurrence wins, as in the reference's Aho-Corasick matcher, and the
// `single_word`, `lstrip` and `rstrip` flags are honoured. Immutable after construction.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace strata::server {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;
  bool single_word = false;  // only matches when not inside a word (Unicode \w on both sides)
  bool lstrip = false;       // swallows white space on its left
  bool rstrip = false;       // swallows white space on its right
  bool normalized = true;    // matched against the normalized text (else the raw text)
};

// One piece of split text: either an added token (id >= 0) or plain text (id == -1).
struct TextSegment {
  std::string_view text;
  int32_t id = -1;
};

class AddedTokenMatcher {
 public:
  // `patterns[i]` is the string to look for (the token's content, normalized for tokens with
  // normalized=true); `tokens[i]` supplies the id and flags. Empty patterns are ignored.
  AddedTokenMatcher(const std::vector<std::string>& patterns,
                    const std::vector<AddedToken>& tokens);
  AddedTokenMatcher() = default;

  bool empty() const { return tokens_.empty(); }

  // Splits `text` into segments covering it in order. Plain segments may be empty only when
  // `text` is.
  void Split(std::string_view text, std::vector<TextSegment>* out) const;

 private:
  // Trie over pattern bytes: child of (node, byte) in children_; terminal node -> token index.
  absl::flat_hash_map<uint64_t, int32_t> children_;
  std::vector<int32_t> terminal_;  // per node: index into tokens_, or -1
  std::vector<AddedToken> tokens_;
  bool first_byte_[256] = {};
};

}  // namespace strata::server
