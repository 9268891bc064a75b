// What happens when a sequence reaches its KV budget: one interface, one implementation per
// policy, chosen per config (cache.eviction_policy) and per request. Pure arithmetic on
// block counts (and, for heavy_hitter, per-block attention scores the engine collects from
// the worker); the engine applies the decision through KvCacheManager::DropBlocks.
//
// Policies and their cost per step (beyond the bookkeeping of one sequence):
//   none          the budget is a hard cap on context: when the next token's K/V would not
//                 fit, the request ends with finish_reason "length". O(1).
//   streaming     StreamingLLM: the first `sink_tokens` (rounded up to blocks) stay as
//                 attention sinks, plus the most recent window; the oldest block after the
//                 sinks is dropped when room is needed. Tokens keep their original positions
//                 (RoPE is applied at the true position when K is written and when Q is
//                 computed), so relative distances to kept tokens are exact. O(1) per dropped
//                 block plus compacting the block table (O(blocks)).
//   heavy_hitter  H2O / Scissorhands: the attention kernels accumulate the softmax mass each
//                 KV block receives (summed over heads and layers; see BudgetView); the last
//                 `recent_tokens` (rounded up to blocks, at least the last block) are
//                 protected, and when room is needed the full blocks outside that window
//                 with the lowest mean mass per scored step are dropped (ties: the oldest).
//                 O(blocks) per step that drops (one selection pass), plus the table
//                 compaction; the worker's mass collection costs one extra pass over the
//                 sequence's keys per layer on a GPU (free on the CPU reference).
//   adaptive_precision  ARKV-style: blocks move full precision -> int8 -> dropped, by the
//                 same mean attention mass as heavy_hitter. The budget is counted in bytes:
//                 a full block costs full_block_cost, an int8 one quantized_block_cost (the
//                 worker reports both), the cap is cap_blocks full blocks. The first
//                 `sink_tokens` and the last `recent_tokens` (rounded up to blocks, at least
//                 the last block) stay at full precision; when room is needed the
//                 lowest-scoring full blocks outside them are quantized, except that the
//                 top `full_precision_ratio` of them (set per sequence from the prompt's
//                 attention statistics, see FullPrecisionRatio) stay full; only when that is
//                 no longer enough are the lowest-scoring blocks dropped. One precision per
//                 block (all layers). O(blocks) per step that needs room (ranking the
//                 candidates, sorting only the few lowest), O(protected blocks) otherwise.
//
// Dropping compacts the table in order (KvCacheManager::DropBlocks): kept blocks keep their
// relative order and their tokens keep their true RoPE positions.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace strata::cache {

struct BudgetView {
  int32_t block_size = 16;
  int32_t cap_blocks = 0;       // the budget in blocks (> 0)
  int32_t held_blocks = 0;      // blocks in the sequence's table
  int64_t resident_tokens = 0;  // K/V entries held
  // Only for policies that score blocks (wants_attention_mass()), one entry per table index
  // (shorter or empty: the missing entries score 0): the attention mass each block received,
  // accumulated over the steps it was scored in, and how many steps that was.
  std::span<const float> block_mass;
  std::span<const int32_t> block_steps;
  // Only for policies that quantize (quantizes()): per table entry, 0 full precision or 1
  // int8 (shorter: the missing entries are full); the cost of each kind of block in any
  // unit (the cap is cap_blocks * full_block_cost); and the share of the blocks outside
  // the protected region that stay at full precision.
  std::span<const uint8_t> block_precision;
  int32_t quantized_blocks = 0;  // entries of block_precision flagged int8
  int64_t full_block_cost = 1;
  int64_t quantized_block_cost = 1;
  float full_precision_ratio = 0.0f;
};

struct BudgetAction {
  bool finish = false;        // the sequence cannot grow: it ends with "length"
  std::vector<int32_t> drop;  // table indices to drop, strictly increasing, never the last
  // Table indices (before the drop) of full blocks to quantize to int8, strictly
  // increasing, disjoint from `drop`, never the last.
  std::vector<int32_t> quantize;
};

class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;
  virtual std::string_view name() const = 0;
  // True when the policy ranks blocks by attention mass: the engine then asks the worker
  // to collect it for the sequence's steps and passes it in BudgetView.
  virtual bool wants_attention_mass() const { return false; }
  // True when the policy quantizes blocks (BudgetAction::quantize): the budget is then
  // counted by BudgetView's costs, and a sequence may hold up to
  // cap_blocks * full_block_cost / quantized_block_cost blocks.
  virtual bool quantizes() const { return false; }
  // The smallest budget (tokens) this policy can work with.
  virtual int64_t MinBudgetTokens(int32_t block_size) const = 0;
  // How many new tokens the sequence may compute in one step (after MakeRoom).
  virtual int64_t MaxChunk(const BudgetView& view) const = 0;
  // What to drop so that `new_tokens` (<= MaxChunk) more fit under the cap, or finish.
  virtual BudgetAction MakeRoom(const BudgetView& view, int64_t new_tokens) const = 0;
  // MakeRoom(view, new_tokens).finish without choosing what to drop.
  virtual bool MustFinish(const BudgetView& view, int64_t new_tokens) const = 0;
};

struct EvictionPolicyParams {
  int64_t streaming_sink_tokens = 4;
  int64_t heavy_hitter_recent_tokens = 64;
  int64_t adaptive_sink_tokens = 4;
  int64_t adaptive_recent_tokens = 64;
};

// adaptive_precision: the share of blocks outside the protected region kept at full
// precision, from per-layer statistics of the prompt's last attention row
// (`layer_stats`, 3 floats per layer: softmax entropy in nats, score variance, score excess
// kurtosis, each averaged over heads; `context` tokens attended). Per layer,
//   fragility = (entropy / ln(context)) / ((1 + max(kurtosis, 0) / 8) * (1 + variance)),
// in [0, 1]: diffuse attention (high normalized entropy) spreads int8 rounding error over
// many tokens, while peaked, heavy-tailed scores (high variance or kurtosis) are decided by a
// few outliers that int8 keeps. The layer's ratio is kMaxFullPrecisionRatio * fragility and
// the sequence's is their mean (one precision per block serves every layer). 0 when there
// are no statistics or context < 2.
inline constexpr float kMaxFullPrecisionRatio = 0.5f;
float FullPrecisionRatio(std::span<const float> layer_stats, int64_t context);

// "none", "streaming", "heavy_hitter" or "adaptive_precision"; InvalidArgument naming the
// supported policies otherwise.
absl::StatusOr<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(
    std::string_view name, const EvictionPolicyParams& params);

// The names MakeEvictionPolicy accepts, for error messages:
// "none, streaming, heavy_hitter, adaptive_precision".
const char* SupportedEvictionPolicies();

}  // namespace strata::cache
