#include "cache/block_pool.h"

#include <algorithm>

#include "base/check.h"

namespace strata::cache {

BlockPool::BlockPool(int32_t num_blocks) : ref_counts_(num_blocks, 0) {
  STRATA_CHECK_GE(num_blocks, 0);
  free_list_.reserve(num_blocks);
  for (BlockId b = num_blocks - 1; b >= 0; --b) free_list_.push_back(b);
}

std::optional<std::vector<BlockId>> BlockPool::Allocate(int32_t count) {
  STRATA_CHECK_GE(count, 0);
  if (count > free_count()) return std::nullopt;
  std::vector<BlockId> blocks(free_list_.end() - count, free_list_.end());
  free_list_.resize(free_list_.size() - count);
  std::reverse(blocks.begin(), blocks.end());
  for (BlockId b : blocks) ref_counts_[b] = 1;
  return blocks;
}

void BlockPool::AddRef(BlockId block) {
  STRATA_CHECK_GT(RefCount(block), 0) << "AddRef on a free block " << block;
  ++ref_counts_[block];
}

void BlockPool::Release(BlockId block) {
  STRATA_CHECK_GT(RefCount(block), 0) << "double release of block " << block;
  if (--ref_counts_[block] == 0) free_list_.push_back(block);
}

int32_t BlockPool::RefCount(BlockId block) const {
  STRATA_CHECK(block >= 0 && block < num_blocks()) << "block id " << block << " out of range";
  return ref_counts_[block];
}

}  // namespace strata::cache
