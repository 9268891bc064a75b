// What happens when a sequence reaches its KV budget: one interface, one implementation per
// policy, chosen per config (cache.eviction_policy) and per request. Pure arithmetic on
// block counts; the engine applies the decision through KvCacheManager::DropBlocks.
//
// Policies and their cost per step (beyond the bookkeeping of one sequence):
//   none       the budget is a hard cap on context: when the next token's K/V would not
//              fit, the request ends with finish_reason "length". O(1).
//   streaming  StreamingLLM: the first `sink_tokens` (rounded up to blocks) stay as
//              attention sinks, plus the most recent window; the oldest block after the
//              sinks is dropped when room is needed. Tokens keep their original positions
//              (RoPE is applied at the true position when K is written and when Q is
//              computed), so relative distances to kept tokens are exact. O(1) per dropped
//              block plus compacting the block table (O(blocks)).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace strata::cache {

struct BudgetView {
  int32_t block_size = 16;
  int32_t cap_blocks = 0;       // the budget in blocks (> 0)
  int32_t held_blocks = 0;      // blocks in the sequence's table
  int64_t resident_tokens = 0;  // K/V entries held
};

struct BudgetAction {
  bool finish = false;     // the sequence cannot grow: it ends with "length"
  int32_t drop_first = 0;  // table index of the first block to drop
  int32_t drop_count = 0;
};

class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;
  virtual std::string_view name() const = 0;
  // The smallest budget (tokens) this policy can work with.
  virtual int64_t MinBudgetTokens(int32_t block_size) const = 0;
  // How many new tokens the sequence may compute in one step (after MakeRoom).
  virtual int64_t MaxChunk(const BudgetView& view) const = 0;
  // What to drop so that `new_tokens` (<= MaxChunk) more fit under the cap, or finish.
  virtual BudgetAction MakeRoom(const BudgetView& view, int64_t new_tokens) const = 0;
};

struct EvictionPolicyParams {
  int64_t streaming_sink_tokens = 4;
};

// "none" or "streaming"; InvalidArgument naming the supported policies otherwise.
absl::StatusOr<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(
    std::string_view name, const EvictionPolicyParams& params);

}  // namespace strata::cache
