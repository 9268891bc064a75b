#include "cache/block_pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/check.h"

namespace strata::cache {

const char* BlockStateName(BlockState state) {
  switch (state) {
    case BlockState::kFree:
      return "free";
    case BlockState::kOwned:
      return "owned";
    case BlockState::kCached:
      return "cached";
    case BlockState::kInFlight:
      return "in_flight";
  }
  return "?";
}

BlockPool::BlockPool(int32_t num_blocks)
    : blocks_(num_blocks), in_free_list_(num_blocks, true) {
  STRATA_CHECK_GE(num_blocks, 0);
  free_list_.reserve(num_blocks);
  for (BlockId b = num_blocks - 1; b >= 0; --b) free_list_.push_back(b);
  counts_[static_cast<int>(BlockState::kFree)] = num_blocks;
}

BlockPool::Block& BlockPool::at(BlockId block) {
  STRATA_CHECK(block >= 0 && block < num_blocks()) << "block id " << block << " out of range";
  return blocks_[block];
}

const BlockPool::Block& BlockPool::at(BlockId block) const {
  STRATA_CHECK(block >= 0 && block < num_blocks()) << "block id " << block << " out of range";
  return blocks_[block];
}

BlockState BlockPool::StateOf(const Block& b) const {
  if (b.pins > 0) return BlockState::kInFlight;
  if (b.refs > 0) return BlockState::kOwned;
  return b.cached ? BlockState::kCached : BlockState::kFree;
}

BlockState BlockPool::state(BlockId block) const { return StateOf(at(block)); }
int32_t BlockPool::RefCount(BlockId block) const { return at(block).refs; }
bool BlockPool::cached(BlockId block) const { return at(block).cached; }

void BlockPool::Settle(BlockId block, BlockState before) {
  Block& b = blocks_[block];
  const BlockState after = StateOf(b);
  if (after == before) return;
  --counts_[static_cast<int>(before)];
  ++counts_[static_cast<int>(after)];
  if (before == BlockState::kCached) lru_.erase(b.lru);
  if (after == BlockState::kCached) b.lru = lru_.insert(lru_.end(), block);
  // Leaving the free state happens only through Allocate, which pops the list itself.
  if (after == BlockState::kFree && !in_free_list_[block]) {
    free_list_.push_back(block);
    in_free_list_[block] = true;
  }
}

std::optional<std::vector<BlockId>> BlockPool::Allocate(int32_t count) {
  STRATA_CHECK_GE(count, 0);
  if (count > free_count()) return std::nullopt;
  std::vector<BlockId> taken;
  taken.reserve(count);
  for (int32_t i = 0; i < count; ++i) {
    const BlockId b = free_list_.back();
    free_list_.pop_back();
    in_free_list_[b] = false;
    blocks_[b].refs = 1;
    Settle(b, BlockState::kFree);
    taken.push_back(b);
  }
  return taken;
}

void BlockPool::AddRef(BlockId block) {
  Block& b = at(block);
  const BlockState before = StateOf(b);
  STRATA_CHECK(b.refs > 0 || before == BlockState::kCached ||
               (before == BlockState::kInFlight && b.cached))
      << "AddRef on " << BlockStateName(before) << " block " << block;
  ++b.refs;
  Settle(block, before);
}

void BlockPool::Release(BlockId block) {
  Block& b = at(block);
  STRATA_CHECK_GT(b.refs, 0) << "release of unowned block " << block;
  const BlockState before = StateOf(b);
  --b.refs;
  Settle(block, before);
}

void BlockPool::SetCached(BlockId block, bool cached) {
  Block& b = at(block);
  const BlockState before = StateOf(b);
  STRATA_CHECK(before != BlockState::kFree) << "SetCached on free block " << block;
  b.cached = cached;
  Settle(block, before);
}

std::optional<BlockId> BlockPool::ReclaimLeastRecent() {
  if (lru_.empty()) return std::nullopt;
  const BlockId block = lru_.front();
  SetCached(block, false);
  return block;
}

void BlockPool::Pin(BlockId block) {
  Block& b = at(block);
  const BlockState before = StateOf(b);
  STRATA_CHECK(before != BlockState::kFree) << "Pin on free block " << block;
  ++b.pins;
  Settle(block, before);
}

void BlockPool::Unpin(BlockId block) {
  Block& b = at(block);
  STRATA_CHECK_GT(b.pins, 0) << "Unpin on unpinned block " << block;
  const BlockState before = StateOf(b);
  --b.pins;
  Settle(block, before);
}

std::string BlockPool::CheckInvariants() const {
  std::array<int32_t, kNumBlockStates> counts{};
  int32_t listed_free = 0;
  for (BlockId id = 0; id < num_blocks(); ++id) {
    const Block& b = blocks_[id];
    if (b.refs < 0 || b.pins < 0) return absl::StrCat("block ", id, " has a negative count");
    const BlockState s = StateOf(b);
    ++counts[static_cast<int>(s)];
    if ((s == BlockState::kFree) != in_free_list_[id]) {
      return absl::StrCat("block ", id, " is ", BlockStateName(s), " but free-listed=",
                          static_cast<bool>(in_free_list_[id]));
    }
    listed_free += in_free_list_[id];
  }
  if (counts != counts_) return "per-state counts drifted";
  if (listed_free != static_cast<int32_t>(free_list_.size())) return "free list has duplicates";
  if (static_cast<int32_t>(lru_.size()) != counts_[static_cast<int>(BlockState::kCached)]) {
    return "the LRU list does not hold exactly the cached blocks";
  }
  for (BlockId id : lru_) {
    if (StateOf(blocks_[id]) != BlockState::kCached) {
      return absl::StrCat("block ", id, " in the LRU list is not cached");
    }
  }
  return "";
}

}  // namespace strata::cache
