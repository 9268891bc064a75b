// Which KV blocks each sequence owns, in which tier, and which blocks move between tiers.
// Bookkeeping only (no tensors, no CUDA): the worker performs the copies this class
// decides. Owned by the engine thread; not thread-safe.
//
// Tiers: the device pool (where attention reads) and an optional host pool (pinned CPU
// memory) for swapped-out sequences and demoted prefix blocks.
// Invariants (CheckInvariants):
//  - a sequence lives in one tier; holding n resident tokens it owns ceil(n / block_size)
//    blocks of that tier, in token order;
//  - a block's ref count equals the number of block tables listing it;
//  - a block is marked cached exactly when the tier's prefix index holds a key for it;
//  - a block that a queued copy reads or writes stays pinned (in flight) until
//    CopiesLanded();
//  - a table entry flagged int8 (QuantizeBlocks) is a full block other than the last, owned
//    by that table alone and never in the prefix index.
//
// Sharing: a block listed by several tables (a prefix hit, or Fork) is read-only for all
// of them. Only a table's partial last block is ever written (by Append); when that block
// is shared, Append first gives the table a private copy (copy-on-write): a fresh device
// block and a device -> device copy that lands before the next forward pass. Full shared
// blocks, indexed in the prefix cache or not, stay shared until their last owner lets go.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cache/block_key.h"
#include "cache/block_pool.h"
#include "cache/prefix_index.h"

namespace strata::cache {

using SequenceId = int64_t;

enum class Tier : uint8_t { kDevice, kHost };

// One block copied: `src` in tier `from` to `dst` in tier `to`. Between tiers (swap,
// demotion, promotion) or within the device tier (copy-on-write of a shared block).
struct BlockCopy {
  Tier from = Tier::kDevice;
  Tier to = Tier::kHost;
  BlockId src = 0;
  BlockId dst = 0;
};

// Why Fork shared nothing (kForked: it did).
enum class ForkResult : uint8_t {
  kForked,
  kUnknownParent,   // the parent has no table
  kChildExists,     // the child already has a table
  kNotOnDevice,     // the parent is swapped out to the host tier
  kBadLength,       // tokens is 0 or beyond the parent's resident tokens
  kInFlight,        // a block to share is still being copied (pinned)
  kDropped,         // the parent dropped blocks: table entries no longer match positions
  kQuantized,       // an entry to share is int8: it must stay owned by one table
};
const char* ForkResultName(ForkResult result);

struct CopyBatch {
  // Must land, in this order, before the next forward pass starts: their destinations are
  // read by it, or their device sources are reused by it.
  std::vector<BlockCopy> before_compute;
  // May overlap the next forward pass: they only touch blocks pinned until they land.
  std::vector<BlockCopy> overlapped;
  bool empty() const { return before_compute.empty() && overlapped.empty(); }
};

struct KvCacheOptions {
  int32_t block_size = 16;
  int32_t device_blocks = 0;
  int32_t host_blocks = 0;
  bool prefix_caching = false;
};

struct KvCacheStats {
  int64_t prefix_queries = 0;     // full blocks looked up
  int64_t prefix_hits = 0;        // of those, found (device or host)
  int64_t prefix_host_hits = 0;   // found in the host tier and promoted
  int64_t blocks_swapped_out = 0;
  int64_t blocks_swapped_in = 0;
  int64_t blocks_demoted = 0;     // cached prefix blocks moved device -> host
  int64_t blocks_dropped = 0;     // evicted from a sequence by its budget policy
  int64_t cached_blocks_reclaimed = 0;  // prefix entries lost to make room
  int64_t blocks_quantized = 0;   // turned to int8 by a budget policy (adaptive_precision)
  int64_t sequences_forked = 0;   // successful Fork calls
  int64_t blocks_forked = 0;      // block references Fork handed to children
  int64_t blocks_copied_on_write = 0;  // private copies of a shared partial block (Append)
};

class KvCacheManager {
 public:
  explicit KvCacheManager(const KvCacheOptions& options);
  KvCacheManager(int32_t device_blocks, int32_t block_size)
      : KvCacheManager(KvCacheOptions{block_size, device_blocks, 0, false}) {}

  int32_t block_size() const { return block_size_; }
  bool prefix_caching() const { return prefix_caching_; }
  const BlockPool& pool() const { return device_; }
  const BlockPool& pool(Tier tier) const { return tier == Tier::kDevice ? device_ : host_; }
  const KvCacheStats& stats() const { return stats_; }

  // Blocks a sequence holding `tokens` tokens needs.
  int32_t BlocksFor(int64_t tokens) const;

  bool Contains(SequenceId sequence) const { return tables_.contains(sequence); }
  Tier residence(SequenceId sequence) const;
  int64_t NumTokens(SequenceId sequence) const;  // resident K/V entries
  int64_t DroppedTokens(SequenceId sequence) const;  // evicted by DropBlocks, before them
  std::span<const BlockId> BlockTable(SequenceId sequence) const;
  // Per table entry: 0 full precision, 1 int8 (QuantizeBlocks). Same length as the table.
  std::span<const uint8_t> BlockPrecision(SequenceId sequence) const;
  int32_t QuantizedBlocks(SequenceId sequence) const;  // entries flagged int8

  // Extra device blocks `sequence` (absent: a new one) needs to grow by `new_tokens`,
  // counting the private copy of a shared partial last block.
  int32_t BlocksNeeded(SequenceId sequence, int64_t new_tokens) const;
  // Device blocks that appends may still take for copy-on-write, whichever sequences grow:
  // per shared block that ends some tables partially, min(those tables, its other
  // readers) (the last owner left writes in place). O(tables). A scheduler that counts blocks from
  // table sizes alone holds these back.
  int32_t CopyOnWriteReserve() const;
  bool CanAppend(SequenceId sequence, int64_t new_tokens) const;
  // Device blocks that become available if the sequence releases its blocks now.
  int32_t FreeableBlocks(SequenceId sequence) const;

  // Reserves room for `new_tokens` more tokens of a device-resident (or new) sequence and
  // returns their slots (block * block_size + offset). May reclaim cached prefix blocks
  // (demoting them to the host tier when it has room). When the partial last block is
  // shared (another table lists it, the prefix index holds its full content, or a
  // sharer's swap-out still reads it), the table
  // first gets a private copy of it (copy-on-write: one device -> device copy before
  // compute; the shared block stays pinned until it lands). False, with nothing changed,
  // when the device tier lacks blocks.
  bool Append(SequenceId sequence, int64_t new_tokens, std::vector<int64_t>* slots);

  // Gives `child` (no table yet) a table sharing the blocks of `parent` that cover its
  // first `tokens` resident tokens (ref counts + 1, device tier; no block is allocated or
  // copied now). The rule: the parent is device-resident, 0 < tokens <= NumTokens(parent),
  // it never dropped blocks, and every shared entry is full precision and not in flight.
  // Anything else shares nothing and says why. The caller vouches that the child's first
  // `tokens` token ids (and cache salt) are the parent's and that their K/V are computed;
  // the child inherits the parent's prefix-cache keys for the shared full blocks. A
  // sequence whose blocks may be quantized later (QuantizeBlocks needs sole ownership)
  // must be neither parent nor child. Appends into a shared partial block copy it first.
  ForkResult Fork(SequenceId parent, SequenceId child, int64_t tokens);

  // For a sequence without blocks: shares the longest run of cached full blocks that
  // prefixes `tokens` (at most `max_tokens` tokens) and returns the tokens matched. Device
  // hits are shared by reference; host hits are promoted (copied back before compute).
  // Stops early when the device tier has no block left for a promotion.
  int64_t MatchPrefix(SequenceId sequence, std::span<const int32_t> tokens,
                      const BlockKey& root, int64_t max_tokens);
  // After a forward pass: indexes the sequence's newly completed full blocks. `tokens`
  // are the sequence's ids; those below NumTokens() have cached K/V. Only for sequences
  // started by MatchPrefix that never dropped a block.
  void IndexFullBlocks(SequenceId sequence, std::span<const int32_t> tokens);

  // Budget eviction: drops the full blocks at table indices `drop` (strictly increasing,
  // never the last block) of a device-resident sequence. The table is compacted in order:
  // kept blocks keep their relative order and move down over the gaps, so kept tokens keep
  // their true positions (DroppedTokens() grows by the dropped tokens). O(table size).
  void DropBlocks(SequenceId sequence, std::span<const int32_t> drop);
  // The contiguous case: `count` blocks from table index `first`.
  void DropBlocks(SequenceId sequence, int32_t first, int32_t count);
  // Budget quantization: flags the full-precision entries at table indices `indices`
  // (strictly increasing, never the last block) of a device-resident sequence as int8; the
  // worker converts their bytes before the next forward pass reads them. Each block must be
  // owned by this table alone; one still in the prefix index leaves it, and the sequence's
  // later blocks are no longer indexed (their K/V no longer match a plain prefix's).
  void QuantizeBlocks(SequenceId sequence, std::span<const int32_t> indices);

  // Moves a device-resident sequence's blocks to the host tier (overlapped copies). False,
  // with nothing changed, when the host tier cannot take them.
  bool SwapOut(SequenceId sequence);
  // Moves a host-resident sequence back (copies before compute). False when the device
  // tier lacks blocks or the sequence's swap-out has not landed yet.
  bool SwapIn(SequenceId sequence);
  // Frees all of a sequence's blocks. No-op for an unknown sequence.
  void Free(SequenceId sequence);

  // The copies decided since the last call, for the worker to start.
  CopyBatch TakeCopies();
  // Every copy taken so far has landed: their blocks are unpinned.
  void CopiesLanded();
  bool copies_pending() const { return !pins_.empty(); }

  // Empty when every invariant holds; otherwise the first violation (O(blocks + tables)).
  std::string CheckInvariants() const;

 private:
  struct Table {
    Tier tier = Tier::kDevice;
    std::vector<BlockId> blocks;
    std::vector<uint8_t> precision;  // per entry of `blocks`: 0 full, 1 int8
    int32_t quantized = 0;           // entries flagged int8
    int64_t num_tokens = 0;
    int64_t dropped_tokens = 0;
    bool keyed = false;          // full blocks are indexed as they complete
    BlockKey root;
    std::vector<BlockKey> keys;  // keys of the first keys.size() blocks
  };
  BlockPool& mutable_pool(Tier tier) { return tier == Tier::kDevice ? device_ : host_; }
  const Table& table(SequenceId sequence) const;
  // Makes `count` device blocks free, reclaiming cached ones (and demoting them).
  // Requires device_.available() >= count.
  void FreeUpDevice(int32_t count);
  void FreeUpHost(int32_t count);
  BlockId TakeOne(Tier tier);
  void QueueCopy(Tier from, BlockId src, Tier to, BlockId dst, bool before_compute,
                 bool pin_src);
  // The table's partial last block has other readers (appending copies it first).
  bool SharedPartialLast(const Table& t) const;
  // Readers of a device block besides one owning table: the other tables listing it, the
  // prefix index (an entry for its full content), and an overlapped copy reading it (a
  // swap-out that released it this step).
  int32_t OtherReaders(BlockId block) const;

  int32_t block_size_;
  bool prefix_caching_;
  BlockPool device_, host_;
  PrefixIndex device_index_, host_index_;
  std::unordered_map<SequenceId, Table> tables_;
  CopyBatch copies_;
  std::vector<std::pair<Tier, BlockId>> pins_;
  std::unordered_set<BlockId> overlapped_reads_;  // device sources of overlapped copies
  KvCacheStats stats_;
};

}  // namespace strata::cache
