#include "cache/eviction_policy.h"

#include <gtest/gtest.h>

namespace strata::cache {
namespace {

std::unique_ptr<EvictionPolicy> Make(std::string_view name, int64_t sinks = 4) {
  auto policy = MakeEvictionPolicy(name, {.streaming_sink_tokens = sinks});
  EXPECT_TRUE(policy.ok()) << policy.status();
  return std::move(*policy);
}

TEST(EvictionPolicyTest, UnknownPolicyNamesTheSupportedOnes) {
  auto policy = MakeEvictionPolicy("lru", {});
  ASSERT_FALSE(policy.ok());
  EXPECT_NE(policy.status().message().find("none, streaming"), std::string::npos);
}

TEST(EvictionPolicyTest, NoneIsAHardCap) {
  auto none = Make("none");
  const BudgetView view{.block_size = 4, .cap_blocks = 3, .held_blocks = 3, .resident_tokens = 11};
  EXPECT_EQ(none->MaxChunk(view), 1);
  EXPECT_FALSE(none->MakeRoom(view, 1).finish);
  EXPECT_TRUE(none->MakeRoom(view, 2).finish);
  EXPECT_EQ(none->MakeRoom(view, 1).drop_count, 0);
}

TEST(EvictionPolicyTest, StreamingDropsTheOldestBlockAfterTheSinks) {
  auto streaming = Make("streaming", /*sinks=*/5);  // two sink blocks of 4
  EXPECT_EQ(streaming->MinBudgetTokens(4), 16);
  // Full at the cap: the next token needs a block, the oldest non-sink block goes.
  BudgetView view{.block_size = 4, .cap_blocks = 5, .held_blocks = 5, .resident_tokens = 20};
  const BudgetAction action = streaming->MakeRoom(view, 1);
  EXPECT_FALSE(action.finish);
  EXPECT_EQ(action.drop_first, 2);
  EXPECT_EQ(action.drop_count, 1);
  // Below the cap nothing is dropped.
  view.resident_tokens = 19;
  EXPECT_EQ(streaming->MakeRoom(view, 1).drop_count, 0);
  // A prefill chunk may use everything but the sinks and the kept last block.
  view.resident_tokens = 18;
  EXPECT_EQ(streaming->MaxChunk(view), 20 - (18 - 2 * 4));
  const BudgetAction big = streaming->MakeRoom(view, streaming->MaxChunk(view));
  EXPECT_EQ(big.drop_count, 2);
}

}  // namespace
}  // namespace strata::cache
