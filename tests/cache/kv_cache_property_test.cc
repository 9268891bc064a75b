// Long random sequences of allocate / grow / prefix hit / index / drop / swap out / swap in /
// fork / free against KvCacheManager, with a simulated storage that performs the copies it
// decides (including the device -> device copies of copy-on-write). After every step: the bookkeeping invariants hold (no block leaked or owned
// twice, counts add up) and every resident token of every sequence reads back the content
// it was written with, whichever tier or shared block it now lives in.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "cache/kv_cache_manager.h"

namespace strata::cache {
namespace {

constexpr int32_t kBlockSize = 4;
using Content = uint64_t;  // hash of (salt, tokens[0..position]): what a K/V slot holds

struct Sim {
  std::vector<int32_t> tokens;  // all tokens; the first `computed` have K/V
  int64_t computed = 0;
  std::string salt;
  bool dropped = false;  // contents no longer a plain prefix once blocks were dropped
  // Per block-table entry: the true position of its first token (dropped blocks leave
  // gaps; compaction keeps the rest in order).
  std::vector<int64_t> origins;
};

size_t BlocksForTokens(int64_t tokens) { return (tokens + kBlockSize - 1) / kBlockSize; }

Content ContentAt(const Sim& s, int64_t position) {
  Content h = std::hash<std::string>{}(s.salt);
  for (int64_t i = 0; i <= position; ++i) h = h * 1000003 + static_cast<uint32_t>(s.tokens[i]);
  return h;
}

class Harness {
 public:
  Harness(int32_t device, int32_t host, bool prefix, uint32_t seed)
      : kv_({kBlockSize, device, host, prefix}),
        device_store_(device * kBlockSize, 0),
        host_store_(host * kBlockSize, 0),
        rng_(seed) {}

  void Run(int steps) {
    for (int step = 0; step < steps; ++step) {
      // Several decisions per step, as the engine makes them, then the worker's side.
      for (int ops = Uniform(1, 4); ops > 0; --ops) {
        const int op = Uniform(0, 10);
        if (op <= 2) NewSequence();
        else if (op <= 5) Grow();
        else if (op == 6) Swap();
        else if (op == 7) Free();
        else if (op == 8) Drop();
        else if (op == 9) SwapIn();
        else Fork();
      }
      Land();
      const std::string violation = kv_.CheckInvariants();
      ASSERT_EQ(violation, "") << "after step " << step;
      CheckContents(step);
      if (HasFailure()) return;
    }
    for (auto& [id, sim] : sims_) kv_.Free(id);
    Land();
    EXPECT_EQ(kv_.CheckInvariants(), "");
    EXPECT_EQ(kv_.pool(Tier::kDevice).Count(BlockState::kOwned), 0);
    EXPECT_EQ(kv_.pool(Tier::kDevice).Count(BlockState::kInFlight), 0);
    EXPECT_EQ(kv_.pool(Tier::kHost).Count(BlockState::kOwned), 0);
    EXPECT_EQ(kv_.pool(Tier::kDevice).available(), kv_.pool(Tier::kDevice).num_blocks());
  }

  const KvCacheStats& stats() const { return kv_.stats(); }
  int64_t forks() const { return forks_; }

 private:
  static bool HasFailure() { return testing::Test::HasFatalFailure() || testing::Test::HasFailure(); }
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  std::vector<Content>& store(Tier t) { return t == Tier::kDevice ? device_store_ : host_store_; }

  // New table entries (appended after every kept block) start where the sequence's
  // K/V stood when they were added: after all resident and dropped tokens.
  void SyncOrigins(SequenceId id) {
    std::vector<int64_t>& origins = sims_.at(id).origins;
    const size_t held = kv_.BlockTable(id).size();
    while (origins.size() < held) {
      origins.push_back(static_cast<int64_t>(origins.size()) * kBlockSize +
                        kv_.DroppedTokens(id));
    }
  }

  // Writes the K/V of tokens [computed, computed + n) through the block table.
  void Compute(SequenceId id, int64_t n) {
    Sim& s = sims_.at(id);
    std::vector<int64_t> slots;
    // Appending into a shared partial last block takes a private copy of it first.
    const bool shared = kv_.Contains(id) && kv_.NumTokens(id) % kBlockSize != 0 &&
                        kv_.pool().RefCount(kv_.BlockTable(id).back()) > 1;
    // The manager's count of blocks needed includes the copy; a shared block always copies.
    const int64_t held = kv_.Contains(id) ? kv_.BlockTable(id).size() : 0;
    const bool copies = kv_.BlocksNeeded(id, n) >
                        static_cast<int64_t>(BlocksForTokens(kv_.NumTokens(id) + n)) - held;
    ASSERT_TRUE(copies || !shared);
    const BlockId last = kv_.Contains(id) && !kv_.BlockTable(id).empty()
                             ? kv_.BlockTable(id).back()
                             : -1;
    const int64_t copied = kv_.stats().blocks_copied_on_write;
    ASSERT_TRUE(kv_.Append(id, n, &slots));
    ASSERT_EQ(kv_.stats().blocks_copied_on_write, copied + (copies ? 1 : 0));
    if (copies) {
      const size_t index = BlocksForTokens(kv_.NumTokens(id) - n) - 1;
      ASSERT_NE(kv_.BlockTable(id)[index], last) << "sequence " << id << " writes a shared block";
      ASSERT_EQ(kv_.pool().state(last), BlockState::kInFlight) << "the copy's source is pinned";
    }
    SyncOrigins(id);
    pending_writes_.emplace_back(id, s.computed, slots);
    busy_.insert(id);
    s.computed += n;
  }

  void NewSequence() {
    const SequenceId id = next_id_++;
    Sim s;
    s.salt = Uniform(0, 4) == 0 ? "tenant-b" : "";
    const int shared = Uniform(0, 2);  // one of three shared system prompts, or none
    const int prefix_len = Uniform(0, 3) * kBlockSize + Uniform(0, 3);
    for (int i = 0; i < prefix_len; ++i) s.tokens.push_back(shared * 100 + i);
    const int own = Uniform(1, 9);
    for (int i = 0; i < own; ++i) s.tokens.push_back(Uniform(0, 3));
    const int64_t matched =
        kv_.MatchPrefix(id, s.tokens, RootKey(s.salt), static_cast<int64_t>(s.tokens.size()) - 1);
    s.computed = matched;
    sims_.emplace(id, std::move(s));
    if (kv_.Contains(id)) SyncOrigins(id);
    const int64_t rest = static_cast<int64_t>(sims_.at(id).tokens.size()) - matched;
    if (!kv_.CanAppend(id, rest)) {  // does not fit now: give the hits back
      kv_.Free(id);
      sims_.erase(id);
      return;
    }
    Compute(id, rest);
  }

  // A sequence computing in this step is not preempted or grown again before it lands.
  SequenceId Pick(Tier tier) {
    std::vector<SequenceId> ids;
    for (auto& [id, s] : sims_) {
      if (kv_.residence(id) == tier && !busy_.contains(id)) ids.push_back(id);
    }
    return ids.empty() ? -1 : ids[Uniform(0, static_cast<int>(ids.size()) - 1)];
  }

  void Grow() {
    const SequenceId id = Pick(Tier::kDevice);
    if (id < 0) return;
    Sim& s = sims_.at(id);
    const int n = Uniform(1, 6);
    for (int i = 0; i < n; ++i) s.tokens.push_back(Uniform(0, 3));
    if (kv_.CanAppend(id, n)) Compute(id, n);
    else s.tokens.resize(s.tokens.size() - n);
  }

  // A child shares a prefix of a parent whose K/V have landed (as the engine forks only
  // computed tokens); its later growth writes into private copies.
  void Fork() {
    const SequenceId parent = Pick(Tier::kDevice);
    if (parent < 0) return;
    const Sim& p = sims_.at(parent);
    const int64_t resident = kv_.NumTokens(parent);
    if (resident == 0) return;
    const int64_t tokens = Uniform(1, static_cast<int>(resident));
    const SequenceId child = next_id_++;
    const std::span<const BlockId> table = kv_.BlockTable(parent);
    const int32_t shared = kv_.BlocksFor(tokens);
    bool in_flight = false;
    for (int32_t i = 0; i < shared; ++i) {
      in_flight |= kv_.pool().state(table[i]) == BlockState::kInFlight;
    }
    const std::vector<BlockId> before(table.begin(), table.begin() + shared);
    const KvCacheStats stats = kv_.stats();
    const ForkResult result = kv_.Fork(parent, child, tokens);
    if (p.dropped) {
      ASSERT_EQ(result, ForkResult::kDropped);
      return;
    }
    if (in_flight) {
      ASSERT_EQ(result, ForkResult::kInFlight);
      return;
    }
    ASSERT_EQ(result, ForkResult::kForked);
    ASSERT_EQ(kv_.NumTokens(child), tokens);
    ASSERT_EQ(kv_.residence(child), Tier::kDevice);
    ASSERT_TRUE(std::ranges::equal(kv_.BlockTable(child), before)) << "the child shares";
    ASSERT_EQ(kv_.stats().blocks_forked, stats.blocks_forked + shared);
    Sim c;
    c.tokens.assign(p.tokens.begin(), p.tokens.begin() + tokens);
    c.computed = tokens;
    c.salt = p.salt;
    c.origins.assign(p.origins.begin(), p.origins.begin() + shared);
    sims_.emplace(child, std::move(c));
    ++forks_;
  }

  void Swap() {
    const SequenceId id = Pick(Tier::kDevice);
    if (id >= 0) kv_.SwapOut(id);
  }
  void SwapIn() {
    const SequenceId id = Pick(Tier::kHost);
    if (id >= 0) kv_.SwapIn(id);
  }
  void Free() {
    const SequenceId id = Pick(Uniform(0, 1) ? Tier::kDevice : Tier::kHost);
    if (id < 0) return;
    kv_.Free(id);
    sims_.erase(id);
  }
  void Drop() {
    const SequenceId id = Pick(Tier::kDevice);
    if (id < 0) return;
    const int32_t held = static_cast<int32_t>(kv_.BlockTable(id).size());
    if (held < 2) return;
    // Any non-empty set of full blocks (never the last one): contiguous or scattered.
    std::vector<int32_t> drop;
    if (Uniform(0, 3) == 0) {
      const int32_t first = Uniform(0, held - 2);
      const int32_t count = Uniform(1, held - 1 - first);
      for (int32_t i = first; i < first + count; ++i) drop.push_back(i);
    } else {
      for (int32_t i = 0; i < held - 1; ++i) {
        if (Uniform(0, 2) == 0) drop.push_back(i);
      }
      if (drop.empty()) drop.push_back(Uniform(0, held - 2));
    }
    const int64_t dropped_before = kv_.DroppedTokens(id);
    kv_.DropBlocks(id, drop);
    Sim& s = sims_.at(id);
    const int32_t n = static_cast<int32_t>(drop.size());
    ASSERT_EQ(kv_.DroppedTokens(id), dropped_before + int64_t{kBlockSize} * n);
    ASSERT_EQ(static_cast<int32_t>(kv_.BlockTable(id).size()), held - n);
    for (auto it = drop.rbegin(); it != drop.rend(); ++it) s.origins.erase(s.origins.begin() + *it);
    s.dropped = true;
  }

  // The worker's side of a step: copies before compute in order, the forward pass's
  // writes, then the overlapped copies (whose sources the forward pass must not touch).
  void Land() {
    CopyBatch copies = kv_.TakeCopies();
    auto apply = [&](const BlockCopy& c) {
      std::vector<Content>& from = store(c.from);
      std::vector<Content>& to = store(c.to);
      for (int i = 0; i < kBlockSize; ++i) {
        to[c.dst * kBlockSize + i] = from[c.src * kBlockSize + i];
      }
    };
    for (const BlockCopy& c : copies.before_compute) apply(c);
    std::vector<std::vector<Content>> overlapped_sources;
    for (const BlockCopy& c : copies.overlapped) {
      const auto& from = store(c.from);
      overlapped_sources.emplace_back(from.begin() + c.src * kBlockSize,
                                      from.begin() + (c.src + 1) * kBlockSize);
    }
    for (auto& [id, first, slots] : pending_writes_) {
      if (!sims_.contains(id)) continue;
      // Attention reads the context already resident: it must be in place now.
      CheckSequence(id, kv_.NumTokens(id) - static_cast<int64_t>(slots.size()), -1);
      const Sim& s = sims_.at(id);
      for (size_t i = 0; i < slots.size(); ++i) device_store_[slots[i]] = ContentAt(s, first + i);
      kv_.IndexFullBlocks(id, s.tokens);
    }
    pending_writes_.clear();
    busy_.clear();
    for (size_t k = 0; k < copies.overlapped.size(); ++k) {
      const BlockCopy& c = copies.overlapped[k];
      const auto& from = store(c.from);
      ASSERT_TRUE(std::equal(overlapped_sources[k].begin(), overlapped_sources[k].end(),
                             from.begin() + c.src * kBlockSize))
          << "the forward pass wrote a block an overlapped copy was reading";
      apply(c);
    }
    kv_.CopiesLanded();
  }

  void CheckContents(int step) {
    for (const auto& [id, s] : sims_) {
      ASSERT_EQ(kv_.NumTokens(id) + kv_.DroppedTokens(id), s.computed) << "sequence " << id;
      CheckSequence(id, kv_.NumTokens(id), step);
    }
  }

  // The first `resident` K/V entries of the sequence hold what was written for them.
  void CheckSequence(SequenceId id, int64_t resident, int step) {
    const Sim& s = sims_.at(id);
    const std::span<const BlockId> table = kv_.BlockTable(id);
    const std::vector<Content>& st = store(kv_.residence(id));
    const int64_t offset = kv_.DroppedTokens(id);
    {
      ASSERT_EQ(s.origins.size(), table.size()) << "sequence " << id;
      (void)offset;
      for (int64_t t = 0; t < resident; ++t) {
        // Each kept block holds the tokens it was written with, wherever drops left it.
        const int64_t position = s.origins[t / kBlockSize] + t % kBlockSize;
        const Content want = ContentAt(s, position);
        const Content got = st[table[t / kBlockSize] * kBlockSize + t % kBlockSize];
        ASSERT_EQ(got, want) << "step " << step << " (-1: before compute) sequence " << id
                             << " token " << t;
      }
    }
  }

  KvCacheManager kv_;
  std::vector<Content> device_store_, host_store_;
  std::mt19937 rng_;
  std::map<SequenceId, Sim> sims_;
  std::set<SequenceId> busy_;
  std::vector<std::tuple<SequenceId, int64_t, std::vector<int64_t>>> pending_writes_;
  SequenceId next_id_ = 1;
  int64_t forks_ = 0;
};

class KvCachePropertyTest : public testing::TestWithParam<std::tuple<int, int, bool>> {};

TEST_P(KvCachePropertyTest, RandomOperationsKeepBookkeepingAndContentsExact) {
  const auto [device, host, prefix] = GetParam();
  int64_t hits = 0, swaps = 0, demotions = 0, forks = 0, copies_on_write = 0;
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    Harness h(device, host, prefix, seed);
    h.Run(3000);
    if (testing::Test::HasFailure()) FAIL() << "seed " << seed;
    hits += h.stats().prefix_hits;
    swaps += h.stats().blocks_swapped_out;
    demotions += h.stats().blocks_demoted;
    forks += h.forks();
    copies_on_write += h.stats().blocks_copied_on_write;
    EXPECT_EQ(h.forks(), h.stats().sequences_forked);
  }
  EXPECT_GT(forks, 0);
  EXPECT_GT(copies_on_write, 0);
  // The runs exercise what they claim to.
  if (prefix) EXPECT_GT(hits, 0);
  if (host > 0) EXPECT_GT(swaps, 0);
  if (prefix && host > 0) EXPECT_GT(demotions, 0);
}

INSTANTIATE_TEST_SUITE_P(Tiers, KvCachePropertyTest,
                         testing::Values(std::make_tuple(24, 0, true), std::make_tuple(24, 16, true),
                                         std::make_tuple(12, 40, true),
                                         std::make_tuple(24, 24, false)));

}  // namespace
}  // namespace strata::cache
