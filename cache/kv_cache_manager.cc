#include "cache/kv_cache_manager.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "base/check.h"

namespace strata::cache {

const char* ForkResultName(ForkResult result) {
  switch (result) {
    case ForkResult::kForked:
      return "forked";
    case ForkResult::kUnknownParent:
      return "the parent has no blocks";
    case ForkResult::kChildExists:
      return "the child already has blocks";
    case ForkResult::kNotOnDevice:
      return "the parent is not device-resident";
    case ForkResult::kBadLength:
      return "the shared length is empty or beyond the parent's resident tokens";
    case ForkResult::kInFlight:
      return "a block to share is still being copied";
    case ForkResult::kDropped:
      return "the parent dropped blocks";
    case ForkResult::kQuantized:
      return "a block to share is int8";
  }
  return "?";
}

KvCacheManager::KvCacheManager(const KvCacheOptions& options)
    : block_size_(options.block_size),
      prefix_caching_(options.prefix_caching),
      device_(options.device_blocks),
      host_(options.host_blocks),
      device_index_(options.device_blocks),
      host_index_(options.host_blocks) {
  STRATA_CHECK_GT(block_size_, 0);
}

int32_t KvCacheManager::BlocksFor(int64_t tokens) const {
  return static_cast<int32_t>((tokens + block_size_ - 1) / block_size_);
}

const KvCacheManager::Table& KvCacheManager::table(SequenceId sequence) const {
  auto it = tables_.find(sequence);
  STRATA_CHECK(it != tables_.end()) << "unknown sequence " << sequence;
  return it->second;
}

Tier KvCacheManager::residence(SequenceId sequence) const { return table(sequence).tier; }

int64_t KvCacheManager::NumTokens(SequenceId sequence) const {
  auto it = tables_.find(sequence);
  return it == tables_.end() ? 0 : it->second.num_tokens;
}

int64_t KvCacheManager::DroppedTokens(SequenceId sequence) const {
  auto it = tables_.find(sequence);
  return it == tables_.end() ? 0 : it->second.dropped_tokens;
}

std::span<const BlockId> KvCacheManager::BlockTable(SequenceId sequence) const {
  return table(sequence).blocks;
}

std::span<const uint8_t> KvCacheManager::BlockPrecision(SequenceId sequence) const {
  return table(sequence).precision;
}

int32_t KvCacheManager::QuantizedBlocks(SequenceId sequence) const {
  auto it = tables_.find(sequence);
  return it == tables_.end() ? 0 : it->second.quantized;
}

int32_t KvCacheManager::BlocksNeeded(SequenceId sequence, int64_t new_tokens) const {
  auto it = tables_.find(sequence);
  if (it == tables_.end()) return BlocksFor(new_tokens);
  const Table& t = it->second;
  const int32_t device_held = t.tier == Tier::kDevice ? static_cast<int32_t>(t.blocks.size()) : 0;
  const int32_t copy = new_tokens > 0 && SharedPartialLast(t) ? 1 : 0;
  return BlocksFor(t.num_tokens + new_tokens) - device_held + copy;
}

bool KvCacheManager::SharedPartialLast(const Table& t) const {
  return t.tier == Tier::kDevice && t.num_tokens % block_size_ != 0 && !t.blocks.empty() &&
         OtherReaders(t.blocks.back()) > 0;
}

int32_t KvCacheManager::OtherReaders(BlockId block) const {
  // Other tables; the prefix index (the block is full for the table that indexed it); a
  // swap-out of a sharer that let go this step (it reads alongside compute).
  return device_.RefCount(block) - 1 + (device_.cached(block) ? 1 : 0) +
         (overlapped_reads_.contains(block) ? 1 : 0);
}

int32_t KvCacheManager::CopyOnWriteReserve() const {
  std::map<BlockId, int32_t> ending;  // shared block -> tables it ends partially
  for (const auto& [id, t] : tables_) {
    if (SharedPartialLast(t)) ++ending[t.blocks.back()];
  }
  int32_t reserve = 0;
  for (const auto& [block, tables] : ending) {
    reserve += std::min(tables, OtherReaders(block));
  }
  return reserve;
}

bool KvCacheManager::CanAppend(SequenceId sequence, int64_t new_tokens) const {
  return BlocksNeeded(sequence, new_tokens) <= device_.available();
}

int32_t KvCacheManager::FreeableBlocks(SequenceId sequence) const {
  auto it = tables_.find(sequence);
  if (it == tables_.end() || it->second.tier != Tier::kDevice) return 0;
  return static_cast<int32_t>(std::ranges::count_if(it->second.blocks, [&](BlockId b) {
    return device_.RefCount(b) == 1 && device_.state(b) == BlockState::kOwned;
  }));
}

void KvCacheManager::QueueCopy(Tier from, BlockId src, Tier to, BlockId dst,
                               bool before_compute, bool pin_src) {
  if (pin_src) {
    mutable_pool(from).Pin(src);
    pins_.emplace_back(from, src);
  }
  mutable_pool(to).Pin(dst);
  pins_.emplace_back(to, dst);
  (before_compute ? copies_.before_compute : copies_.overlapped).push_back({from, to, src, dst});
  if (!before_compute && from == Tier::kDevice) overlapped_reads_.insert(src);
}

BlockId KvCacheManager::TakeOne(Tier tier) {
  auto block = mutable_pool(tier).Allocate(1);
  STRATA_CHECK(block.has_value()) << "no free block in the reserved room";
  return block->front();
}

void KvCacheManager::FreeUpHost(int32_t count) {
  STRATA_CHECK_LE(count, host_.available());
  while (host_.free_count() < count) {
    const std::optional<BlockId> victim = host_.ReclaimLeastRecent();
    STRATA_CHECK(victim.has_value());
    host_index_.Erase(*victim);
    ++stats_.cached_blocks_reclaimed;
  }
}

void KvCacheManager::FreeUpDevice(int32_t count) {
  STRATA_CHECK_LE(count, device_.available());
  while (device_.free_count() < count) {
    const std::optional<BlockId> victim = device_.ReclaimLeastRecent();
    STRATA_CHECK(victim.has_value());
    const std::optional<BlockKey> key = device_index_.KeyOf(*victim);
    device_index_.Erase(*victim);
    // Demote: keep the prefix in the host tier when it has room. The device block is
    // reused at once, so the copy must land before the next forward pass.
    if (key && host_.available() > 0 && !host_index_.Find(*key)) {
      FreeUpHost(1);
      const BlockId h = TakeOne(Tier::kHost);
      host_index_.Insert(*key, h);
      host_.SetCached(h, true);
      QueueCopy(Tier::kDevice, *victim, Tier::kHost, h, /*before_compute=*/true,
                /*pin_src=*/false);
      host_.Release(h);  // unreferenced: cached once the copy lands
      ++stats_.blocks_demoted;
    } else {
      ++stats_.cached_blocks_reclaimed;
    }
  }
}

bool KvCacheManager::Append(SequenceId sequence, int64_t new_tokens, std::vector<int64_t>* slots) {
  STRATA_CHECK_GE(new_tokens, 0);
  auto it = tables_.find(sequence);
  STRATA_CHECK(it == tables_.end() || it->second.tier == Tier::kDevice)
      << "Append to swapped-out sequence " << sequence;
  const int32_t needed = BlocksNeeded(sequence, new_tokens);
  if (needed > device_.available()) return false;
  FreeUpDevice(needed);
  Table& t = tables_[sequence];
  int32_t fresh_count = needed;
  if (new_tokens > 0 && SharedPartialLast(t)) {
    // Copy-on-write: the shared block stays with its other owners (pinned until the copy
    // has read it); this table continues in a private copy.
    const BlockId shared = t.blocks.back();
    const BlockId own = TakeOne(Tier::kDevice);
    QueueCopy(Tier::kDevice, shared, Tier::kDevice, own, /*before_compute=*/true,
              /*pin_src=*/true);
    device_.Release(shared);
    t.blocks.back() = own;
    ++stats_.blocks_copied_on_write;
    --fresh_count;
  }
  auto fresh = device_.Allocate(fresh_count);
  STRATA_CHECK(fresh.has_value());
  t.blocks.insert(t.blocks.end(), fresh->begin(), fresh->end());
  t.precision.resize(t.blocks.size(), 0);
  if (slots != nullptr) {
    slots->clear();
    for (int64_t i = t.num_tokens; i < t.num_tokens + new_tokens; ++i) {
      slots->push_back(int64_t{t.blocks[i / block_size_]} * block_size_ + i % block_size_);
    }
  }
  t.num_tokens += new_tokens;
  return true;
}

ForkResult KvCacheManager::Fork(SequenceId parent, SequenceId child, int64_t tokens) {
  auto it = tables_.find(parent);
  if (it == tables_.end()) return ForkResult::kUnknownParent;
  if (tables_.contains(child)) return ForkResult::kChildExists;
  const Table& p = it->second;
  if (p.tier != Tier::kDevice) return ForkResult::kNotOnDevice;
  if (tokens <= 0 || tokens > p.num_tokens) return ForkResult::kBadLength;
  if (p.dropped_tokens > 0) return ForkResult::kDropped;
  const int32_t shared = BlocksFor(tokens);
  for (int32_t i = 0; i < shared; ++i) {
    if (p.precision[i] != 0) return ForkResult::kQuantized;
    if (device_.state(p.blocks[i]) == BlockState::kInFlight) return ForkResult::kInFlight;
  }
  Table t;
  t.tier = Tier::kDevice;
  t.blocks.assign(p.blocks.begin(), p.blocks.begin() + shared);
  t.precision.assign(shared, 0);
  t.num_tokens = tokens;
  t.keyed = p.keyed;
  t.root = p.root;
  const size_t keys = std::min<size_t>(p.keys.size(), tokens / block_size_);
  t.keys.assign(p.keys.begin(), p.keys.begin() + keys);
  for (BlockId b : t.blocks) device_.AddRef(b);
  tables_.emplace(child, std::move(t));  // `p` may dangle from here on
  ++stats_.sequences_forked;
  stats_.blocks_forked += shared;
  return ForkResult::kForked;
}

int64_t KvCacheManager::MatchPrefix(SequenceId sequence, std::span<const int32_t> tokens,
                                    const BlockKey& root, int64_t max_tokens) {
  STRATA_CHECK(!tables_.contains(sequence)) << "MatchPrefix on a sequence with blocks";
  Table& t = tables_[sequence];
  t.keyed = prefix_caching_;
  t.root = root;
  if (!prefix_caching_) return 0;
  const int64_t limit = std::min<int64_t>(max_tokens, tokens.size());
  BlockKey parent = root;
  for (int64_t begin = 0; begin + block_size_ <= limit; begin += block_size_) {
    const BlockKey key = ChainKey(parent, tokens.subspan(begin, block_size_));
    ++stats_.prefix_queries;
    if (const std::optional<BlockId> d = device_index_.Find(key)) {
      device_.AddRef(*d);
      t.blocks.push_back(*d);
    } else if (const std::optional<BlockId> h = host_index_.Find(key);
               h && host_.state(*h) == BlockState::kCached && device_.available() > 0) {
      // Promote: the entry moves to a fresh device block; the host block is freed once
      // the copy has read it. Pinned first, so making device room cannot reclaim it.
      host_.Pin(*h);
      pins_.emplace_back(Tier::kHost, *h);
      FreeUpDevice(1);
      const BlockId d = TakeOne(Tier::kDevice);
      QueueCopy(Tier::kHost, *h, Tier::kDevice, d, /*before_compute=*/true, /*pin_src=*/false);
      host_index_.Erase(*h);
      host_.SetCached(*h, false);
      device_index_.Insert(key, d);
      device_.SetCached(d, true);
      t.blocks.push_back(d);
      ++stats_.prefix_host_hits;
    } else {
      break;
    }
    ++stats_.prefix_hits;
    t.keys.push_back(key);
    t.num_tokens += block_size_;
    parent = key;
  }
  t.precision.resize(t.blocks.size(), 0);
  return t.num_tokens;
}

void KvCacheManager::IndexFullBlocks(SequenceId sequence, std::span<const int32_t> tokens) {
  auto it = tables_.find(sequence);
  if (it == tables_.end()) return;
  Table& t = it->second;
  if (!t.keyed || t.tier != Tier::kDevice) return;
  STRATA_CHECK_GE(static_cast<int64_t>(tokens.size()), t.num_tokens);
  const size_t full = t.num_tokens / block_size_;
  while (t.keys.size() < full) {
    const size_t i = t.keys.size();
    const BlockKey parent = i == 0 ? t.root : t.keys.back();
    const BlockKey key = ChainKey(parent, tokens.subspan(i * block_size_, block_size_));
    t.keys.push_back(key);
    const BlockId block = t.blocks[i];
    if (device_index_.Find(key) || device_index_.KeyOf(block)) continue;  // a twin is indexed
    if (const std::optional<BlockId> h = host_index_.Find(key)) {
      host_index_.Erase(*h);  // the device copy supersedes the demoted one
      host_.SetCached(*h, false);
    }
    device_index_.Insert(key, block);
    device_.SetCached(block, true);
  }
}

void KvCacheManager::DropBlocks(SequenceId sequence, std::span<const int32_t> drop) {
  auto it = tables_.find(sequence);
  STRATA_CHECK(it != tables_.end()) << "unknown sequence " << sequence;
  Table& t = it->second;
  STRATA_CHECK(t.tier == Tier::kDevice);
  const int32_t held = static_cast<int32_t>(t.blocks.size());
  for (size_t i = 0; i < drop.size(); ++i) {
    STRATA_CHECK(drop[i] >= 0 && drop[i] < held - 1 && (i == 0 || drop[i - 1] < drop[i]))
        << "DropBlocks: index " << drop[i] << " (#" << i << ") of a table of " << held
        << " blocks; indices must increase and spare the last block";
  }
  if (drop.empty()) return;
  // Compact in place: the kept blocks slide down over the dropped ones, in order.
  size_t next_drop = 0;
  int32_t out = 0;
  for (int32_t i = 0; i < held; ++i) {
    if (next_drop < drop.size() && drop[next_drop] == i) {
      device_.Release(t.blocks[i]);
      t.quantized -= t.precision[i];
      ++next_drop;
    } else {
      t.precision[out] = t.precision[i];
      t.blocks[out++] = t.blocks[i];
    }
  }
  t.blocks.resize(out);
  t.precision.resize(out);
  const int64_t count = static_cast<int64_t>(drop.size());
  t.num_tokens -= count * block_size_;
  t.dropped_tokens += count * block_size_;
  t.keyed = false;  // later blocks no longer hold a plain prefix
  stats_.blocks_dropped += count;
}

void KvCacheManager::DropBlocks(SequenceId sequence, int32_t first, int32_t count) {
  STRATA_CHECK(first >= 0 && count >= 0) << "DropBlocks [" << first << ", +" << count << ")";
  std::vector<int32_t> drop(count);
  for (int32_t i = 0; i < count; ++i) drop[i] = first + i;
  DropBlocks(sequence, drop);
}

void KvCacheManager::QuantizeBlocks(SequenceId sequence, std::span<const int32_t> indices) {
  auto it = tables_.find(sequence);
  STRATA_CHECK(it != tables_.end()) << "unknown sequence " << sequence;
  Table& t = it->second;
  STRATA_CHECK(t.tier == Tier::kDevice);
  const int32_t held = static_cast<int32_t>(t.blocks.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    const int32_t k = indices[i];
    STRATA_CHECK(k >= 0 && k < held - 1 && (i == 0 || indices[i - 1] < k))
        << "QuantizeBlocks: index " << k << " (#" << i << ") of a table of " << held
        << " blocks; indices must increase and spare the last block";
    STRATA_CHECK_EQ(t.precision[k], 0) << "QuantizeBlocks: entry " << k << " is int8 already";
    const BlockId block = t.blocks[k];
    STRATA_CHECK_EQ(device_.RefCount(block), 1) << "QuantizeBlocks: block " << block << " is shared";
    if (device_.cached(block)) {
      device_index_.Erase(block);
      device_.SetCached(block, false);
    }
    t.precision[k] = 1;
  }
  if (indices.empty()) return;
  t.quantized += static_cast<int32_t>(indices.size());
  t.keyed = false;
  stats_.blocks_quantized += static_cast<int64_t>(indices.size());
}

bool KvCacheManager::SwapOut(SequenceId sequence) {
  auto it = tables_.find(sequence);
  STRATA_CHECK(it != tables_.end() && it->second.tier == Tier::kDevice);
  Table& t = it->second;
  const int32_t n = static_cast<int32_t>(t.blocks.size());
  if (n > host_.available()) return false;
  FreeUpHost(n);
  for (BlockId& block : t.blocks) {
    const BlockId h = TakeOne(Tier::kHost);
    QueueCopy(Tier::kDevice, block, Tier::kHost, h, /*before_compute=*/false, /*pin_src=*/true);
    device_.Release(block);
    block = h;
  }
  t.tier = Tier::kHost;
  stats_.blocks_swapped_out += n;
  return true;
}

bool KvCacheManager::SwapIn(SequenceId sequence) {
  auto it = tables_.find(sequence);
  STRATA_CHECK(it != tables_.end() && it->second.tier == Tier::kHost);
  Table& t = it->second;
  const int32_t n = static_cast<int32_t>(t.blocks.size());
  if (n > device_.available()) return false;
  // Swapped out in this very step: its host copies have not landed yet.
  for (BlockId h : t.blocks) {
    if (host_.state(h) == BlockState::kInFlight) return false;
  }
  FreeUpDevice(n);
  for (BlockId& block : t.blocks) {
    const BlockId d = TakeOne(Tier::kDevice);
    QueueCopy(Tier::kHost, block, Tier::kDevice, d, /*before_compute=*/true, /*pin_src=*/true);
    host_.Release(block);
    block = d;
  }
  t.tier = Tier::kDevice;
  stats_.blocks_swapped_in += n;
  return true;
}

void KvCacheManager::Free(SequenceId sequence) {
  auto it = tables_.find(sequence);
  if (it == tables_.end()) return;
  for (BlockId b : it->second.blocks) mutable_pool(it->second.tier).Release(b);
  tables_.erase(it);
}

CopyBatch KvCacheManager::TakeCopies() { return std::exchange(copies_, CopyBatch{}); }

void KvCacheManager::CopiesLanded() {
  STRATA_CHECK(copies_.empty()) << "CopiesLanded with copies not yet taken";
  for (const auto& [tier, block] : pins_) mutable_pool(tier).Unpin(block);
  pins_.clear();
  overlapped_reads_.clear();
}

std::string KvCacheManager::CheckInvariants() const {
  for (Tier tier : {Tier::kDevice, Tier::kHost}) {
    const char* name = tier == Tier::kDevice ? "device" : "host";
    const BlockPool& p = pool(tier);
    if (std::string e = p.CheckInvariants(); !e.empty()) return absl::StrCat(name, ": ", e);
    std::vector<int32_t> refs(p.num_blocks(), 0);
    for (const auto& [id, t] : tables_) {
      if (t.tier != tier) continue;
      if (static_cast<int32_t>(t.blocks.size()) != BlocksFor(t.num_tokens)) {
        return absl::StrCat("sequence ", id, " holds ", t.blocks.size(), " blocks for ",
                            t.num_tokens, " tokens");
      }
      if (t.precision.size() != t.blocks.size()) {
        return absl::StrCat("sequence ", id, " has ", t.precision.size(),
                            " precision flags for ", t.blocks.size(), " blocks");
      }
      int32_t quantized = 0;
      for (size_t i = 0; i < t.blocks.size(); ++i) {
        if (t.precision[i] == 0) continue;
        ++quantized;
        if (i + 1 == t.blocks.size() || p.RefCount(t.blocks[i]) != 1 || p.cached(t.blocks[i])) {
          return absl::StrCat("sequence ", id, " table entry ", i,
                              " is int8 but is the last block, shared or cached");
        }
      }
      if (quantized != t.quantized) {
        return absl::StrCat("sequence ", id, " counts ", t.quantized, " int8 blocks, holds ",
                            quantized);
      }
      for (BlockId b : t.blocks) ++refs[b];
    }
    const PrefixIndex& idx = tier == Tier::kDevice ? device_index_ : host_index_;
    size_t keyed = 0;
    for (BlockId b = 0; b < p.num_blocks(); ++b) {
      if (refs[b] != p.RefCount(b)) {
        return absl::StrCat(name, " block ", b, " has ref count ", p.RefCount(b), " but ",
                            refs[b], " tables list it");
      }
      if (p.cached(b) != idx.KeyOf(b).has_value()) {
        return absl::StrCat(name, " block ", b, " cached mark disagrees with the index");
      }
      keyed += idx.KeyOf(b).has_value();
    }
    if (keyed != idx.size()) return absl::StrCat(name, " prefix index has stale keys");
  }
  return "";
}

}  // namespace strata::cache
