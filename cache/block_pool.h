// A pool of fixed-size KV blocks of one memory tier. Bookkeeping only: the worker owns the
// bytes; a block id indexes its storage. Owned by the engine thread; not thread-safe.
//
// Invariant: every block is either free (in the free list, ref count 0) or allocated with a
// ref count >= 1; free_count() + allocated blocks == num_blocks().
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace strata::cache {

using BlockId = int32_t;

class BlockPool {
 public:
  explicit BlockPool(int32_t num_blocks);

  int32_t num_blocks() const { return static_cast<int32_t>(ref_counts_.size()); }
  int32_t free_count() const { return static_cast<int32_t>(free_list_.size()); }
  int32_t used_count() const { return num_blocks() - free_count(); }

  // Takes `count` blocks (ref count 1 each), or nothing when fewer are free.
  std::optional<std::vector<BlockId>> Allocate(int32_t count);
  // Adds an owner to an allocated block (prefix sharing).
  void AddRef(BlockId block);
  // Drops one owner; the block returns to the free list when the last one goes.
  void Release(BlockId block);
  int32_t RefCount(BlockId block) const;

 private:
  std::vector<int32_t> ref_counts_;
  std::vector<BlockId> free_list_;  // popped from the back; lowest ids handed out first
};

}  // namespace strata::cache
