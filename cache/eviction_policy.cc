#include "cache/eviction_policy.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "base/check.h"

namespace strata::cache {
namespace {

int64_t CapTokens(const BudgetView& v) { return int64_t{v.cap_blocks} * v.block_size; }

int32_t BlocksFor(int64_t tokens, int32_t block_size) {
  return static_cast<int32_t>((tokens + block_size - 1) / block_size);
}

// Blocks beyond the cap once `new_tokens` more are resident (<= 0: they fit).
int32_t BlocksOver(const BudgetView& v, int64_t new_tokens) {
  return BlocksFor(v.resident_tokens + new_tokens, v.block_size) - v.cap_blocks;
}

// Mean attention mass per scored step; unscored blocks score 0.
float MeanMass(const BudgetView& v, int32_t i) {
  const size_t k = static_cast<size_t>(i);
  if (k >= v.block_mass.size() || k >= v.block_steps.size() || v.block_steps[k] <= 0) {
    return 0.0f;
  }
  return v.block_mass[k] / static_cast<float>(v.block_steps[k]);
}

BudgetAction Finish(bool finish) {
  BudgetAction action;
  action.finish = finish;
  return action;
}

class NoEviction : public EvictionPolicy {
 public:
  std::string_view name() const override { return "none"; }
  int64_t MinBudgetTokens(int32_t block_size) const override { return 1; }
  int64_t MaxChunk(const BudgetView& v) const override {
    return std::max<int64_t>(CapTokens(v) - v.resident_tokens, 0);
  }
  BudgetAction MakeRoom(const BudgetView& v, int64_t new_tokens) const override {
    return Finish(MustFinish(v, new_tokens));
  }
  bool MustFinish(const BudgetView& v, int64_t new_tokens) const override {
    return v.resident_tokens + new_tokens > CapTokens(v);
  }
};

// Shared by the policies that keep a protected region and drop `over` blocks outside it:
// `Droppable(v)` counts the droppable blocks.
class DroppingPolicy : public EvictionPolicy {
 public:
  int64_t MaxChunk(const BudgetView& v) const override {
    return CapTokens(v) - (v.resident_tokens - int64_t{Droppable(v)} * v.block_size);
  }
  bool MustFinish(const BudgetView& v, int64_t new_tokens) const override {
    return BlocksOver(v, new_tokens) > Droppable(v);
  }
  BudgetAction MakeRoom(const BudgetView& v, int64_t new_tokens) const override {
    const int32_t over = BlocksOver(v, new_tokens);
    if (over <= 0) return {};
    if (over > Droppable(v)) return Finish(true);
    BudgetAction action;
    action.drop = Choose(v, over);
    return action;
  }

 protected:
  virtual int32_t Droppable(const BudgetView& v) const = 0;
  // `count` (<= Droppable) table indices, strictly increasing.
  virtual std::vector<int32_t> Choose(const BudgetView& v, int32_t count) const = 0;
};

class StreamingEviction : public DroppingPolicy {
 public:
  explicit StreamingEviction(int64_t sink_tokens) : sink_tokens_(sink_tokens) {}
  std::string_view name() const override { return "streaming"; }
  int64_t MinBudgetTokens(int32_t block_size) const override {
    return int64_t{SinkBlocks(block_size) + 2} * block_size;
  }

 private:
  int32_t SinkBlocks(int32_t block_size) const { return BlocksFor(sink_tokens_, block_size); }
  // Blocks between the sinks and the last block (the last one is never dropped).
  int32_t Droppable(const BudgetView& v) const override {
    return std::max(v.held_blocks - 1 - SinkBlocks(v.block_size), 0);
  }
  std::vector<int32_t> Choose(const BudgetView& v, int32_t count) const override {
    std::vector<int32_t> drop(count);
    std::iota(drop.begin(), drop.end(), SinkBlocks(v.block_size));
    return drop;
  }
  int64_t sink_tokens_;
};

class HeavyHitterEviction : public DroppingPolicy {
 public:
  explicit HeavyHitterEviction(int64_t recent_tokens) : recent_tokens_(recent_tokens) {}
  std::string_view name() const override { return "heavy_hitter"; }
  bool wants_attention_mass() const override { return true; }
  int64_t MinBudgetTokens(int32_t block_size) const override {
    return int64_t{RecentBlocks(block_size) + 1} * block_size;
  }

 private:
  // The protected window: the last blocks of the table, at least the (partial) last one.
  int32_t RecentBlocks(int32_t block_size) const {
    return std::max(BlocksFor(recent_tokens_, block_size), 1);
  }
  // Every block before the protected window (all of them full).
  int32_t Droppable(const BudgetView& v) const override {
    return std::max(v.held_blocks - RecentBlocks(v.block_size), 0);
  }
  static float Score(const BudgetView& v, int32_t i) { return MeanMass(v, i); }
  // The `count` lowest (score, index) pairs among the droppable blocks, in index order.
  std::vector<int32_t> Choose(const BudgetView& v, int32_t count) const override {
    const int32_t n = Droppable(v);
    if (count == 1) {  // the decode case: one linear scan, no sort
      int32_t best = 0;
      float best_score = Score(v, 0);
      for (int32_t i = 1; i < n; ++i) {
        const float s = Score(v, i);
        if (s < best_score) best = i, best_score = s;
      }
      return {best};
    }
    std::vector<std::pair<float, int32_t>> ranked(n);
    for (int32_t i = 0; i < n; ++i) ranked[i] = {Score(v, i), i};
    std::nth_element(ranked.begin(), ranked.begin() + (count - 1), ranked.end());
    std::vector<int32_t> drop(count);
    for (int32_t i = 0; i < count; ++i) drop[i] = ranked[i].second;
    std::sort(drop.begin(), drop.end());
    return drop;
  }
  int64_t recent_tokens_;
};

// (score, index) pairs whose ascending order is produced on demand: At(k) sorts the
// smallest max(2k, 16) first, so a decision that looks at a few candidates costs O(n).
class LazyRanking {
 public:
  void Add(float score, int32_t index) { items_.emplace_back(score, index); }
  size_t size() const { return items_.size(); }
  const std::pair<float, int32_t>& At(size_t k) {
    if (k >= sorted_) {
      sorted_ = std::min(items_.size(), std::max<size_t>(2 * k + 2, 16));
      std::partial_sort(items_.begin(), items_.begin() + sorted_, items_.end());
    }
    return items_[k];
  }

 private:
  std::vector<std::pair<float, int32_t>> items_;
  size_t sorted_ = 0;
};

bool IsInt8(const BudgetView& v, int32_t i) {
  return static_cast<size_t>(i) < v.block_precision.size() && v.block_precision[i] != 0;
}

// Blocks go full -> int8 -> dropped; see the header. Protected blocks are always full: the
// sinks are never candidates, and a block only leaves the recent window (never enters it).
class AdaptivePrecision : public EvictionPolicy {
 public:
  AdaptivePrecision(int64_t sink_tokens, int64_t recent_tokens)
      : sink_tokens_(sink_tokens), recent_tokens_(recent_tokens) {}
  std::string_view name() const override { return "adaptive_precision"; }
  bool wants_attention_mass() const override { return true; }
  bool quantizes() const override { return true; }
  int64_t MinBudgetTokens(int32_t block_size) const override {
    return int64_t{SinkBlocks(block_size) + RecentBlocks(block_size) + 1} * block_size;
  }
  // What fits once every candidate but the kept share is int8, so that a prefill chunk
  // does not force drops that quantizing would avoid; at least one block's worth when
  // drops can pay for it, never more than fits with every candidate dropped.
  int64_t MaxChunk(const BudgetView& v) const override {
    const Region r = Split(v);
    const int64_t room = CapCost(v) - ProtectedCost(v, r);
    if (room < 0) return 0;
    // Every candidate dropped: the protected blocks plus `room / full` new full blocks.
    const int64_t blocks = r.protected_blocks() + room / v.full_block_cost;
    const int64_t all_dropped = std::max<int64_t>(
        blocks * v.block_size - (v.resident_tokens - int64_t{r.candidates()} * v.block_size), 0);
    if (all_dropped == 0) return 0;
    // Full candidates: every full block but the protected ones (O(protected) to count).
    int64_t protected_int8 = 0;
    for (int32_t i = 0; i < r.first; ++i) protected_int8 += IsInt8(v, i);
    for (int32_t i = r.end; i < r.held; ++i) protected_int8 += IsInt8(v, i);
    const int64_t full = r.candidates() - (v.quantized_blocks - protected_int8);
    const int64_t kept = std::min<int64_t>(
        full, static_cast<int64_t>(std::floor(v.full_precision_ratio * r.candidates())));
    const int64_t squeezed = ProtectedCost(v, r) + kept * v.full_block_cost +
                             (r.candidates() - kept) * v.quantized_block_cost;
    const int64_t new_blocks = std::max<int64_t>((CapCost(v) - squeezed) / v.full_block_cost, 1);
    const int64_t tail = int64_t{v.held_blocks} * v.block_size - v.resident_tokens;
    return std::min(all_dropped, tail + new_blocks * v.block_size);
  }
  bool MustFinish(const BudgetView& v, int64_t new_tokens) const override {
    const Region r = Split(v);
    return ProtectedCost(v, r) + NewBlocks(v, new_tokens) * v.full_block_cost > CapCost(v);
  }
  BudgetAction MakeRoom(const BudgetView& v, int64_t new_tokens) const override {
    int64_t over = Cost(v) + NewBlocks(v, new_tokens) * v.full_block_cost - CapCost(v);
    if (over <= 0) return {};
    if (MustFinish(v, new_tokens)) return Finish(true);
    const Region r = Split(v);
    // The candidates by (score, index), full and int8 apart: quantizing takes the lowest
    // full one, dropping the lowest of either. Only the prefixes used get sorted.
    LazyRanking full_rank, int8_rank;
    for (int32_t i = r.first; i < r.end; ++i) {
      (IsInt8(v, i) ? int8_rank : full_rank).Add(MeanMass(v, i), i);
    }
    enum Fate : uint8_t { kKeep, kQuantize, kDrop };
    std::vector<Fate> full_fate(full_rank.size(), kKeep);  // int8 ones are dropped in order
    int64_t full = full_rank.size(), remaining = r.candidates();
    const int64_t saving = v.full_block_cost - v.quantized_block_cost;
    size_t next_quantize = 0, next_full_drop = 0, int8_dropped = 0;
    while (over > 0) {
      const auto keep = static_cast<int64_t>(std::floor(v.full_precision_ratio * remaining));
      if (saving > 0 && full > keep) {
        while (full_fate[next_quantize] != kKeep) ++next_quantize;
        full_rank.At(next_quantize);  // sorted up to it
        full_fate[next_quantize] = kQuantize;
        --full;
        over -= saving;
        continue;
      }
      STRATA_CHECK_GT(remaining, 0);  // MustFinish said dropping every candidate suffices
      while (next_full_drop < full_fate.size() && full_fate[next_full_drop] == kDrop) {
        ++next_full_drop;
      }
      const bool from_full =
          next_full_drop < full_fate.size() &&
          (int8_dropped >= int8_rank.size() ||
           full_rank.At(next_full_drop) < int8_rank.At(int8_dropped));
      if (from_full) {
        const bool was_full = full_fate[next_full_drop] == kKeep;
        full -= was_full;
        over -= was_full ? v.full_block_cost : v.quantized_block_cost;
        full_fate[next_full_drop++] = kDrop;
      } else {
        over -= v.quantized_block_cost;
        ++int8_dropped;
      }
      --remaining;
    }
    BudgetAction action;
    for (size_t k = 0; k < full_fate.size(); ++k) {
      if (full_fate[k] == kDrop) action.drop.push_back(full_rank.At(k).second);
      if (full_fate[k] == kQuantize) action.quantize.push_back(full_rank.At(k).second);
    }
    for (size_t k = 0; k < int8_dropped; ++k) action.drop.push_back(int8_rank.At(k).second);
    std::sort(action.drop.begin(), action.drop.end());
    std::sort(action.quantize.begin(), action.quantize.end());
    return action;
  }

 private:
  // Table indices [first, end) are candidates; the rest are protected.
  struct Region {
    int32_t held = 0, first = 0, end = 0;
    int32_t candidates() const { return end - first; }
    int32_t protected_blocks() const { return held - candidates(); }
  };
  int32_t SinkBlocks(int32_t block_size) const { return BlocksFor(sink_tokens_, block_size); }
  int32_t RecentBlocks(int32_t block_size) const {
    return std::max(BlocksFor(recent_tokens_, block_size), 1);
  }
  Region Split(const BudgetView& v) const {
    const int32_t first = std::min(SinkBlocks(v.block_size), v.held_blocks);
    const int32_t end = std::max(v.held_blocks - RecentBlocks(v.block_size), first);
    return {v.held_blocks, first, end};
  }
  static int64_t CapCost(const BudgetView& v) { return int64_t{v.cap_blocks} * v.full_block_cost; }
  static int64_t NewBlocks(const BudgetView& v, int64_t new_tokens) {
    return std::max<int64_t>(BlocksFor(v.resident_tokens + new_tokens, v.block_size) - v.held_blocks, 0);
  }
  static int64_t CostOf(const BudgetView& v, int32_t i) {
    return IsInt8(v, i) ? v.quantized_block_cost : v.full_block_cost;
  }
  // O(1): the engine keeps the int8 count.
  static int64_t Cost(const BudgetView& v) {
    return int64_t{v.held_blocks - v.quantized_blocks} * v.full_block_cost +
           int64_t{v.quantized_blocks} * v.quantized_block_cost;
  }
  static int64_t ProtectedCost(const BudgetView& v, const Region& r) {
    int64_t cost = 0;
    for (int32_t i = 0; i < r.first; ++i) cost += CostOf(v, i);
    for (int32_t i = r.end; i < r.held; ++i) cost += CostOf(v, i);
    return cost;
  }
  int64_t sink_tokens_;
  int64_t recent_tokens_;
};

}  // namespace

float FullPrecisionRatio(std::span<const float> layer_stats, int64_t context) {
  const size_t layers = layer_stats.size() / 3;
  if (layers == 0 || context < 2) return 0.0f;
  const double max_entropy = std::log(static_cast<double>(context));
  double sum = 0.0;
  for (size_t l = 0; l < layers; ++l) {
    const double entropy = std::clamp(layer_stats[3 * l] / max_entropy, 0.0, 1.0);
    const double variance = std::max<double>(layer_stats[3 * l + 1], 0.0);
    const double kurtosis = std::max<double>(layer_stats[3 * l + 2], 0.0);
    sum += entropy / ((1.0 + kurtosis / 8.0) * (1.0 + variance));
  }
  return static_cast<float>(kMaxFullPrecisionRatio * sum / layers);
}

const char* SupportedEvictionPolicies() {
  return "none, streaming, heavy_hitter, adaptive_precision";
}

absl::StatusOr<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(
    std::string_view name, const EvictionPolicyParams& params) {
  if (name == "none") return std::make_unique<NoEviction>();
  if (name == "streaming") {
    if (params.streaming_sink_tokens < 0) {
      return absl::InvalidArgumentError("streaming sink tokens must be >= 0");
    }
    return std::make_unique<StreamingEviction>(params.streaming_sink_tokens);
  }
  if (name == "heavy_hitter") {
    if (params.heavy_hitter_recent_tokens < 0) {
      return absl::InvalidArgumentError("heavy_hitter recent tokens must be >= 0");
    }
    return std::make_unique<HeavyHitterEviction>(params.heavy_hitter_recent_tokens);
  }
  if (name == "adaptive_precision") {
    if (params.adaptive_sink_tokens < 0 || params.adaptive_recent_tokens < 0) {
      return absl::InvalidArgumentError(
          "adaptive_precision sink and recent tokens must be >= 0");
    }
    return std::make_unique<AdaptivePrecision>(params.adaptive_sink_tokens,
                                               params.adaptive_recent_tokens);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown KV eviction policy \"", std::string(name),
                                                 "\"; supported: ",
                                                 SupportedEvictionPolicies()));
}

}  // namespace strata::cache
