#include "server/tokenizer/added_tokens.h"

#include <algorithm>

#include "server/tokenizer/unicode.h"

namespace strata::server {
namespace {

uint64_t ChildKey(int32_t node, uint8_t byte) { return (static_cast<uint64_t>(node) << 8) | byte; }

// Decodes the character that ends just before `end` (end > 0).
unicode::DecodedChar LastChar(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && end - start < 4 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) {
    --start;
  }
  const unicode::DecodedChar c = unicode::DecodeUtf8(text, start);
  if (start + c.length == end) return c;
  return {unicode::kInvalidByteBase + static_cast<uint8_t>(text[end - 1]), 1};
}

// Regex \w$ on text[0, end).
bool EndsWithWord(std::string_view text, size_t end) {
  return end > 0 && unicode::IsWordChar(LastChar(text, end).code_point);
}

// Regex ^\w on text[begin, ...).
bool StartsWithWord(std::string_view text, size_t begin) {
  return begin < text.size() && unicode::IsWordChar(unicode::DecodeUtf8(text, begin).code_point);
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<std::string>& patterns,
                                     const std::vector<AddedToken>& tokens) {
  terminal_.push_back(-1);  // root
  for (size_t i = 0; i < patterns.size(); ++i) {
    const std::string& p = patterns[i];
    if (p.empty()) continue;
    int32_t node = 0;
    for (char ch : p) {
      const uint64_t key = ChildKey(node, static_cast<uint8_t>(ch));
      auto it = children_.find(key);
      if (it == children_.end()) {
        it = children_.emplace(key, static_cast<int32_t>(terminal_.size())).first;
        terminal_.push_back(-1);
      }
      node = it->second;
    }
    // The first token registered for a pattern keeps it.
    if (terminal_[node] < 0) {
      terminal_[node] = static_cast<int32_t>(tokens_.size());
      tokens_.push_back(tokens[i]);
      first_byte_[static_cast<uint8_t>(p[0])] = true;
    }
  }
}

void AddedTokenMatcher::Split(std::string_view text, std::vector<TextSegment>* out) const {
  size_t emitted = 0;  // text before this offset has been emitted
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_byte_[static_cast<uint8_t>(text[pos])]) {
      ++pos;
      continue;
    }
    // Longest pattern starting at pos.
    int32_t node = 0;
    int32_t best = -1;
    size_t best_end = 0;
    for (size_t j = pos; j < text.size(); ++j) {
      const auto it = children_.find(ChildKey(node, static_cast<uint8_t>(text[j])));
      if (it == children_.end()) break;
      node = it->second;
      if (terminal_[node] >= 0) {
        best = terminal_[node];
        best_end = j + 1;
      }
    }
    if (best < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[best];
    size_t start = pos;
    size_t stop = best_end;
    pos = best_end;  // a discarded match still consumes its text, as upstream's find_iter does
    if (token.single_word &&
        ((start > 0 && EndsWithWord(text, start)) || StartsWithWord(text, stop))) {
      continue;
    }
    if (token.lstrip) {
      size_t s = start;
      while (s > emitted) {
        const unicode::DecodedChar c = LastChar(text, s);
        if (!unicode::IsWhiteSpace(c.code_point)) break;
        s -= c.length;
      }
      start = s;
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        const unicode::DecodedChar c = unicode::DecodeUtf8(text, stop);
        if (!unicode::IsWhiteSpace(c.code_point)) break;
        stop += c.length;
      }
      pos = std::max(pos, stop);
    }
    if (start > emitted) out->push_back({text.substr(emitted, start - emitted), -1});
    out->push_back({text.substr(start, stop - start), token.id});
    emitted = stop;
  }
  if (emitted < text.size() || text.empty()) {
    out->push_back({text.substr(emitted), -1});
  }
}

}  // namespace strata::server
