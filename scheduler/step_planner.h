// Step composition as a pure function: given the running and waiting sequences, the
// token budget and the free KV blocks, decide which tokens run this iteration, which
// waiting requests are admitted and which running ones are preempted. No model, no
// device: unit-tested on plain vectors.
//
// Order (Sarathi-style chunked prefill): decodes first, then continuing prefills, then new
// prompts, each admitted while the token budget, the sequence cap and the blocks allow.
// When a running sequence cannot get a block for its next token, the lowest-priority,
// newest running sequence is preempted: swapped out to the host tier when swapping is on
// and the host has room (its device blocks come free only once the copy lands, i.e. next
// step), otherwise freed to be recomputed later.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace strata::scheduler {

struct SequenceState {
  int64_t id = 0;
  int32_t priority = 0;
  int64_t arrival = 0;          // admission order; smaller is older
  int64_t total_tokens = 0;     // prompt + generated so far
  int64_t computed_tokens = 0;  // tokens whose K/V are cached
  int32_t held_blocks = 0;      // device blocks in its table
  int32_t freeable_blocks = 0;  // of those, the ones freed if it lets go (not shared)
  int64_t max_chunk = std::numeric_limits<int64_t>::max();  // tokens it may compute per step (its KV budget)
};

struct PlannerLimits {
  int32_t block_size = 16;
  int32_t free_blocks = 0;
  int32_t max_num_seqs = 1;
  int32_t max_batch_tokens = 1;
  bool swap = false;           // preempt by swapping out when the host tier has room
  int32_t host_free_blocks = 0;
};

struct ScheduledChunk {
  int64_t id = 0;
  int64_t num_tokens = 0;  // tokens computed this step, starting at computed_tokens
};

struct StepPlan {
  std::vector<ScheduledChunk> chunks;  // running first, then admitted, in run order
  std::vector<int64_t> admitted;       // waiting ids that start running
  std::vector<int64_t> preempted;      // running ids that lose their blocks (recompute)
  std::vector<int64_t> swapped_out;    // running ids moved to the host tier
};

// `running` and `waiting` are in any order; the planner sorts by (priority, arrival).
StepPlan PlanStep(std::vector<SequenceState> running, std::vector<SequenceState> waiting,
                  const PlannerLimits& limits);

}  // namespace strata::scheduler
