#include "cache/kv_cache_manager.h"

#include "base/check.h"

namespace strata::cache {

KvCacheManager::KvCacheManager(int32_t num_blocks, int32_t block_size)
    : block_size_(block_size), pool_(num_blocks) {
  STRATA_CHECK_GT(block_size, 0);
}

int32_t KvCacheManager::BlocksFor(int64_t tokens) const {
  return static_cast<int32_t>((tokens + block_size_ - 1) / block_size_);
}

int32_t KvCacheManager::BlocksNeeded(SequenceId sequence, int64_t new_tokens) const {
  auto it = tables_.find(sequence);
  const int64_t held_tokens = it == tables_.end() ? 0 : it->second.num_tokens;
  const int32_t held_blocks = it == tables_.end() ? 0 : it->second.blocks.size();
  return BlocksFor(held_tokens + new_tokens) - held_blocks;
}

bool KvCacheManager::CanAppend(SequenceId sequence, int64_t new_tokens) const {
  return BlocksNeeded(sequence, new_tokens) <= pool_.free_count();
}

bool KvCacheManager::Append(SequenceId sequence, int64_t new_tokens, std::vector<int64_t>* slots) {
  STRATA_CHECK_GE(new_tokens, 0);
  const int32_t needed = BlocksNeeded(sequence, new_tokens);
  auto fresh = pool_.Allocate(needed);
  if (!fresh) return false;
  Table& table = tables_[sequence];
  table.blocks.insert(table.blocks.end(), fresh->begin(), fresh->end());
  if (slots != nullptr) {
    slots->clear();
    for (int64_t t = table.num_tokens; t < table.num_tokens + new_tokens; ++t) {
      slots->push_back(static_cast<int64_t>(table.blocks[t / block_size_]) * block_size_ +
                       t % block_size_);
    }
  }
  table.num_tokens += new_tokens;
  return true;
}

void KvCacheManager::Free(SequenceId sequence) {
  auto it = tables_.find(sequence);
  if (it == tables_.end()) return;
  for (BlockId b : it->second.blocks) pool_.Release(b);
  tables_.erase(it);
}

int64_t KvCacheManager::NumTokens(SequenceId sequence) const {
  auto it = tables_.find(sequence);
  return it == tables_.end() ? 0 : it->second.num_tokens;
}

std::span<const BlockId> KvCacheManager::BlockTable(SequenceId sequence) const {
  auto it = tables_.find(sequence);
  STRATA_CHECK(it != tables_.end()) << "unknown sequence " << sequence;
  return it->second.blocks;
}

}  // namespace strata::cache
