// Which block of a tier holds which prefix key: a two-way map, at most one block per key
// and one key per block in each tier. Pure bookkeeping; the block states (cached, owned,
// reclaimable in LRU order) live in the tier's BlockPool.
#pragma once

#include <optional>
#include <unordered_map>
#include <vector>

#include "cache/block_key.h"
#include "cache/block_pool.h"

namespace strata::cache {

class PrefixIndex {
 public:
  explicit PrefixIndex(int32_t num_blocks) : key_of_(num_blocks) {}

  std::optional<BlockId> Find(const BlockKey& key) const;
  const std::optional<BlockKey>& KeyOf(BlockId block) const { return key_of_[block]; }
  // The key must be absent and the block unkeyed.
  void Insert(const BlockKey& key, BlockId block);
  // Drops the block's key, if it has one.
  void Erase(BlockId block);
  size_t size() const { return block_of_.size(); }

 private:
  std::unordered_map<BlockKey, BlockId, BlockKeyHash> block_of_;
  std::vector<std::optional<BlockKey>> key_of_;
};

}  // namespace strata::cache
