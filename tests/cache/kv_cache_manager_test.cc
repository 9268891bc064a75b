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
  EXPECT_DEATH(pool.Release((*blocks)[0]), "release of unowned block");
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


std::vector<int32_t> Iota(int n, int32_t first = 100) {
  std::vector<int32_t> v(n);
  for (int i = 0; i < n; ++i) v[i] = first + i;
  return v;
}

KvCacheOptions Tiers(int32_t device, int32_t host, bool prefix = true) {
  return {.block_size = 4, .device_blocks = device, .host_blocks = host, .prefix_caching = prefix};
}

TEST(KvCacheManagerTest, PrefixHitsShareFullBlocksOnly) {
  KvCacheManager kv(Tiers(16, 0));
  const std::vector<int32_t> prompt = Iota(10);
  EXPECT_EQ(kv.MatchPrefix(1, prompt, RootKey(""), 9), 0);
  ASSERT_TRUE(kv.Append(1, 10, nullptr));
  kv.IndexFullBlocks(1, prompt);  // blocks 0 and 1 are full; block 2 holds 2 tokens
  EXPECT_EQ(kv.MatchPrefix(2, prompt, RootKey(""), 9), 8);
  EXPECT_EQ(kv.BlockTable(2)[0], kv.BlockTable(1)[0]);
  EXPECT_EQ(kv.BlockTable(2)[1], kv.BlockTable(1)[1]);
  EXPECT_EQ(kv.pool().RefCount(kv.BlockTable(1)[0]), 2);
  ASSERT_TRUE(kv.Append(2, 2, nullptr));
  EXPECT_NE(kv.BlockTable(2)[2], kv.BlockTable(1)[2]) << "the partial block is never shared";
  EXPECT_EQ(kv.MatchPrefix(3, prompt, RootKey("tenant-b"), 9), 0) << "salts separate tenants";
  std::vector<int32_t> other = prompt;
  other[5] = 7;
  EXPECT_EQ(kv.MatchPrefix(4, other, RootKey(""), 9), 4) << "a difference ends the match";
  EXPECT_EQ(kv.CheckInvariants(), "");
}

TEST(KvCacheManagerTest, ReleasedPrefixBlocksStayReusableUntilReclaimed) {
  KvCacheManager kv(Tiers(4, 0));
  const std::vector<int32_t> prompt = Iota(8);
  kv.MatchPrefix(1, prompt, RootKey(""), 7);
  ASSERT_TRUE(kv.Append(1, 8, nullptr));
  kv.IndexFullBlocks(1, prompt);
  kv.Free(1);
  EXPECT_EQ(kv.pool().Count(BlockState::kCached), 2);
  EXPECT_EQ(kv.pool().available(), 4);
  EXPECT_EQ(kv.MatchPrefix(2, prompt, RootKey(""), 7), 4) << "the last token is recomputed";
  kv.Free(2);
  // A new sequence needing every block reclaims the cached ones (no host tier: lost).
  kv.MatchPrefix(3, Iota(16, 500), RootKey(""), 15);
  ASSERT_TRUE(kv.Append(3, 16, nullptr));
  EXPECT_EQ(kv.stats().cached_blocks_reclaimed, 2);
  kv.Free(3);
  EXPECT_EQ(kv.MatchPrefix(4, prompt, RootKey(""), 7), 0);
  EXPECT_EQ(kv.CheckInvariants(), "");
}

TEST(KvCacheManagerTest, ReclaimedPrefixBlocksAreDemotedAndPromotedBack) {
  KvCacheManager kv(Tiers(4, 4));
  const std::vector<int32_t> prompt = Iota(8);
  kv.MatchPrefix(1, prompt, RootKey(""), 7);
  ASSERT_TRUE(kv.Append(1, 8, nullptr));
  const std::vector<BlockId> device_blocks(kv.BlockTable(1).begin(), kv.BlockTable(1).end());
  kv.IndexFullBlocks(1, prompt);
  kv.Free(1);
  kv.MatchPrefix(2, Iota(16, 500), RootKey(""), 15);
  ASSERT_TRUE(kv.Append(2, 16, nullptr));
  EXPECT_EQ(kv.stats().blocks_demoted, 2);
  CopyBatch copies = kv.TakeCopies();
  ASSERT_EQ(copies.before_compute.size(), 2u) << "demotions land before the blocks are reused";
  EXPECT_EQ(copies.before_compute[0].from, Tier::kDevice);
  EXPECT_EQ(copies.before_compute[0].src, device_blocks[0]);
  EXPECT_EQ(kv.pool(Tier::kHost).Count(BlockState::kInFlight), 2);
  kv.CopiesLanded();
  EXPECT_EQ(kv.pool(Tier::kHost).Count(BlockState::kCached), 2);
  kv.Free(2);
  EXPECT_EQ(kv.MatchPrefix(3, prompt, RootKey(""), 8), 8);
  EXPECT_EQ(kv.stats().prefix_host_hits, 2);
  copies = kv.TakeCopies();
  ASSERT_EQ(copies.before_compute.size(), 2u);
  EXPECT_EQ(copies.before_compute[0].from, Tier::kHost);
  EXPECT_EQ(copies.before_compute[0].dst, kv.BlockTable(3)[0]);
  kv.CopiesLanded();
  EXPECT_EQ(kv.pool(Tier::kHost).free_count(), 4) << "a promoted entry leaves the host tier";
  EXPECT_EQ(kv.CheckInvariants(), "");
}

TEST(KvCacheManagerTest, SwapOutOverlapsComputeAndSwapInPrecedesIt) {
  KvCacheManager kv(Tiers(4, 4, /*prefix=*/false));
  ASSERT_TRUE(kv.Append(1, 7, nullptr));
  const std::vector<BlockId> before(kv.BlockTable(1).begin(), kv.BlockTable(1).end());
  ASSERT_TRUE(kv.SwapOut(1));
  EXPECT_EQ(kv.residence(1), Tier::kHost);
  EXPECT_EQ(kv.NumTokens(1), 7);
  EXPECT_EQ(kv.pool().Count(BlockState::kInFlight), 2) << "sources stay pinned until landed";
  EXPECT_EQ(kv.pool().free_count(), 2);
  CopyBatch copies = kv.TakeCopies();
  EXPECT_TRUE(copies.before_compute.empty());
  ASSERT_EQ(copies.overlapped.size(), 2u);
  EXPECT_EQ(copies.overlapped[1].src, before[1]);
  EXPECT_EQ(copies.overlapped[1].dst, kv.BlockTable(1)[1]);
  kv.CopiesLanded();
  EXPECT_EQ(kv.pool().free_count(), 4);
  ASSERT_TRUE(kv.SwapIn(1));
  copies = kv.TakeCopies();
  ASSERT_EQ(copies.before_compute.size(), 2u);
  EXPECT_EQ(copies.before_compute[0].from, Tier::kHost);
  kv.CopiesLanded();
  EXPECT_EQ(kv.pool(Tier::kHost).free_count(), 4);
  EXPECT_TRUE(kv.Append(1, 1, nullptr));
  EXPECT_EQ(kv.CheckInvariants(), "");
}

TEST(KvCacheManagerTest, SwapOutNeedsHostRoom) {
  KvCacheManager kv(Tiers(4, 1, false));
  ASSERT_TRUE(kv.Append(1, 8, nullptr));
  EXPECT_FALSE(kv.SwapOut(1));
  EXPECT_EQ(kv.residence(1), Tier::kDevice);
  EXPECT_TRUE(kv.TakeCopies().empty());
}

TEST(KvCacheManagerTest, DroppedBlocksCompactTheTableAndKeepPositions) {
  KvCacheManager kv(Tiers(8, 0));
  kv.MatchPrefix(1, Iota(14), RootKey(""), 13);
  ASSERT_TRUE(kv.Append(1, 14, nullptr));
  const std::vector<BlockId> before(kv.BlockTable(1).begin(), kv.BlockTable(1).end());
  kv.DropBlocks(1, 1, 2);
  EXPECT_THAT(kv.BlockTable(1), testing::ElementsAre(before[0], before[3]));
  EXPECT_EQ(kv.NumTokens(1), 6);
  EXPECT_EQ(kv.DroppedTokens(1), 8);
  EXPECT_EQ(kv.pool().free_count(), 6);
  EXPECT_DEATH(kv.DropBlocks(1, 1, 1), "DropBlocks");  // never the last block
  EXPECT_EQ(kv.CheckInvariants(), "");
}

TEST(KvCacheManagerTest, DropsScatteredIndicesAndCompactsInOrder) {
  KvCacheManager kv(Tiers(8, 0));
  ASSERT_TRUE(kv.Append(1, 22, nullptr));  // 6 blocks, the last one partial
  const std::vector<BlockId> before(kv.BlockTable(1).begin(), kv.BlockTable(1).end());
  const int32_t drop[] = {0, 2, 3};
  kv.DropBlocks(1, drop);
  EXPECT_THAT(kv.BlockTable(1), testing::ElementsAre(before[1], before[4], before[5]));
  EXPECT_EQ(kv.NumTokens(1), 10);
  EXPECT_EQ(kv.DroppedTokens(1), 12);
  EXPECT_EQ(kv.pool().free_count(), 5);
  EXPECT_EQ(kv.stats().blocks_dropped, 3);
  EXPECT_EQ(kv.CheckInvariants(), "");
  // Growing again appends after the kept blocks.
  ASSERT_TRUE(kv.Append(1, 3, nullptr));
  EXPECT_EQ(kv.BlockTable(1).size(), 4u);
  const int32_t unsorted[] = {1, 0};
  EXPECT_DEATH(kv.DropBlocks(1, unsorted), "DropBlocks");
  const int32_t last[] = {3};
  EXPECT_DEATH(kv.DropBlocks(1, last), "DropBlocks");
}

TEST(KvCacheManagerTest, QuantizedFlagsFollowDropsSwapsAndLeaveThePrefixIndex) {
  KvCacheManager kv(Tiers(12, 8));
  const std::vector<int32_t> prompt = Iota(22);
  EXPECT_EQ(kv.MatchPrefix(1, prompt, RootKey(""), 21), 0);
  ASSERT_TRUE(kv.Append(1, 22, nullptr));  // 6 blocks, the last one partial
  kv.IndexFullBlocks(1, prompt);           // the 5 full blocks enter the prefix index
  const std::vector<BlockId> before(kv.BlockTable(1).begin(), kv.BlockTable(1).end());
  EXPECT_THAT(kv.BlockPrecision(1), testing::Each(0));
  const int32_t quantize[] = {1, 3, 4};
  kv.QuantizeBlocks(1, quantize);
  EXPECT_THAT(kv.BlockPrecision(1), testing::ElementsAre(0, 1, 0, 1, 1, 0));
  EXPECT_EQ(kv.QuantizedBlocks(1), 3);
  EXPECT_EQ(kv.stats().blocks_quantized, 3);
  EXPECT_FALSE(kv.pool().cached(before[1])) << "an int8 block leaves the prefix index";
  EXPECT_TRUE(kv.pool().cached(before[0]));
  EXPECT_EQ(kv.CheckInvariants(), "");
  // Dropping compacts the flags with the table.
  const int32_t drop[] = {1, 2};
  kv.DropBlocks(1, drop);
  EXPECT_THAT(kv.BlockTable(1), testing::ElementsAre(before[0], before[3], before[4], before[5]));
  EXPECT_THAT(kv.BlockPrecision(1), testing::ElementsAre(0, 1, 1, 0));
  EXPECT_EQ(kv.QuantizedBlocks(1), 2);
  // Swapping keeps them; growing appends full-precision entries.
  ASSERT_TRUE(kv.SwapOut(1));
  kv.TakeCopies();
  kv.CopiesLanded();
  ASSERT_TRUE(kv.SwapIn(1));
  kv.TakeCopies();
  kv.CopiesLanded();
  EXPECT_THAT(kv.BlockPrecision(1), testing::ElementsAre(0, 1, 1, 0));
  ASSERT_TRUE(kv.Append(1, 4, nullptr));
  EXPECT_THAT(kv.BlockPrecision(1), testing::ElementsAre(0, 1, 1, 0, 0));
  EXPECT_EQ(kv.CheckInvariants(), "");
  const int32_t again[] = {1};
  EXPECT_DEATH(kv.QuantizeBlocks(1, again), "int8 already");
  const int32_t last[] = {4};
  EXPECT_DEATH(kv.QuantizeBlocks(1, last), "QuantizeBlocks");
  // A block another table shares cannot change in place. (Sequence 1's swap moved it to
  // fresh device blocks, so two new sequences share the cached first block.)
  EXPECT_EQ(kv.MatchPrefix(2, prompt, RootKey(""), 21), 4);
  ASSERT_TRUE(kv.Append(2, 1, nullptr));
  EXPECT_EQ(kv.MatchPrefix(3, prompt, RootKey(""), 21), 4);
  ASSERT_TRUE(kv.Append(3, 1, nullptr));
  ASSERT_EQ(kv.BlockTable(2)[0], kv.BlockTable(3)[0]);
  const int32_t shared[] = {0};
  EXPECT_DEATH(kv.QuantizeBlocks(2, shared), "shared");
  kv.Free(1);
  kv.Free(2);
  kv.Free(3);
  EXPECT_EQ(kv.CheckInvariants(), "");
}

}  // namespace
}  // namespace strata::cache
