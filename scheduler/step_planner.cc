#include "scheduler/step_planner.h"

#include <algorithm>
#include <utility>

namespace strata::scheduler {
namespace {

bool RunsBefore(const SequenceState& a, const SequenceState& b) {
  return a.priority != b.priority ? a.priority < b.priority : a.arrival < b.arrival;
}

int32_t BlocksFor(int64_t tokens, int32_t block_size) {
  return static_cast<int32_t>((tokens + block_size - 1) / block_size);
}

// One step's plan under construction: the resources left and the decisions so far.
class Planner {
 public:
  Planner(const PlannerLimits& limits, std::vector<SequenceState> running)
      : limits_(limits),
        running_(std::move(running)),
        free_blocks_(limits.free_blocks),
        host_free_(limits.host_free_blocks),
        budget_(limits.max_batch_tokens),
        tail_(running_.size()),
        cost_context_(limits.prefill_mode == PrefillMode::kWhole ? 0 : limits.cost_context) {}

  // Decodes, most important first. A decode that cannot get a block preempts the least
  // important running sequence (possibly itself).
  void ScheduleDecodes() {
    for (size_t i = 0; i < tail_; ++i) {
      const SequenceState& seq = running_[i];
      if (seq.total_tokens - seq.computed_tokens != 1 || budget_ <= 0 || seq.max_chunk < 1) {
        continue;
      }
      const int32_t needed = BlocksFor(seq.total_tokens, limits_.block_size) - seq.held_blocks;
      // Preempt until it fits now, or will once the swap-outs already decided have landed.
      while (needed > free_blocks_ && needed > free_blocks_ + landing_ && tail_ > i) PreemptTail();
      if (i >= tail_) break;
      if (needed > free_blocks_) continue;  // waits one step for the swapped-out blocks
      free_blocks_ -= std::max(needed, 0);
      budget_ -= 1;
      plan_.chunks.push_back(Full(seq.id, 1));
    }
  }

  // Running sequences with more than one pending token: as many tokens as the budget, the
  // free blocks and their KV budget allow (chunked), or all of them or nothing (whole; a
  // prompt longer than the whole budget runs in pieces of the whole budget).
  // Appends to `cohort` instead of the plan when one is given (layered).
  void ScheduleContinuingPrefills(bool whole, std::vector<ScheduledChunk>* cohort) {
    for (size_t i = 0; i < tail_ && budget_ > 0; ++i) {
      const SequenceState& seq = running_[i];
      const int64_t remaining = seq.total_tokens - seq.computed_tokens;
      if (remaining <= 1) continue;
      const int64_t room =
          int64_t{seq.held_blocks + static_cast<int32_t>(free_blocks_)} * limits_.block_size -
          seq.computed_tokens;
      const int64_t take = Affordable(seq, std::min({remaining, room, seq.max_chunk}));
      if (take <= 0 || (whole && take < WholeTake(seq, remaining))) {
        continue;
      }
      Take(seq, take);
      (cohort ? cohort->emplace_back() : plan_.chunks.emplace_back()) = Full(seq.id, take);
    }
  }

  // Admits waiting requests in order, only when nothing was preempted this step (preempted
  // work goes back to the queue first) and while the caps allow; first-come order, nobody
  // overtakes a head that does not fit.
  void Admit(const std::vector<SequenceState>& waiting, bool whole,
             std::vector<ScheduledChunk>* cohort) {
    if (!plan_.preempted.empty() || !plan_.swapped_out.empty()) return;
    int64_t active = static_cast<int64_t>(tail_) + in_flight_;
    for (const SequenceState& seq : waiting) {
      if (budget_ <= 0 || active >= limits_.max_num_seqs) break;
      const int64_t remaining = seq.total_tokens - seq.computed_tokens;
      const int64_t take = Affordable(seq, std::min(remaining, seq.max_chunk));
      if (take <= 0 || (whole && take < WholeTake(seq, remaining))) {
        break;
      }
      const int32_t needed =
          BlocksFor(seq.computed_tokens + take, limits_.block_size) - seq.held_blocks;
      if (needed > free_blocks_) break;
      Take(seq, take);
      ++active;
      plan_.admitted.push_back(seq.id);
      (cohort ? cohort->emplace_back() : plan_.chunks.emplace_back()) = Full(seq.id, take);
    }
  }

  // Whole prefill goes first (a prompt is never cut, so it must not wait behind decodes for
  // a budget it can never get) but leaves the decodes the blocks they need.
  void ReserveDecodeBlocks(bool reserve) {
    if (!reserve) {
      free_blocks_ += reserved_;
      reserved_ = 0;
      return;
    }
    for (size_t i = 0; i < tail_; ++i) {
      const SequenceState& seq = running_[i];
      if (seq.total_tokens - seq.computed_tokens != 1) continue;
      reserved_ += std::max(BlocksFor(seq.total_tokens, limits_.block_size) - seq.held_blocks, 0);
    }
    reserved_ = std::min(reserved_, free_blocks_);
    free_blocks_ -= reserved_;
  }

  // The cohort in flight runs its next layer group; its blocks are held already.
  void ContinueCohort(const std::vector<SequenceState>& in_flight) {
    for (const SequenceState& seq : in_flight) {
      const auto [begin, end] =
          LayerGroupRange(seq.cohort_next_group, seq.cohort_groups, limits_.num_layers);
      budget_ -= seq.cohort_tokens;
      plan_.chunks.push_back({seq.id, seq.cohort_tokens, begin, end, seq.cohort_groups});
    }
    in_flight_ = static_cast<int64_t>(in_flight.size());
  }

  // A new cohort starts its first layer group; its size for the group table is its cost.
  void StartCohort(std::vector<ScheduledChunk> cohort, int64_t cost) {
    const int32_t groups = LayerGroupsFor(cost, limits_.num_layers, limits_.layered);
    const auto [begin, end] = LayerGroupRange(0, groups, limits_.num_layers);
    for (ScheduledChunk& c : cohort) {
      c.layer_begin = begin;
      c.layer_end = end;
      c.groups = groups;
      plan_.chunks.push_back(c);
    }
  }

  StepPlan Finish() { return std::move(plan_); }
  int64_t budget() const { return budget_; }
  // Caps what is left of the token budget (sizing a layered cohort).
  void CapBudget(int64_t cap) { budget_ = std::min(budget_, cap); }

 private:
  // What a whole prefill takes at once: everything, unless that exceeds the whole token
  // budget or the sequence's KV budget (then a piece of that size).
  int64_t WholeTake(const SequenceState& seq, int64_t remaining) const {
    return std::min({remaining, int64_t{limits_.max_batch_tokens}, seq.max_chunk});
  }

  ScheduledChunk Full(int64_t id, int64_t tokens) const {
    return {id, tokens, 0, limits_.num_layers, 1};
  }

  // Prompt tokens of `seq` (at most `max_tokens`) whose cost the budget left covers (the
  // token count itself when chunks are not costed, as under whole prefill); at least one
  // while any budget is left, so a prompt whose every token costs more than the whole
  // budget still advances.
  int64_t Affordable(const SequenceState& seq, int64_t max_tokens) const {
    if (budget_ <= 0 || max_tokens <= 0) return 0;
    return std::max<int64_t>(
        PromptTokensWithin(budget_, seq.computed_tokens, max_tokens, cost_context_), 1);
  }

  void Take(const SequenceState& seq, int64_t tokens) {
    free_blocks_ -= std::max(
        BlocksFor(seq.computed_tokens + tokens, limits_.block_size) - seq.held_blocks, 0);
    budget_ -= PromptChunkCost(tokens, seq.computed_tokens, cost_context_);
  }

  void PreemptTail() {
    --tail_;
    const SequenceState& victim = running_[tail_];
    if (limits_.swap && victim.held_blocks <= host_free_) {
      plan_.swapped_out.push_back(victim.id);
      host_free_ -= victim.held_blocks;
      landing_ += victim.freeable_blocks;
    } else {
      plan_.preempted.push_back(victim.id);
      free_blocks_ += victim.freeable_blocks;
    }
  }

  const PlannerLimits& limits_;
  std::vector<SequenceState> running_;  // sorted; running_[tail_..] are preempted
  StepPlan plan_;
  int64_t free_blocks_;
  int64_t host_free_;
  int64_t reserved_ = 0;  // free blocks held back for decodes
  int64_t landing_ = 0;  // device blocks that come free when this step's swap-outs land
  int64_t budget_;
  size_t tail_;
  int64_t in_flight_ = 0;  // cohort members (not in running_)
  const int64_t cost_context_;  // PromptChunkCost's; 0 under whole prefill
};

}  // namespace

int64_t PromptChunkCost(int64_t tokens, int64_t computed, int64_t cost_context) {
  if (cost_context <= 0 || tokens <= 0) return std::max<int64_t>(tokens, 0);
  // Token i (0-based) of the chunk attends over computed + i + 1 tokens (itself included).
  const int64_t attended = tokens * computed + tokens * (tokens + 1) / 2;
  return tokens + (attended + cost_context - 1) / cost_context;
}

int64_t PromptTokensWithin(int64_t budget, int64_t computed, int64_t max_tokens,
                           int64_t cost_context) {
  int64_t lo = 0, hi = std::max<int64_t>(std::min(max_tokens, budget), 0);
  if (cost_context <= 0) return hi;  // a token costs 1
  // The cost grows with the tokens: the largest affordable count by bisection.
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo + 1) / 2;
    if (PromptChunkCost(mid, computed, cost_context) <= budget) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

namespace {
// The most layers one of `groups` groups runs (LayerGroupRange's groups differ by at most one).
int32_t HeaviestGroupLayers(int32_t groups, int32_t num_layers) {
  return (num_layers + groups - 1) / groups;
}
}  // namespace

int32_t LayerGroupsFor(int64_t cohort_tokens, int32_t num_layers, const LayeredOptions& options) {
  int32_t groups = options.max_groups;
  for (const LayerGroupRule& rule : options.table) {
    if (cohort_tokens <= rule.max_tokens) {
      groups = rule.groups;
      break;
    }
  }
  const int32_t layers = std::max(num_layers, 1);
  groups = std::clamp(groups, 1, layers);
  // As few groups as keep the heaviest one's layers (ceil(L / ceil(L / G)), the same
  // formula both ways): 48 layers in 32 groups would alternate 1 and 2 layers, so each
  // iteration may carry 2, and 24 groups of 2 finish sooner.
  return HeaviestGroupLayers(HeaviestGroupLayers(groups, layers), layers);
}

int64_t CohortCostFor(int64_t cost, int32_t max_batch_tokens, int32_t num_layers,
                      const LayeredOptions& options) {
  if (!options.cohort_tiers || cost <= 0) return cost;
  const int64_t heaviest =
      int64_t{max_batch_tokens} *
      HeaviestGroupLayers(LayerGroupsFor(max_batch_tokens, num_layers, options), num_layers);
  int64_t best = cost;
  int32_t best_groups = LayerGroupsFor(cost, num_layers, options);
  // Largest rows first, so that of rows with equal ratios the largest wins.
  for (auto it = options.table.rbegin(); it != options.table.rend(); ++it) {
    const LayerGroupRule& rule = *it;
    if (rule.max_tokens >= cost) continue;
    const int32_t groups = LayerGroupsFor(rule.max_tokens, num_layers, options);
    if (rule.max_tokens * HeaviestGroupLayers(groups, num_layers) > heaviest) continue;
    // rule.max_tokens / groups > 9/8 x best / best_groups, in integers: a clear gain, not
    // a cohort just short of a row's size halved for a rounding's worth.
    if (rule.max_tokens * best_groups * 8 > best * groups * 9) {
      best = rule.max_tokens;
      best_groups = groups;
    }
  }
  return best;
}

std::pair<int32_t, int32_t> LayerGroupRange(int32_t group, int32_t groups, int32_t num_layers) {
  const auto bound = [&](int32_t g) {
    return static_cast<int32_t>(int64_t{g} * num_layers / groups);
  };
  return {bound(group), bound(group + 1)};
}

StepPlan PlanStep(std::vector<SequenceState> running, std::vector<SequenceState> waiting,
                  const PlannerLimits& limits) {
  // Cohort members with layers in flight are neither decodes nor victims.
  std::vector<SequenceState> in_flight;
  std::erase_if(running, [&](const SequenceState& s) {
    if (s.cohort_groups == 0) return false;
    in_flight.push_back(s);
    return true;
  });
  std::sort(running.begin(), running.end(), RunsBefore);
  std::sort(waiting.begin(), waiting.end(), RunsBefore);
  std::sort(in_flight.begin(), in_flight.end(), RunsBefore);
  Planner planner(limits, std::move(running));
  switch (limits.prefill_mode) {
    case PrefillMode::kWhole:
      planner.ReserveDecodeBlocks(true);
      planner.ScheduleContinuingPrefills(/*whole=*/true, nullptr);
      planner.Admit(waiting, /*whole=*/true, nullptr);
      planner.ReserveDecodeBlocks(false);
      planner.ScheduleDecodes();
      break;
    case PrefillMode::kChunked:
      planner.ScheduleDecodes();
      planner.ScheduleContinuingPrefills(/*whole=*/false, nullptr);
      planner.Admit(waiting, /*whole=*/false, nullptr);
      break;
    case PrefillMode::kLayered:
      planner.ScheduleDecodes();
      if (!in_flight.empty()) {
        planner.ContinueCohort(in_flight);
        break;
      }
      if (limits.layered.cohort_tiers) {
        // The cohort the whole budget would make, and the one of the continuing prompts
        // alone, to size the one that starts. A prompt's remaining tokens do not join new
        // prompts in a cohort of more groups than they need alone (its first token would
        // wait for all of them).
        Planner trial = planner;
        std::vector<ScheduledChunk> probe;
        trial.ScheduleContinuingPrefills(/*whole=*/false, &probe);
        const int64_t continuing = planner.budget() - trial.budget();
        trial.Admit(waiting, /*whole=*/false, &probe);
        const int64_t all = planner.budget() - trial.budget();
        const auto groups = [&](int64_t cost) {
          return LayerGroupsFor(cost, limits.num_layers, limits.layered);
        };
        const int64_t cost = continuing > 0 && continuing < all && groups(continuing) < groups(all)
                                 ? continuing
                                 : all;
        planner.CapBudget(
            CohortCostFor(cost, limits.max_batch_tokens, limits.num_layers, limits.layered));
      }
      std::vector<ScheduledChunk> cohort;
      const int64_t budget_before = planner.budget();
      planner.ScheduleContinuingPrefills(/*whole=*/false, &cohort);
      planner.Admit(waiting, /*whole=*/false, &cohort);
      if (!cohort.empty()) planner.StartCohort(std::move(cohort), budget_before - planner.budget());
      break;
  }
  return planner.Finish();
}

}  // namespace strata::scheduler
