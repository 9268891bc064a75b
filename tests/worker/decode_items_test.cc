// Sharing a CUDA graph's fixed decode items among rows by context.
#include "worker/decode_items.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

namespace strata::worker {
namespace {

int64_t LargestPerItem(const std::vector<int64_t>& contexts, const std::vector<int32_t>& items) {
  int64_t largest = 0;
  for (size_t s = 0; s < contexts.size(); ++s) {
    largest = std::max(largest, (contexts[s] + items[s] - 1) / items[s]);
  }
  return largest;
}

TEST(DecodeItemsTest, NeededCountsEveryRowAtLeastOnce) {
  const std::vector<int64_t> contexts = {1, 128, 129, 7200};
  EXPECT_EQ(DecodeItemsNeeded(contexts, 128), 1 + 1 + 2 + 57);
}

TEST(DecodeItemsTest, EqualContextsShareEqually) {
  const std::vector<int64_t> contexts(8, 4096);
  EXPECT_EQ(ShareDecodeItems(contexts, 64), std::vector<int32_t>(8, 8));
}

TEST(DecodeItemsTest, OneLongContextAmongShortOnesTakesMostItems) {
  // 16 short decodes, one long one, 7 padding rows: a bucket of 24 with 8 splits each.
  std::vector<int64_t> contexts(16, 300);
  contexts.push_back(7200);
  contexts.resize(24, 1);
  const std::vector<int32_t> items = ShareDecodeItems(contexts, 24 * 8);
  EXPECT_EQ(std::accumulate(items.begin(), items.end(), int64_t{0}), 24 * 8);
  for (size_t s = 17; s < 24; ++s) EXPECT_EQ(items[s], 1) << "padding row " << s;
  EXPECT_GT(items[16], 100);
  // Every item covers at most what an even spread of all tokens would, rounded up per row.
  EXPECT_LE(LargestPerItem(contexts, items), 70);
  // Against equal splits (8 per row), the longest item is 900 tokens.
  EXPECT_EQ(LargestPerItem(contexts, std::vector<int32_t>(24, 8)), 900);
}

TEST(DecodeItemsTest, MoreItemsThanTokensLeavesEmptyItemsAndStillSums) {
  const std::vector<int64_t> contexts = {1, 2, 3};
  const std::vector<int32_t> items = ShareDecodeItems(contexts, 12);
  EXPECT_EQ(std::accumulate(items.begin(), items.end(), 0), 12);
  EXPECT_EQ(LargestPerItem(contexts, items), 1);
}

// Random rows: the counts sum up, each row has one or more, and no share lowers the
// largest per-item count further (moving one item from any row to the worst row does not
// help), which is what the greedy guarantees.
TEST(DecodeItemsTest, RandomRowsAreSharedOptimally) {
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    const int rows = 1 + static_cast<int>(rng() % 40);
    std::vector<int64_t> contexts(rows);
    for (auto& c : contexts) c = 1 + static_cast<int64_t>(rng() % (rng() % 2 ? 300 : 20000));
    const int64_t total = rows + static_cast<int64_t>(rng() % (4 * rows + 200));
    const std::vector<int32_t> items = ShareDecodeItems(contexts, total);
    ASSERT_EQ(items.size(), contexts.size());
    EXPECT_EQ(std::accumulate(items.begin(), items.end(), int64_t{0}), total);
    EXPECT_TRUE(std::all_of(items.begin(), items.end(), [](int32_t n) { return n >= 1; }));
    // Lower bound: the largest count cannot beat the best for the worst row alone when every
    // other row keeps the fewest items reaching that count.
    const int64_t largest = LargestPerItem(contexts, items);
    if (largest > 1) {
      int64_t needed = 0;  // items to bring every row to at most largest - 1 tokens per item
      for (int64_t c : contexts) needed += (c + largest - 2) / (largest - 1);
      EXPECT_GT(needed, total) << "a smaller largest count was reachable, round " << round;
    }
  }
}

}  // namespace
}  // namespace strata::worker
