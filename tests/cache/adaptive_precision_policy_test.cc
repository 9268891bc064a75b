// adaptive_precision (cache/eviction_policy.h): full -> int8 -> dropped, by score.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "cache/eviction_policy.h"

namespace strata::cache {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::unique_ptr<EvictionPolicy> Adaptive(int64_t sinks, int64_t recent) {
  auto policy = MakeEvictionPolicy(
      "adaptive_precision", {.adaptive_sink_tokens = sinks, .adaptive_recent_tokens = recent});
  EXPECT_TRUE(policy.ok()) << policy.status();
  return std::move(*policy);
}

// Blocks of 4 tokens; a full block costs 4, an int8 one 1 (the CPU backend's float32).
struct Scene {
  std::vector<float> mass;
  std::vector<int32_t> steps;
  std::vector<uint8_t> precision;
  BudgetView view;
  Scene(int32_t cap, std::vector<float> m, std::vector<uint8_t> p, int64_t full = 4,
        int64_t quantized = 1, float ratio = 0.0f)
      : mass(std::move(m)), steps(mass.size(), 1), precision(std::move(p)) {
    view.block_size = 4;
    view.cap_blocks = cap;
    view.held_blocks = static_cast<int32_t>(mass.size());
    view.resident_tokens = 4 * view.held_blocks;
    view.block_mass = mass;
    view.block_steps = steps;
    view.block_precision = precision;
    view.quantized_blocks = static_cast<int32_t>(std::ranges::count(precision, 1));
    view.full_block_cost = full;
    view.quantized_block_cost = quantized;
    view.full_precision_ratio = ratio;
  }
};

TEST(AdaptivePrecisionTest, IsNamedAndScoresAndQuantizes) {
  auto policy = Adaptive(4, 4);
  EXPECT_EQ(policy->name(), "adaptive_precision");
  EXPECT_TRUE(policy->wants_attention_mass());
  EXPECT_TRUE(policy->quantizes());
  EXPECT_EQ(policy->MinBudgetTokens(4), 12);  // sink block, recent block, one more
  EXPECT_NE(std::string(SupportedEvictionPolicies()).find("adaptive_precision"),
            std::string::npos);
  EXPECT_FALSE(MakeEvictionPolicy("adaptive_precision", {.adaptive_recent_tokens = -1}).ok());
}

TEST(AdaptivePrecisionTest, QuantizesTheLowestScoresFirst) {
  auto policy = Adaptive(4, 4);  // block 0 and the last block are protected
  // Six full blocks at a cap of six: the next block needs 4 units, each int8 saves 3.
  Scene s(6, {0.0f, 0.5f, 0.1f, 0.3f, 0.2f, 0.0f}, {0, 0, 0, 0, 0, 0});
  const BudgetAction action = policy->MakeRoom(s.view, 1);
  EXPECT_FALSE(action.finish);
  EXPECT_THAT(action.quantize, ElementsAre(2, 4));
  EXPECT_THAT(action.drop, IsEmpty());
  // Room left in the last block: nothing to do.
  s.view.resident_tokens -= 1;
  EXPECT_THAT(policy->MakeRoom(s.view, 1).quantize, IsEmpty());
}

TEST(AdaptivePrecisionTest, NeverTouchesTheSinksOrTheRecentWindow) {
  auto policy = Adaptive(4, 8);  // block 0, and the last two blocks
  // The protected blocks score lowest, yet only the candidates move.
  Scene s(6, {0.0f, 0.9f, 0.8f, 0.7f, 0.0f, 0.0f}, {0, 0, 0, 0, 0, 0});
  const BudgetAction action = policy->MakeRoom(s.view, 1);
  EXPECT_THAT(action.quantize, ElementsAre(2, 3));
  // Pressed hard (a 3-block chunk): every candidate goes int8 then some are dropped, but
  // the protected blocks stay.
  const BudgetAction hard = policy->MakeRoom(s.view, 12);
  for (int32_t i : hard.drop) EXPECT_TRUE(i >= 1 && i <= 3) << i;
  for (int32_t i : hard.quantize) EXPECT_TRUE(i >= 1 && i <= 3) << i;
}

TEST(AdaptivePrecisionTest, DropsOnlyWhenQuantizingIsExhausted) {
  auto policy = Adaptive(4, 4);
  // Every candidate is int8 already (an int8 block costs 2 of a full block's 4): the next
  // block (4) is paid by dropping the two lowest-scoring int8 blocks.
  Scene s(4, {0.0f, 0.4f, 0.1f, 0.3f, 0.2f, 0.0f}, {0, 1, 1, 1, 1, 0}, /*full=*/4,
          /*quantized=*/2);
  const BudgetAction action = policy->MakeRoom(s.view, 1);
  EXPECT_FALSE(action.finish);
  EXPECT_THAT(action.quantize, IsEmpty());
  EXPECT_THAT(action.drop, ElementsAre(2, 4));
  // With one full candidate left, it is quantized first, then the rest is paid by a drop.
  Scene mixed(4, {0.0f, 0.4f, 0.1f, 0.3f, 0.2f, 0.0f}, {0, 1, 1, 0, 1, 0}, 4, 2);
  // cost 4 + 2 + 2 + 4 + 2 + 4 = 18 > 16 already; + 4 for the new block: 6 over.
  const BudgetAction m = policy->MakeRoom(mixed.view, 1);
  EXPECT_THAT(m.quantize, ElementsAre(3));  // saves 2
  EXPECT_THAT(m.drop, ElementsAre(2, 4));   // 2 + 2
}

TEST(AdaptivePrecisionTest, KeepsTheFullPrecisionShareAndDropsInstead) {
  auto policy = Adaptive(4, 4);
  // Four full candidates, ratio 0.5: two may be quantized (the lowest), the top two stay.
  Scene s(6, {0.0f, 0.5f, 0.1f, 0.3f, 0.2f, 0.0f}, {0, 0, 0, 0, 0, 0}, 4, 1, 0.5f);
  const BudgetAction first = policy->MakeRoom(s.view, 1);
  EXPECT_THAT(first.quantize, ElementsAre(2, 4));
  // Once the share is reached, room comes from dropping the lowest-scoring block.
  Scene after(6, {0.0f, 0.5f, 0.1f, 0.3f, 0.2f, 0.0f}, {0, 0, 1, 0, 1, 0}, 4, 1, 0.5f);
  after.view.cap_blocks = 4;  // cost 4 + 4 + 1 + 4 + 1 + 4 = 18 over 16, plus the new block
  const BudgetAction next = policy->MakeRoom(after.view, 1);
  EXPECT_FALSE(next.finish);
  EXPECT_THAT(next.drop, testing::Contains(2));
  // The kept share is never quantized: block 1 (the top score) stays full.
  for (int32_t i : next.quantize) EXPECT_NE(i, 1);
}

TEST(AdaptivePrecisionTest, ChunksPreferQuantizingToDropping) {
  auto policy = Adaptive(4, 8);  // block 0 and the last two are protected
  // Four full blocks at a cap of four: dropping everything would free one block for the
  // chunk, quantizing the one candidate frees only 3 of 4 units: one block, by a drop.
  Scene tight(4, {0.0f, 0.1f, 0.0f, 0.0f}, {0, 0, 0, 0});
  EXPECT_EQ(policy->MaxChunk(tight.view), 4);
  // A cap of eight: three candidates as int8 cost 3 of 20 free units: 4 more blocks fit
  // without dropping anything, and the chunk stops there.
  Scene roomy(8, {0.0f, 0.3f, 0.1f, 0.2f, 0.0f, 0.0f}, {0, 0, 0, 0, 0, 0});
  // protected 3 x 4 + candidates 3 x 1 = 15 of 32: 17 units, 4 blocks.
  EXPECT_EQ(roomy.view.held_blocks, 6);
  EXPECT_EQ(policy->MaxChunk(roomy.view), 16);
  const BudgetAction action = policy->MakeRoom(roomy.view, 16);
  EXPECT_THAT(action.quantize, ElementsAre(1, 2, 3));
  EXPECT_THAT(action.drop, IsEmpty());
}

TEST(AdaptivePrecisionTest, FinishesWhenOnlyProtectedBlocksAreLeft) {
  auto policy = Adaptive(4, 4);
  Scene s(2, {0.0f, 0.0f}, {0, 0});
  EXPECT_TRUE(policy->MustFinish(s.view, 1));
  EXPECT_TRUE(policy->MakeRoom(s.view, 1).finish);
  EXPECT_EQ(policy->MaxChunk(s.view), 0);
  s.view.resident_tokens = 7;  // one slot free in the last block
  EXPECT_FALSE(policy->MustFinish(s.view, 1));
  EXPECT_EQ(policy->MaxChunk(s.view), 1);
}

// Random tables: MakeRoom(MaxChunk) never finishes and always lands under the cap; it
// never touches protected blocks, never quantizes an int8 block, never both drops and
// quantizes a block.
TEST(AdaptivePrecisionTest, RandomTablesStayUnderTheCap) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 2000; ++trial) {
    const int64_t sinks = rng() % 9, recent = rng() % 13;
    auto policy = Adaptive(sinks, recent);
    const int32_t sink_blocks = static_cast<int32_t>((sinks + 3) / 4);
    const int32_t recent_blocks = std::max<int32_t>(static_cast<int32_t>((recent + 3) / 4), 1);
    const int32_t held = sink_blocks + recent_blocks + static_cast<int32_t>(rng() % 12);
    std::vector<float> mass(held);
    std::vector<uint8_t> precision(held, 0);
    for (int32_t i = 0; i < held; ++i) {
      mass[i] = static_cast<float>(rng() % 100);
      if (i >= sink_blocks && i < held - recent_blocks) precision[i] = rng() % 2;
    }
    const int64_t full = 4, quantized = 1 + rng() % 3;
    int64_t cost = 0;
    for (uint8_t p : precision) cost += p ? quantized : full;
    const int32_t cap = static_cast<int32_t>((cost + full - 1) / full) + static_cast<int32_t>(rng() % 3);
    Scene s(cap, mass, precision, full, quantized, static_cast<float>(rng() % 3) / 4.0f);
    s.view.resident_tokens = 4 * held - static_cast<int64_t>(rng() % 4);
    const int64_t chunk = policy->MaxChunk(s.view);
    if (chunk <= 0) continue;
    for (int64_t n : {int64_t{1}, chunk}) {
      const BudgetAction action = policy->MakeRoom(s.view, n);
      ASSERT_FALSE(action.finish) << trial;
      std::set<int32_t> dropped(action.drop.begin(), action.drop.end());
      int64_t after = 0;
      for (int32_t i = 0; i < held; ++i) {
        if (dropped.contains(i)) continue;
        const bool q = precision[i] || std::ranges::count(action.quantize, i) > 0;
        after += q ? quantized : full;
      }
      for (int32_t i : action.quantize) {
        ASSERT_EQ(precision[i], 0) << trial;
        ASSERT_FALSE(dropped.contains(i)) << trial;
      }
      for (int32_t i : action.drop) ASSERT_TRUE(i >= sink_blocks && i < held - recent_blocks);
      for (int32_t i : action.quantize) ASSERT_TRUE(i >= sink_blocks && i < held - recent_blocks);
      const int64_t new_blocks = (s.view.resident_tokens + n + 3) / 4 - held;
      ASSERT_LE(after + new_blocks * full, int64_t{cap} * full) << trial;
    }
    ASSERT_FALSE(policy->MustFinish(s.view, chunk)) << trial;
  }
}

TEST(AdaptivePrecisionTest, FullPrecisionRatioFollowsTheStatistics) {
  const int64_t context = 256;
  // Uniform attention everywhere: maximal entropy, no spread: the largest share.
  const std::vector<float> uniform = {std::log(256.0f), 0.0f, 0.0f, std::log(256.0f), 0.0f, 0.0f};
  EXPECT_NEAR(FullPrecisionRatio(uniform, context), kMaxFullPrecisionRatio, 1e-5);
  // Peaked, heavy-tailed scores: little entropy, large variance and kurtosis: near zero.
  const std::vector<float> peaked = {0.1f, 9.0f, 40.0f, 0.1f, 9.0f, 40.0f};
  EXPECT_LT(FullPrecisionRatio(peaked, context), 0.01f);
  // Per layer, then averaged.
  const std::vector<float> mixed = {std::log(256.0f), 0.0f, 0.0f, 0.1f, 9.0f, 40.0f};
  EXPECT_NEAR(FullPrecisionRatio(mixed, context),
              (FullPrecisionRatio(uniform, context) + FullPrecisionRatio(peaked, context)) / 2,
              1e-5);
  EXPECT_EQ(FullPrecisionRatio({}, context), 0.0f);
  EXPECT_EQ(FullPrecisionRatio(uniform, 1), 0.0f);
}

}  // namespace
}  // namespace strata::cache
