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


TEST(KvCacheManagerForkTest, ForkSharesTheBlocksOfTheFirstTokens) {
  KvCacheManager kv(Tiers(16, 0, /*prefix=*/false));
  ASSERT_TRUE(kv.Append(1, 10, nullptr));  // blocks: 4 + 4 + 2 tokens
  const std::vector<BlockId> parent(kv.BlockTable(1).begin(), kv.BlockTable(1).end());
  const int32_t free_before = kv.pool().free_count();
  ASSERT_EQ(kv.Fork(1, 2, 9), ForkResult::kForked);
  EXPECT_THAT(kv.BlockTable(2), testing::ElementsAreArray(parent));
  EXPECT_EQ(kv.NumTokens(2), 9);
  EXPECT_EQ(kv.residence(2), Tier::kDevice);
  for (BlockId b : parent) EXPECT_EQ(kv.pool().RefCount(b), 2);
  EXPECT_EQ(kv.pool().free_count(), free_before) << "a fork allocates nothing";
  EXPECT_TRUE(kv.TakeCopies().empty()) << "nor copies anything";
  // A shorter fork shares only the blocks its tokens cover.
  ASSERT_EQ(kv.Fork(1, 3, 4), ForkResult::kForked);
  EXPECT_THAT(kv.BlockTable(3), testing::ElementsAre(parent[0]));
  EXPECT_EQ(kv.pool().RefCount(parent[0]), 3);
  EXPECT_EQ(kv.pool().RefCount(parent[2]), 2);
  EXPECT_EQ(kv.stats().sequences_forked, 2);
  EXPECT_EQ(kv.stats().blocks_forked, 4);
  EXPECT_EQ(kv.FreeableBlocks(1), 0) << "shared blocks are not freed by letting go";
  EXPECT_EQ(kv.CheckInvariants(), "");
}

TEST(KvCacheManagerForkTest, AppendIntoASharedPartialBlockCopiesItOnceBeforeCompute) {
  KvCacheManager kv(Tiers(16, 0, /*prefix=*/false));
  ASSERT_TRUE(kv.Append(1, 10, nullptr));
  const std::vector<BlockId> parent(kv.BlockTable(1).begin(), kv.BlockTable(1).end());
  ASSERT_EQ(kv.Fork(1, 2, 9), ForkResult::kForked);
  // Both end in the shared partial block; the first to write copies, the last writes in
  // place.
  EXPECT_EQ(kv.CopyOnWriteReserve(), 1);
  EXPECT_EQ(kv.BlocksNeeded(2, 1), 1) << "the private copy";
  EXPECT_EQ(kv.BlocksNeeded(1, 1), 1);
  const int32_t free_before = kv.pool().free_count();
  std::vector<int64_t> slots;
  ASSERT_TRUE(kv.Append(2, 1, &slots));
  const BlockId own = kv.BlockTable(2)[2];
  EXPECT_NE(own, parent[2]);
  EXPECT_EQ(kv.BlockTable(2)[0], parent[0]);
  EXPECT_EQ(kv.BlockTable(2)[1], parent[1]);
  EXPECT_THAT(slots, testing::ElementsAre(int64_t{own} * 4 + 1)) << "position 9 in the copy";
  EXPECT_EQ(kv.pool().free_count(), free_before - 1);
  EXPECT_EQ(kv.pool().RefCount(parent[2]), 1);
  EXPECT_EQ(kv.pool().state(parent[2]), BlockState::kInFlight) << "pinned until the copy lands";
  EXPECT_EQ(kv.stats().blocks_copied_on_write, 1);
  EXPECT_EQ(kv.CopyOnWriteReserve(), 0);
  EXPECT_EQ(kv.CheckInvariants(), "");
  const CopyBatch copies = kv.TakeCopies();
  ASSERT_EQ(copies.before_compute.size(), 1u);
  EXPECT_TRUE(copies.overlapped.empty());
  const BlockCopy& c = copies.before_compute[0];
  EXPECT_EQ(c.from, Tier::kDevice);
  EXPECT_EQ(c.to, Tier::kDevice);
  EXPECT_EQ(c.src, parent[2]);
  EXPECT_EQ(c.dst, own);
  kv.CopiesLanded();
  // The parent is now the block's only reader: it writes in place, no copy.
  EXPECT_EQ(kv.BlocksNeeded(1, 1), 0);
  ASSERT_TRUE(kv.Append(1, 1, &slots));
  EXPECT_EQ(kv.BlockTable(1)[2], parent[2]);
  EXPECT_TRUE(kv.TakeCopies().empty());
  EXPECT_EQ(kv.stats().blocks_copied_on_write, 1);
  // A full shared block is never copied: growing past it takes a new block.
  ASSERT_TRUE(kv.Append(2, 2, nullptr));
  EXPECT_EQ(kv.BlockTable(2)[1], parent[1]);
  EXPECT_EQ(kv.stats().blocks_copied_on_write, 1);
  EXPECT_EQ(kv.CheckInvariants(), "");
}

TEST(KvCacheManagerForkTest, FreeingParentThenChildReturnsEveryBlock) {
  KvCacheManager kv(Tiers(8, 0, /*prefix=*/false));
  ASSERT_TRUE(kv.Append(1, 7, nullptr));
  ASSERT_EQ(kv.Fork(1, 2, 7), ForkResult::kForked);
  ASSERT_EQ(kv.Fork(2, 3, 5), ForkResult::kForked) << "a child may be forked in turn";
  ASSERT_TRUE(kv.Append(2, 3, nullptr));  // copy-on-write, then a new block
  ASSERT_TRUE(kv.Append(3, 1, nullptr));  // copy-on-write
  kv.TakeCopies();
  kv.CopiesLanded();
  EXPECT_EQ(kv.CheckInvariants(), "");
  kv.Free(1);
  EXPECT_EQ(kv.CheckInvariants(), "");
  EXPECT_LT(kv.pool().free_count(), 8) << "the children still hold the shared blocks";
  kv.Free(2);
  kv.Free(3);
  EXPECT_EQ(kv.pool().free_count(), 8);
  EXPECT_EQ(kv.pool().Count(BlockState::kOwned), 0);
  EXPECT_EQ(kv.CheckInvariants(), "");
}

TEST(KvCacheManagerForkTest, AnIndexedBlockIsCopiedEvenWithOneOwnerLeft) {
  KvCacheManager kv(Tiers(8, 0));
  const std::vector<int32_t> prompt = Iota(8);
  kv.MatchPrefix(1, prompt, RootKey(""), 7);
  ASSERT_TRUE(kv.Append(1, 8, nullptr));
  kv.IndexFullBlocks(1, prompt);  // both blocks full and indexed
  ASSERT_EQ(kv.Fork(1, 2, 6), ForkResult::kForked);
  const BlockId indexed = kv.BlockTable(1)[1];
  kv.Free(1);
  EXPECT_EQ(kv.pool().RefCount(indexed), 1);
  // The child holds positions 4-5 of a block whose prefix entry covers 4-7: writing
  // position 6 in place would corrupt the entry.
  EXPECT_EQ(kv.CopyOnWriteReserve(), 1);
  ASSERT_TRUE(kv.Append(2, 1, nullptr));
  EXPECT_NE(kv.BlockTable(2)[1], indexed);
  EXPECT_EQ(kv.pool().state(indexed), BlockState::kInFlight);
  kv.TakeCopies();
  kv.CopiesLanded();
  EXPECT_EQ(kv.pool().state(indexed), BlockState::kCached) << "the entry stays reusable";
  EXPECT_EQ(kv.MatchPrefix(3, prompt, RootKey(""), 8), 8);
  EXPECT_EQ(kv.CheckInvariants(), "");
}

TEST(KvCacheManagerForkTest, ASharerSwappedOutThisStepStillReadsTheBlock) {
  KvCacheManager kv(Tiers(8, 8, /*prefix=*/false));
  ASSERT_TRUE(kv.Append(1, 6, nullptr));
  ASSERT_EQ(kv.Fork(1, 2, 6), ForkResult::kForked);
  const BlockId shared = kv.BlockTable(1)[1];
  ASSERT_TRUE(kv.SwapOut(1));  // its copy reads `shared` alongside the next compute
  EXPECT_EQ(kv.pool().RefCount(shared), 1);
  ASSERT_TRUE(kv.Append(2, 1, nullptr));
  EXPECT_NE(kv.BlockTable(2)[1], shared) << "the swap-out must not see the new token";
  const CopyBatch copies = kv.TakeCopies();
  ASSERT_EQ(copies.before_compute.size(), 1u);
  EXPECT_EQ(copies.before_compute[0].src, shared);
  EXPECT_EQ(copies.before_compute[0].to, Tier::kDevice);
  ASSERT_EQ(copies.overlapped.size(), 2u);
  kv.CopiesLanded();
  EXPECT_EQ(kv.CheckInvariants(), "");
}

TEST(KvCacheManagerForkTest, RefusesWhatCannotBeShared) {
  KvCacheManager kv(Tiers(16, 8));
  EXPECT_EQ(kv.Fork(1, 2, 1), ForkResult::kUnknownParent);
  kv.MatchPrefix(1, Iota(14), RootKey(""), 13);
  ASSERT_TRUE(kv.Append(1, 14, nullptr));
  ASSERT_TRUE(kv.Append(5, 3, nullptr));
  EXPECT_EQ(kv.Fork(1, 5, 3), ForkResult::kChildExists);
  EXPECT_EQ(kv.Fork(1, 2, 0), ForkResult::kBadLength);
  EXPECT_EQ(kv.Fork(1, 2, 15), ForkResult::kBadLength);
  // Swapped out: not shareable; swapped back this step: its blocks are still landing.
  ASSERT_TRUE(kv.SwapOut(1));
  EXPECT_EQ(kv.Fork(1, 2, 4), ForkResult::kNotOnDevice);
  kv.TakeCopies();
  kv.CopiesLanded();
  ASSERT_TRUE(kv.SwapIn(1));
  EXPECT_EQ(kv.Fork(1, 2, 4), ForkResult::kInFlight);
  kv.TakeCopies();
  kv.CopiesLanded();
  EXPECT_EQ(kv.Fork(1, 2, 4), ForkResult::kForked);
  kv.Free(2);
  // An int8 entry is owned by one table alone.
  const int32_t quantize[] = {1};
  kv.QuantizeBlocks(1, quantize);
  EXPECT_EQ(kv.Fork(1, 2, 4), ForkResult::kForked) << "the int8 block is not in range";
  kv.Free(2);
  EXPECT_EQ(kv.Fork(1, 2, 5), ForkResult::kQuantized);
  // After a drop, table entries no longer sit at their positions.
  ASSERT_TRUE(kv.Append(6, 9, nullptr));
  kv.DropBlocks(6, 0, 1);
  EXPECT_EQ(kv.Fork(6, 2, 2), ForkResult::kDropped);
  EXPECT_FALSE(kv.Contains(2)) << "a refused fork leaves no table";
  EXPECT_STREQ(ForkResultName(ForkResult::kNotOnDevice), "the parent is not device-resident");
  EXPECT_EQ(kv.CheckInvariants(), "");
}

}  // namespace
}  // namespace strata::cache
