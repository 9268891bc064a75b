// Step composition as a pure function: given the running and waiting sequences, the
// token budget and the free KV blocks, decide which tokens run this iteration, through
// which layers, which waiting requests are admitted and which running ones are preempted.
// No model, no device: unit-tested on plain vectors.
//
// Decodes (one pending token) pass through every layer. The prefill mode decides how
// prompts share the token budget with them:
//   whole    prompts first, each entirely in one iteration or not at all (blocks for the
//            decodes' next tokens are held back); decodes take what budget is left, so a
//            long prompt stalls them (the baseline the other modes improve on). Only a
//            prompt longer than the whole budget is cut, into pieces of the whole budget;
//   chunked  Sarathi-style: decodes first, then continuing prefills, then new prompts,
//            each cut to what the budget, its free blocks and its KV budget allow;
//   layered  decodes first; the prompts admitted together (a cohort, at most the rest of
//            the budget's tokens) advance through one of G contiguous layer groups per
//            iteration, G chosen from the cohort's size by LayerGroupsFor; no new cohort
//            forms until it is done. A prompt longer than the budget joins successive
//            cohorts one large chunk at a time.
// Prompt chunks are charged against the token budget by their cost (PromptChunkCost): one
// per token, plus, when `cost_context` is set, the attention over the tokens before each
// one, so a chunk late in a long prompt is cut shorter than its first (chunked and
// layered; whole prefill ignores it). Decodes cost one each.
// When a running sequence cannot get a block for its next token, the lowest-priority,
// newest running sequence is preempted: swapped out to the host tier when swapping is on
// and the host has room (its device blocks come free only once the copy lands, i.e. next
// step), otherwise freed to be recomputed later. A cohort member with layers in flight is
// never a victim: its K/V and carried hidden states are half-built; it finishes within G
// iterations without needing new blocks.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace strata::scheduler {

enum class PrefillMode { kWhole, kChunked, kLayered };

// One row of the layered-prefill table: cohorts of at most `max_tokens` prompt tokens are
// split into `groups` layer groups.
struct LayerGroupRule {
  int64_t max_tokens = 0;
  int32_t groups = 1;
};

struct LayeredOptions {
  int32_t max_groups = 16;  // G_max: cohorts beyond the table's last row
  // Ascending max_tokens; the default is the 2025 layered-prefill paper's table for G_max 16.
  std::vector<LayerGroupRule> table = {{512, 1}, {1024, 2}, {2048, 4}, {4096, 8}};
  // A new cohort may start at a smaller table row's size when that completes more prompt
  // tokens per iteration (CohortCostFor); the rest of its prompts follow in later cohorts.
  // Prompts continuing from an earlier cohort then start one of their own when they need
  // fewer groups alone than with new prompts.
  bool cohort_tiers = false;
};

// G for a cohort of `cohort_tokens` (its cost, when chunks are costed): the first table
// row that holds it, else max_groups; never more than the model's layers, never less than 1,
// and lowered to the fewest groups whose largest has as many layers (48 layers: 32 -> 24).
int32_t LayerGroupsFor(int64_t cohort_tokens, int32_t num_layers, const LayeredOptions& options);

// The cost a new cohort may take when `cost` is what the budget would give it: `cost`, or
// the size of a smaller table row whose cohort completes at least 1/8 more prompt tokens
// per iteration (size / its groups) without more tokens x layers per iteration than a
// cohort of `max_batch_tokens` runs. With a table whose rows double the groups as they
// double the tokens (the default), a cohort of 6144 runs as 4096 in 8 groups and then
// 2048 in 4: 12 iterations instead of 16, each no heavier than an 8k cohort's.
int64_t CohortCostFor(int64_t cost, int32_t max_batch_tokens, int32_t num_layers,
                      const LayeredOptions& options);

// What `tokens` prompt tokens after `computed` cached ones cost against the token budget:
// `tokens` when `cost_context` is 0; otherwise each token also costs (tokens it attends
// over) / cost_context, so a token attending over cost_context earlier tokens costs 2.
int64_t PromptChunkCost(int64_t tokens, int64_t computed, int64_t cost_context);

// The most tokens (at most `max_tokens`) after `computed` whose cost is within `budget`.
int64_t PromptTokensWithin(int64_t budget, int64_t computed, int64_t max_tokens,
                           int64_t cost_context);

struct SequenceState {
  int64_t id = 0;
  int32_t priority = 0;
  int64_t arrival = 0;          // admission order; smaller is older
  int64_t total_tokens = 0;     // prompt + generated so far
  int64_t computed_tokens = 0;  // tokens whose K/V are cached (in every layer)
  int32_t held_blocks = 0;      // device blocks in its table
  int32_t freeable_blocks = 0;  // of those, the ones freed if it lets go (not shared)
  int64_t max_chunk = std::numeric_limits<int64_t>::max();  // tokens it may compute per step (its KV budget)
  // Layered prefill: a chunk of `cohort_tokens` (after computed_tokens, blocks already
  // held) whose layer group `cohort_next_group` of `cohort_groups` runs next. 0 groups: none.
  int64_t cohort_tokens = 0;
  int32_t cohort_groups = 0;
  int32_t cohort_next_group = 0;
};

struct PlannerLimits {
  int32_t block_size = 16;
  int32_t free_blocks = 0;
  int32_t max_num_seqs = 1;
  int32_t max_batch_tokens = 1;
  bool swap = false;           // preempt by swapping out when the host tier has room
  int32_t host_free_blocks = 0;
  PrefillMode prefill_mode = PrefillMode::kChunked;
  int32_t num_layers = 1;
  LayeredOptions layered;
  int64_t cost_context = 0;  // PromptChunkCost; 0: a prompt token costs 1
};

struct ScheduledChunk {
  int64_t id = 0;
  int64_t num_tokens = 0;  // tokens computed this step, starting at computed_tokens
  // Layers [layer_begin, layer_end) run this step; layer_end == num_layers completes them.
  int32_t layer_begin = 0;
  int32_t layer_end = 0;
  int32_t groups = 1;  // layer groups of its cohort (1 outside layered prefill)
};

struct StepPlan {
  std::vector<ScheduledChunk> chunks;  // decodes and other full-depth chunks, then the cohort's
  std::vector<int64_t> admitted;       // waiting ids that start running
  std::vector<int64_t> preempted;      // running ids that lose their blocks (recompute)
  std::vector<int64_t> swapped_out;    // running ids moved to the host tier
};

// The layers of group `group` of `groups` over `num_layers`: [begin, end), contiguous,
// sizes differing by at most one.
std::pair<int32_t, int32_t> LayerGroupRange(int32_t group, int32_t groups, int32_t num_layers);

// `running` and `waiting` are in any order; the planner sorts by (priority, arrival).
StepPlan PlanStep(std::vector<SequenceState> running, std::vector<SequenceState> waiting,
                  const PlannerLimits& limits);

}  // namespace strata::scheduler
