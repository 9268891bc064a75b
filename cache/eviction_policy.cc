#include "cache/eviction_policy.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"

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
  // Mean mass per scored step; unscored blocks score 0.
  static float Score(const BudgetView& v, int32_t i) {
    const size_t k = static_cast<size_t>(i);
    if (k >= v.block_mass.size() || k >= v.block_steps.size() || v.block_steps[k] <= 0) {
      return 0.0f;
    }
    return v.block_mass[k] / static_cast<float>(v.block_steps[k]);
  }
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

}  // namespace

const char* SupportedEvictionPolicies() { return "none, streaming, heavy_hitter"; }

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
  return absl::InvalidArgumentError(absl::StrCat("unknown KV eviction policy \"", std::string(name),
                                                 "\"; supported: ",
                                                 SupportedEvictionPolicies()));
}

}  // namespace strata::cache
