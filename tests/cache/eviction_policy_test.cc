#include "cache/eviction_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

namespace strata::cache {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::unique_ptr<EvictionPolicy> Make(std::string_view name, int64_t sinks = 4,
                                     int64_t recent = 64) {
  auto policy = MakeEvictionPolicy(
      name, {.streaming_sink_tokens = sinks, .heavy_hitter_recent_tokens = recent});
  EXPECT_TRUE(policy.ok()) << policy.status();
  return std::move(*policy);
}

TEST(EvictionPolicyTest, UnknownPolicyNamesTheSupportedOnes) {
  auto policy = MakeEvictionPolicy("lru", {});
  ASSERT_FALSE(policy.ok());
  EXPECT_NE(policy.status().message().find("none, streaming, heavy_hitter, adaptive_precision"), std::string::npos);
}

TEST(EvictionPolicyTest, NoneIsAHardCap) {
  auto none = Make("none");
  const BudgetView view{.block_size = 4, .cap_blocks = 3, .held_blocks = 3, .resident_tokens = 11};
  EXPECT_EQ(none->MaxChunk(view), 1);
  EXPECT_FALSE(none->MakeRoom(view, 1).finish);
  EXPECT_TRUE(none->MakeRoom(view, 2).finish);
  EXPECT_THAT(none->MakeRoom(view, 1).drop, IsEmpty());
  EXPECT_TRUE(none->MustFinish(view, 2));
}

TEST(EvictionPolicyTest, StreamingDropsTheOldestBlockAfterTheSinks) {
  auto streaming = Make("streaming", /*sinks=*/5);  // two sink blocks of 4
  EXPECT_EQ(streaming->MinBudgetTokens(4), 16);
  // Full at the cap: the next token needs a block, the oldest non-sink block goes.
  BudgetView view{.block_size = 4, .cap_blocks = 5, .held_blocks = 5, .resident_tokens = 20};
  const BudgetAction action = streaming->MakeRoom(view, 1);
  EXPECT_FALSE(action.finish);
  EXPECT_THAT(action.drop, ElementsAre(2));
  // Below the cap nothing is dropped.
  view.resident_tokens = 19;
  EXPECT_THAT(streaming->MakeRoom(view, 1).drop, IsEmpty());
  // A prefill chunk may use everything but the sinks and the kept last block.
  view.resident_tokens = 18;
  EXPECT_EQ(streaming->MaxChunk(view), 20 - (18 - 2 * 4));
  const BudgetAction big = streaming->MakeRoom(view, streaming->MaxChunk(view));
  EXPECT_THAT(big.drop, ElementsAre(2, 3));
  EXPECT_FALSE(streaming->MustFinish(view, streaming->MaxChunk(view)));
  EXPECT_TRUE(streaming->MustFinish(view, streaming->MaxChunk(view) + 4));
}

TEST(EvictionPolicyTest, OnlyHeavyHitterWantsAttentionMass) {
  EXPECT_FALSE(Make("none")->wants_attention_mass());
  EXPECT_FALSE(Make("streaming")->wants_attention_mass());
  EXPECT_TRUE(Make("heavy_hitter")->wants_attention_mass());
}

// Blocks of 4 tokens, a recent window of 6 tokens: the last 2 blocks are protected.
TEST(EvictionPolicyTest, HeavyHitterDropsTheLowestMeanMassOutsideTheRecentWindow) {
  auto hh = Make("heavy_hitter", /*sinks=*/4, /*recent=*/6);
  EXPECT_EQ(hh->MinBudgetTokens(4), 12);
  // Index:                 0     1     2     3     4     5 (protected: 4, 5)
  const float mass[] = {8.0f, 1.0f, 6.0f, 0.5f, 0.0f, 0.0f};
  const int32_t steps[] = {4, 1, 2, 1, 1, 1};  // means: 2, 1, 3, 0.5, 0, 0
  BudgetView view{.block_size = 4, .cap_blocks = 6, .held_blocks = 6, .resident_tokens = 24,
                  .block_mass = mass, .block_steps = steps};
  EXPECT_THAT(hh->MakeRoom(view, 1).drop, ElementsAre(3));
  EXPECT_FALSE(hh->MakeRoom(view, 1).finish);
  // Room for two more blocks: the two lowest, in table order.
  EXPECT_EQ(hh->MaxChunk(view), 24 - 8);
  EXPECT_THAT(hh->MakeRoom(view, 5).drop, ElementsAre(1, 3));
  EXPECT_THAT(hh->MakeRoom(view, 16).drop, ElementsAre(0, 1, 2, 3));
  EXPECT_TRUE(hh->MakeRoom(view, 17).finish);
  EXPECT_TRUE(hh->MustFinish(view, 17));
  // Below the cap nothing is dropped.
  view.resident_tokens = 23;
  EXPECT_THAT(hh->MakeRoom(view, 1).drop, IsEmpty());
}

TEST(EvictionPolicyTest, HeavyHitterNeverDropsTheProtectedWindow) {
  auto hh = Make("heavy_hitter", /*sinks=*/4, /*recent=*/8);  // two protected blocks
  // The protected blocks score lowest, yet only blocks 0..2 are candidates.
  const float mass[] = {5.0f, 4.0f, 3.0f, 0.0f, 0.0f};
  const int32_t steps[] = {1, 1, 1, 1, 1};
  BudgetView view{.block_size = 4, .cap_blocks = 5, .held_blocks = 5, .resident_tokens = 20,
                  .block_mass = mass, .block_steps = steps};
  EXPECT_THAT(hh->MakeRoom(view, 1).drop, ElementsAre(2));
  EXPECT_THAT(hh->MakeRoom(view, 9).drop, ElementsAre(0, 1, 2));
  // Nothing droppable left: the sequence finishes.
  view.held_blocks = 2;
  view.cap_blocks = 2;
  view.resident_tokens = 8;
  EXPECT_TRUE(hh->MakeRoom(view, 1).finish);
  EXPECT_EQ(hh->MaxChunk(view), 0);
}

TEST(EvictionPolicyTest, HeavyHitterWithoutScoresDropsTheOldestAndKeepsTheLastBlock) {
  auto hh = Make("heavy_hitter", /*sinks=*/4, /*recent=*/0);  // only the last block kept
  EXPECT_EQ(hh->MinBudgetTokens(16), 32);
  BudgetView view{.block_size = 4, .cap_blocks = 3, .held_blocks = 3, .resident_tokens = 12};
  EXPECT_THAT(hh->MakeRoom(view, 1).drop, ElementsAre(0));  // ties: the oldest
  EXPECT_THAT(hh->MakeRoom(view, 5).drop, ElementsAre(0, 1));
  EXPECT_TRUE(hh->MakeRoom(view, 9).finish);
}

// Random views: the drop list is sorted, outside the window, as long as needed, and no
// kept candidate scores lower than a dropped one.
TEST(EvictionPolicyTest, HeavyHitterRandomViewsPickTheLowestScores) {
  std::mt19937 rng(7);
  auto hh = Make("heavy_hitter", /*sinks=*/0, /*recent=*/12);  // three blocks of 4
  for (int trial = 0; trial < 2000; ++trial) {
    const int32_t held = std::uniform_int_distribution<int32_t>(4, 40)(rng);
    std::vector<float> mass(held);
    std::vector<int32_t> steps(held);
    for (int32_t i = 0; i < held; ++i) {
      mass[i] = std::uniform_int_distribution<int>(0, 5)(rng);  // ties happen
      steps[i] = std::uniform_int_distribution<int>(1, 3)(rng);
    }
    BudgetView view{.block_size = 4, .cap_blocks = held, .held_blocks = held,
                    .resident_tokens = int64_t{held} * 4 - 2, .block_mass = mass,
                    .block_steps = steps};
    const int64_t chunk = std::uniform_int_distribution<int64_t>(1, hh->MaxChunk(view))(rng);
    const BudgetAction action = hh->MakeRoom(view, chunk);
    ASSERT_FALSE(action.finish);
    const int32_t over = static_cast<int32_t>((view.resident_tokens + chunk + 3) / 4) - held;
    ASSERT_EQ(static_cast<int32_t>(action.drop.size()), std::max(over, 0));
    std::vector<bool> dropped(held, false);
    for (size_t i = 0; i < action.drop.size(); ++i) {
      ASSERT_LT(action.drop[i], held - 3);
      if (i > 0) {
        ASSERT_LT(action.drop[i - 1], action.drop[i]);
      }
      dropped[action.drop[i]] = true;
    }
    for (int32_t d : action.drop) {
      for (int32_t k = 0; k < held - 3; ++k) {
        if (!dropped[k]) {
          ASSERT_LE(mass[d] / steps[d], mass[k] / steps[k]);
        }
      }
    }
  }
}

}  // namespace
}  // namespace strata::cache
