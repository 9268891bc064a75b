#include "loadtest/workload/prompt_builder.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/tokenizer/tokenizer.h"

namespace strata::loadtest {
namespace {

bool IsWordText(std::string_view text) {
  if (text.size() < 3 || text.size() > 13 || text[0] != ' ') return false;
  for (size_t i = 1; i < text.size(); ++i) {
    const char c = text[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
  }
  return true;
}

// Common English words, for the approximate builder.
constexpr const char* kWords[] = {
    "the",   "of",     "and",   "to",      "in",    "is",    "that",  "for",    "it",    "as",
    "was",   "with",   "be",    "by",      "on",    "not",   "he",    "this",   "are",   "or",
    "his",   "from",   "at",    "which",   "but",   "have",  "an",    "had",    "they",  "you",
    "were",  "their",  "one",   "all",     "we",    "can",   "her",   "has",    "there", "been",
    "if",    "more",   "when",  "will",    "would", "who",   "so",    "no",     "time",  "people",
    "year",  "way",    "day",   "man",     "thing", "woman", "life",  "child",  "world", "school",
    "state", "family", "group", "country", "hand",  "part",  "place", "case",   "week",  "system",
    "work",  "number", "night", "point",   "home",  "water", "room",  "mother", "area",  "money",
    "story", "fact",   "month", "lot",     "right", "study", "book",  "eye",    "job",   "word",
};

}  // namespace

PromptBuilder::~PromptBuilder() = default;

absl::StatusOr<std::unique_ptr<PromptBuilder>> PromptBuilder::FromTokenizerDir(
    const std::string& dir) {
  absl::StatusOr<std::unique_ptr<server::Tokenizer>> tokenizer = server::Tokenizer::Load(dir);
  if (!tokenizer.ok()) return tokenizer.status();
  std::unique_ptr<PromptBuilder> builder(new PromptBuilder());
  builder->tokenizer_ = std::move(*tokenizer);
  const server::Tokenizer& t = *builder->tokenizer_;
  for (int32_t id = 0; id < t.vocab_size(); ++id) {
    if (t.IsSpecial(id)) continue;
    const std::string_view bytes = t.TokenBytes(id);
    if (!IsWordText(bytes)) continue;
    const std::vector<int32_t> again = t.Encode(bytes);
    if (again.size() != 1 || again[0] != id) continue;
    builder->words_.emplace_back(bytes);
  }
  builder->special_tokens_ = static_cast<int32_t>(t.EncodeWithSpecial("").size());
  if (builder->words_.size() < 100) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, ": the tokenizer has only ", builder->words_.size(),
                     " single-token words; prompts of an exact length need at least 100"));
  }
  return builder;
}

std::unique_ptr<PromptBuilder> PromptBuilder::Approximate() {
  std::unique_ptr<PromptBuilder> builder(new PromptBuilder());
  for (const char* w : kWords) builder->words_.push_back(absl::StrCat(" ", w));
  return builder;
}

void PromptBuilder::AppendRandomWords(int32_t n, Rng& rng, std::vector<int32_t>* words) const {
  const int64_t last = static_cast<int64_t>(words_.size()) - 1;
  for (int32_t i = 0; i < n; ++i) words->push_back(static_cast<int32_t>(rng.UniformInt(0, last)));
}

std::string PromptBuilder::Text(const std::vector<int32_t>& words) const {
  std::string text;
  for (int32_t w : words) text += words_[w];
  return text;
}

std::vector<int32_t> PromptBuilder::Ids(const std::vector<int32_t>& words) const {
  if (!exact()) return {};
  return tokenizer_->EncodeWithSpecial(Text(words));
}

int32_t PromptBuilder::CountTokens(const std::string& text) const {
  if (exact()) return static_cast<int32_t>(tokenizer_->EncodeWithSpecial(text).size());
  int32_t words = 0;
  for (absl::string_view w : absl::StrSplit(text, absl::ByAnyChar(" \t\n"), absl::SkipEmpty())) {
    (void)w;
    ++words;
  }
  return words;
}

}  // namespace strata::loadtest
