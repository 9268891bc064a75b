// Prompts of an exact token count. With the model's tokenizer, a prompt is a sequence of
// "words": vocabulary tokens whose text is a space and 2-12 ASCII letters and which encode
// back to themselves alone. The pre-tokenizers of the Llama-3 and Qwen families split such
// text at every space, so N words are exactly N tokens (checked by the tests on the real
// tokenizers), and concatenated word sequences add their counts, which shared-prefix and
// session workloads rely on. Without a tokenizer a built-in list of common English words
// stands in and counts are approximate (the server's `usage` reports the truth).
// Immutable after construction; const methods are safe from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "loadtest/random.h"

namespace strata::server {
class Tokenizer;
}

namespace strata::loadtest {

class PromptBuilder {
 public:
  // Loads tokenizer.json / tokenizer_config.json from `dir`.
  static absl::StatusOr<std::unique_ptr<PromptBuilder>> FromTokenizerDir(const std::string& dir);
  // The approximate builder (no tokenizer).
  static std::unique_ptr<PromptBuilder> Approximate();
  ~PromptBuilder();

  // Whether token counts are exact (a tokenizer is loaded).
  bool exact() const { return tokenizer_ != nullptr; }
  // Tokens a server adds around a text prompt (e.g. BOS for Llama 3; none for Qwen): a
  // prompt of n tokens in all has n - special_tokens() words.
  int32_t special_tokens() const { return special_tokens_; }
  // How many distinct words there are to draw from.
  size_t vocabulary_size() const { return words_.size(); }

  // `n` random words (indexes into the vocabulary of words), appended to `words`.
  void AppendRandomWords(int32_t n, Rng& rng, std::vector<int32_t>* words) const;
  // The text of a word sequence: with a tokenizer, exactly words.size() tokens.
  std::string Text(const std::vector<int32_t>& words) const;
  // The ids a server would see for Text(words) (special tokens included); exact only.
  std::vector<int32_t> Ids(const std::vector<int32_t>& words) const;
  // Tokens of `text` as a server counts them (special tokens included); an estimate (its
  // words) without a tokenizer.
  int32_t CountTokens(const std::string& text) const;

 private:
  PromptBuilder() = default;
  std::unique_ptr<server::Tokenizer> tokenizer_;
  std::vector<std::string> words_;  // texts, each with its leading space
  int32_t special_tokens_ = 0;
};

}  // namespace strata::loadtest
