#include "worker/sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

namespace strata::worker {
namespace {

std::vector<float> Logits() { return {1.0f, 3.0f, 2.0f, 3.0f, -1.0f}; }

TEST(SamplingTest, GreedyTakesTheLowestIdAmongTies) {
  auto logits = Logits();
  SamplingParams params;
  params.temperature = 0.0f;
  EXPECT_EQ(SampleToken(logits, params, {}, {}, 0).token, 1);
}

TEST(SamplingTest, LogprobsAreOfTheRawDistribution) {
  auto logits = Logits();
  SamplingParams params;
  params.temperature = 0.0f;
  params.top_logprobs = 2;
  params.repetition_penalty = 2.0f;  // must not change the reported logprobs
  std::vector<int32_t> prompt = {2};
  SampledToken t = SampleToken(logits, params, prompt, {}, 0);
  double z = 0;
  for (float v : Logits()) z += std::exp(v);
  EXPECT_NEAR(t.logprob, 3.0 - std::log(z), 1e-5);
  ASSERT_EQ(t.top.size(), 2u);
  EXPECT_EQ(t.top[0].token, 1);
  EXPECT_EQ(t.top[1].token, 3);
  EXPECT_NEAR(t.top[1].logprob, 3.0 - std::log(z), 1e-5);
}

TEST(SamplingTest, PenaltiesFollowTheOpenAiDefinitions) {
  std::vector<float> logits = {2.0f, -2.0f, 1.0f, 1.0f};
  SamplingParams params;
  params.repetition_penalty = 2.0f;
  params.presence_penalty = 0.5f;
  params.frequency_penalty = 0.25f;
  std::vector<int32_t> prompt = {0, 1}, output = {2, 2};
  ApplyPenalties(logits, params, prompt, output);
  EXPECT_FLOAT_EQ(logits[0], 1.0f);                         // positive / 2
  EXPECT_FLOAT_EQ(logits[1], -4.0f);                        // negative * 2
  EXPECT_FLOAT_EQ(logits[2], 1.0f / 2 - 0.25f * 2 - 0.5f);  // repetition, then presence/frequency
  EXPECT_FLOAT_EQ(logits[3], 1.0f);                         // unseen
}

TEST(SamplingTest, SameSeedSameTokensDifferentSeedsDiffer) {
  SamplingParams params;
  params.temperature = 1.0f;
  std::vector<float> base(50);
  for (int i = 0; i < 50; ++i) base[i] = std::sin(i * 0.7f);
  auto draw = [&](uint64_t seed) {
    std::vector<int32_t> tokens;
    params.seed = seed;
    for (uint64_t step = 0; step < 40; ++step) {
      auto logits = base;
      tokens.push_back(SampleToken(logits, params, {}, {}, step).token);
    }
    return tokens;
  };
  EXPECT_EQ(draw(7), draw(7));
  EXPECT_NE(draw(7), draw(8));
}

TEST(SamplingTest, TopKTopPMinPRestrictTheCandidates) {
  // Probabilities proportional to exp(logit): token 0 dominant, 1 and 2 next, rest tiny.
  const std::vector<float> base = {5.0f, 4.0f, 4.0f, 0.0f, 0.0f, 0.0f};
  auto support = [&](SamplingParams params) {
    std::map<int32_t, int> seen;
    for (uint64_t step = 0; step < 2000; ++step) {
      auto logits = base;
      params.seed = 11;
      ++seen[SampleToken(logits, params, {}, {}, step).token];
    }
    return seen;
  };
  SamplingParams params;
  params.top_k = 2;
  auto s = support(params);
  EXPECT_EQ(s.size(), 2u);
  EXPECT_TRUE(s.contains(0) && s.contains(1));
  params = {};
  params.top_p = 0.5f;  // p0 = e^5 / (e^5 + 2 e^4 + 3) ~ 0.57 >= 0.5
  EXPECT_EQ(support(params).size(), 1u);
  params = {};
  params.min_p = 0.2f;  // keeps tokens with p >= 0.2 p0: 0, 1, 2
  s = support(params);
  EXPECT_EQ(s.size(), 3u);
  EXPECT_FALSE(s.contains(3));
}

TEST(SamplingTest, SampledFrequenciesFollowTheDistribution) {
  const std::vector<float> base = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  SamplingParams params;
  params.seed = 3;
  std::vector<int> counts(3);
  const int n = 20000;
  for (int step = 0; step < n; ++step) {
    auto logits = base;
    ++counts[SampleToken(logits, params, {}, {}, step).token];
  }
  EXPECT_NEAR(counts[0] / double(n), 0.5, 0.02);
  EXPECT_NEAR(counts[1] / double(n), 0.3, 0.02);
  EXPECT_NEAR(counts[2] / double(n), 0.2, 0.02);
}

TEST(SamplingTest, SeededUniformIsInTheUnitInterval) {
  for (uint64_t i = 0; i < 1000; ++i) {
    const double u = SeededUniform(42, i);
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

}  // namespace
}  // namespace strata::worker
