#include "cache/prefix_index.h"

#include "base/check.h"

namespace strata::cache {

std::optional<BlockId> PrefixIndex::Find(const BlockKey& key) const {
  auto it = block_of_.find(key);
  if (it == block_of_.end()) return std::nullopt;
  return it->second;
}

void PrefixIndex::Insert(const BlockKey& key, BlockId block) {
  STRATA_CHECK(!key_of_[block].has_value()) << "block " << block << " already keyed";
  STRATA_CHECK(block_of_.emplace(key, block).second) << "prefix key already indexed";
  key_of_[block] = key;
}

void PrefixIndex::Erase(BlockId block) {
  if (!key_of_[block]) return;
  block_of_.erase(*key_of_[block]);
  key_of_[block].reset();
}

}  // namespace strata::cache
