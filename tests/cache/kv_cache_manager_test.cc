#include "cache/kv_cache_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "cache/block_pool.h"

namespace strata::cache {
namespace {

TEST(BlockPoolTest, AllocatesAndReleases) {
  BlockPool pool(4);
  EXPECT_EQ(pool.free_count(), 4);
  auto blocks = pool.Allocate(3);
  ASSERT_TRUE(blocks.has_value());
  EXPECT_THAT(*blocks, testing::ElementsAre(0, 1, 2));
  EXPECT_EQ(pool.free_count(), 1);
  EXPECT_FALSE(pool.Allocate(2).has_value());
  EXPECT_EQ(pool.free_count(), 1) << "a failed allocation takes nothing";
  pool.AddRef(1);
  pool.Release(1);
  EXPECT_EQ(pool.RefCount(1), 1);
  pool.Release(1);
  EXPECT_EQ(pool.RefCount(1), 0);
  EXPECT_EQ(pool.free_count(), 2);
}

TEST(BlockPoolDeathTest, DoubleReleaseIsCaught) {
  BlockPool pool(2);
  auto blocks = pool.Allocate(1);
  pool.Release((*blocks)[0]);
  EXPECT_DEATH(pool.Release((*blocks)[0]), "double release");
}

TEST(KvCacheManagerTest, SlotsFollowTheBlockTable) {
  KvCacheManager kv(/*num_blocks=*/8, /*block_size=*/4);
  std::vector<int64_t> slots;
  ASSERT_TRUE(kv.Append(7, 6, &slots));
  ASSERT_EQ(kv.BlockTable(7).size(), 2u);
  const auto table = kv.BlockTable(7);
  for (int t = 0; t < 6; ++t) EXPECT_EQ(slots[t], table[t / 4] * 4 + t % 4);
  ASSERT_TRUE(kv.Append(7, 1, &slots));
  EXPECT_EQ(slots[0], table[1] * 4 + 2);
  EXPECT_EQ(kv.NumTokens(7), 7);
  EXPECT_EQ(kv.BlocksNeeded(7, 1), 0);
  EXPECT_EQ(kv.BlocksNeeded(7, 2), 1);
}

TEST(KvCacheManagerTest, FailedAppendChangesNothing) {
  KvCacheManager kv(3, 4);
  ASSERT_TRUE(kv.Append(1, 8, nullptr));
  EXPECT_FALSE(kv.CanAppend(2, 5));
  EXPECT_FALSE(kv.Append(2, 5, nullptr));
  EXPECT_FALSE(kv.Contains(2));
  EXPECT_EQ(kv.pool().free_count(), 1);
  EXPECT_TRUE(kv.Append(2, 4, nullptr));
}

TEST(KvCacheManagerTest, FreeReturnsEveryBlockAndSequencesNeverShareBlocks) {
  KvCacheManager kv(16, 8);
  for (int s = 0; s < 4; ++s) ASSERT_TRUE(kv.Append(s, 20, nullptr));
  std::set<BlockId> seen;
  for (int s = 0; s < 4; ++s) {
    for (BlockId b : kv.BlockTable(s)) EXPECT_TRUE(seen.insert(b).second) << "block " << b;
  }
  for (int s = 0; s < 4; ++s) kv.Free(s);
  EXPECT_EQ(kv.pool().free_count(), 16);
  kv.Free(99);  // unknown: no-op
}

}  // namespace
}  // namespace strata::cache
