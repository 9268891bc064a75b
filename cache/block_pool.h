// A pool of fixed-size KV blocks of one memory tier. Bookkeeping only: the worker owns the
// bytes; a block id indexes its storage. Owned by the engine thread; not thread-safe.
//
// Every block is in exactly one state, derived from its counters:
//   kInFlight  pinned by at least one block copy, between tiers or within one (never
//              handed out meanwhile);
//   kOwned     referenced by one or more sequences (ref count >= 1);
//   kCached    unreferenced but holding a prefix-cache entry: reusable by a prefix hit,
//              reclaimable in least-recently-released order;
//   kFree      none of the above: in the free list.
// The counts per state always add up to num_blocks().
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <vector>

namespace strata::cache {

using BlockId = int32_t;

enum class BlockState : uint8_t { kFree, kOwned, kCached, kInFlight };
inline constexpr int kNumBlockStates = 4;
const char* BlockStateName(BlockState state);

class BlockPool {
 public:
  explicit BlockPool(int32_t num_blocks);
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  int32_t num_blocks() const { return static_cast<int32_t>(blocks_.size()); }
  int32_t Count(BlockState state) const { return counts_[static_cast<int>(state)]; }
  int32_t free_count() const { return Count(BlockState::kFree); }
  // Blocks an allocation can get: free ones plus cached ones it may reclaim.
  int32_t available() const { return Count(BlockState::kFree) + Count(BlockState::kCached); }
  int32_t used_count() const { return num_blocks() - free_count(); }

  BlockState state(BlockId block) const;
  int32_t RefCount(BlockId block) const;
  bool cached(BlockId block) const;

  // Takes `count` free blocks (ref count 1 each), or nothing when fewer are free.
  std::optional<std::vector<BlockId>> Allocate(int32_t count);
  // One more owner: an owned block's count grows; a cached one becomes owned (a prefix hit).
  void AddRef(BlockId block);
  // One owner fewer. At zero the block becomes cached (if it holds a prefix entry) or free,
  // unless a copy still pins it.
  void Release(BlockId block);
  // Marks whether the block holds a prefix-cache entry. Only on an owned or pinned block,
  // or (false) on a cached one, which then becomes free.
  void SetCached(BlockId block, bool cached);
  // Reclaims the least recently released cached block: it becomes free and loses its
  // prefix mark (the caller drops the entry). Nothing when no block is cached.
  std::optional<BlockId> ReclaimLeastRecent();
  // A block copy reads or writes the block until Unpin.
  void Pin(BlockId block);
  void Unpin(BlockId block);

  // Empty when every invariant holds; otherwise the first violation found (O(blocks)).
  std::string CheckInvariants() const;

 private:
  struct Block {
    int32_t refs = 0;
    int32_t pins = 0;
    bool cached = false;
    std::list<BlockId>::iterator lru;  // valid while the state is kCached
  };
  BlockState StateOf(const Block& b) const;
  // Moves the block's count and list membership from `before` to its current state.
  void Settle(BlockId block, BlockState before);
  Block& at(BlockId block);
  const Block& at(BlockId block) const;

  std::vector<Block> blocks_;
  std::vector<BlockId> free_list_;  // popped from the back; lowest ids handed out first
  std::vector<bool> in_free_list_;
  std::list<BlockId> lru_;          // cached blocks, least recently released first
  std::array<int32_t, kNumBlockStates> counts_{};
};

}  // namespace strata::cache
