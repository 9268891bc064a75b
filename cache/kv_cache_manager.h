// Which KV blocks each sequence owns, and the slot every new token goes to. Bookkeeping
// only (no tensors, no CUDA); owned by the engine thread; not thread-safe.
//
// Invariant: a sequence holding n tokens owns exactly ceil(n / block_size) blocks, listed in
// token order in its block table.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "cache/block_pool.h"

namespace strata::cache {

using SequenceId = int64_t;

class KvCacheManager {
 public:
  KvCacheManager(int32_t num_blocks, int32_t block_size);

  int32_t block_size() const { return block_size_; }
  const BlockPool& pool() const { return pool_; }

  // Blocks a sequence holding `tokens` tokens needs.
  int32_t BlocksFor(int64_t tokens) const;
  // Extra blocks `sequence` (absent: a new one) needs to grow by `new_tokens`.
  int32_t BlocksNeeded(SequenceId sequence, int64_t new_tokens) const;
  bool CanAppend(SequenceId sequence, int64_t new_tokens) const;

  // Reserves room for `new_tokens` more tokens of `sequence` (created if absent) and
  // returns their slots (block * block_size + offset), or false when blocks ran out, in
  // which case nothing changed.
  bool Append(SequenceId sequence, int64_t new_tokens, std::vector<int64_t>* slots);

  // Frees all of a sequence's blocks. No-op for an unknown sequence.
  void Free(SequenceId sequence);

  bool Contains(SequenceId sequence) const { return tables_.contains(sequence); }
  int64_t NumTokens(SequenceId sequence) const;
  std::span<const BlockId> BlockTable(SequenceId sequence) const;

 private:
  struct Table {
    std::vector<BlockId> blocks;
    int64_t num_tokens = 0;
  };
  int32_t block_size_;
  BlockPool pool_;
  std::unordered_map<SequenceId, Table> tables_;
};

}  // namespace strata::cache
