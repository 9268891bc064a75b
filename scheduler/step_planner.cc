#include "scheduler/step_planner.h"

#include <algorithm>

namespace strata::scheduler {
namespace {

bool RunsBefore(const SequenceState& a, const SequenceState& b) {
  return a.priority != b.priority ? a.priority < b.priority : a.arrival < b.arrival;
}

int32_t BlocksFor(int64_t tokens, int32_t block_size) {
  return static_cast<int32_t>((tokens + block_size - 1) / block_size);
}

}  // namespace

StepPlan PlanStep(std::vector<SequenceState> running, std::vector<SequenceState> waiting,
                  const PlannerLimits& limits) {
  std::sort(running.begin(), running.end(), RunsBefore);
  std::sort(waiting.begin(), waiting.end(), RunsBefore);
  StepPlan plan;
  int64_t free_blocks = limits.free_blocks;
  int64_t host_free = limits.host_free_blocks;
  int64_t landing = 0;  // device blocks that come free when this step's swap-outs land
  int64_t budget = limits.max_batch_tokens;

  // Pass 1, decodes (one pending token), most important first. A decode that cannot get a
  // block preempts the least important running sequence (possibly itself).
  std::vector<bool> gone(running.size(), false);
  size_t tail = running.size();  // running[tail..] are preempted
  auto preempt_tail = [&] {
    --tail;
    gone[tail] = true;
    const SequenceState& victim = running[tail];
    if (limits.swap && victim.held_blocks <= host_free) {
      plan.swapped_out.push_back(victim.id);
      host_free -= victim.held_blocks;
      landing += victim.freeable_blocks;
    } else {
      plan.preempted.push_back(victim.id);
      free_blocks += victim.freeable_blocks;
    }
  };
  for (size_t i = 0; i < tail; ++i) {
    const SequenceState& seq = running[i];
    if (seq.total_tokens - seq.computed_tokens != 1 || budget <= 0 || seq.max_chunk < 1) continue;
    const int32_t needed = BlocksFor(seq.total_tokens, limits.block_size) - seq.held_blocks;
    // Preempt until it fits now, or will once the swap-outs already decided have landed.
    while (needed > free_blocks && needed > free_blocks + landing && tail > i) preempt_tail();
    if (gone[i]) break;
    if (needed > free_blocks) continue;  // waits one step for the swapped-out blocks
    free_blocks -= std::max(needed, 0);
    budget -= 1;
    plan.chunks.push_back({seq.id, 1});
  }
  // Pass 2, continuing prefills: as many tokens as the budget and free blocks allow.
  for (size_t i = 0; i < tail && budget > 0; ++i) {
    const SequenceState& seq = running[i];
    const int64_t remaining = seq.total_tokens - seq.computed_tokens;
    if (remaining <= 1) continue;
    const int64_t room =
        int64_t{seq.held_blocks + static_cast<int32_t>(free_blocks)} * limits.block_size -
        seq.computed_tokens;
    const int64_t take = std::min({remaining, budget, room, seq.max_chunk});
    if (take <= 0) continue;
    free_blocks -=
        std::max(BlocksFor(seq.computed_tokens + take, limits.block_size) - seq.held_blocks, 0);
    budget -= take;
    plan.chunks.push_back({seq.id, take});
  }
  const size_t end = tail;

  // Admit waiting requests only when nothing was preempted this step (preempted work goes
  // back to the queue first) and while the caps allow.
  int64_t active = static_cast<int64_t>(end);
  if (!plan.preempted.empty() || !plan.swapped_out.empty()) return plan;
  for (const SequenceState& seq : waiting) {
    if (budget <= 0 || active >= limits.max_num_seqs) break;
    const int64_t remaining = seq.total_tokens - seq.computed_tokens;
    const int64_t take = std::min({remaining, budget, seq.max_chunk});
    if (take <= 0) break;
    const int32_t needed =
        BlocksFor(seq.computed_tokens + take, limits.block_size) - seq.held_blocks;
    if (needed > free_blocks) break;  // first-come order: nobody overtakes a stuck head
    free_blocks -= needed;
    budget -= take;
    ++active;
    plan.admitted.push_back(seq.id);
    plan.chunks.push_back({seq.id, take});
  }
  return plan;
}

}  // namespace strata::scheduler
